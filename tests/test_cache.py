"""The embedding cache: one key for every cached path, files it must refuse and leave alone,
durability when a writer is killed, and the incremental index."""

from __future__ import annotations

import copy
import hashlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import embedlab
from embedlab.cache import (
    EmbeddingCache,
    IncrementalIndex,
    UpdateReport,
    cached_encode,
    default_cache,
    spec_key,
    text_key,
)
from embedlab.data import BeirDataset
from embedlab.errors import CacheError, InvalidInputError


class FakeModel:
    """What the cache reads of a model (name, weights, prompts), with counted, deterministic
    encodes: each text's vector comes from its sha256, so equal texts give equal vectors."""

    def __init__(self, name="toy", weights="w1", prompts=None, dims=8, dtype=None):
        self.embedlab_info = {"name": name, "weights_sha256": weights}
        self.prompts = prompts if prompts is not None else {"query": "", "document": ""}
        self.dims, self.calls = dims, []
        if dtype is not None:  # a torch-like model: its first parameter's dtype is keyed
            self.parameters = lambda: iter([SimpleNamespace(dtype=dtype)])

    def vectors(self, texts):
        rows = [
            np.frombuffer(hashlib.sha256(t.encode()).digest()[: self.dims], np.uint8) for t in texts
        ]
        x = np.stack(rows).astype(np.float32) + 1
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def encode_document(self, texts, **kw):
        self.calls.append(list(texts))
        return self.vectors(texts)

    encode_query = encode = encode_document

    @property
    def encoded(self) -> list[str]:
        return [t for call in self.calls for t in call]


@pytest.fixture
def cache(tmp_path: Path):
    with EmbeddingCache(tmp_path / "cache.sqlite") as c:
        yield c


# --------------------------------------------------------------------------- the key


BASE = dict(kind="document", normalize=True, truncate_dim=None)
VARIANTS = {
    "model name": (FakeModel(name="other"), BASE),
    "weights": (FakeModel(weights="w2"), BASE),
    "compute dtype": (FakeModel(dtype="torch.float16"), BASE),
    "kind": (FakeModel(), {**BASE, "kind": "query"}),
    "no kind (encode)": (FakeModel(), {**BASE, "kind": None}),
    "the kind's prompt": (FakeModel(prompts={"document": "passage: "}), BASE),
    "normalize": (FakeModel(), {**BASE, "normalize": False}),
    "truncate_dim": (FakeModel(), {**BASE, "truncate_dim": 128}),
}


def test_the_key_is_deterministic():
    assert spec_key(FakeModel(), **BASE) == spec_key(FakeModel(), **BASE)
    assert len(spec_key(FakeModel(), **BASE)) == 64
    spec = spec_key(FakeModel(), **BASE)
    assert text_key(spec, "hello") != text_key(spec, "hello ")
    assert text_key(spec, "a") == hashlib.sha256(f"{spec}\x00a".encode()).hexdigest()


@pytest.mark.parametrize("part", sorted(VARIANTS))
def test_the_key_changes_with_everything_that_decides_the_vector(part):
    model, settings = VARIANTS[part]
    assert spec_key(model, **settings) != spec_key(FakeModel(), **BASE)


def test_the_prompt_of_another_kind_does_not_change_the_key():
    model = FakeModel(prompts={"query": "query: ", "document": ""})
    assert spec_key(model, **BASE) == spec_key(FakeModel(), **BASE)


@pytest.mark.parametrize("part", sorted(VARIANTS))
def test_a_changed_setting_is_a_miss_never_a_stale_vector(cache, part):
    model, settings = VARIANTS[part]
    first = FakeModel()
    cached_encode(first, ["t"], cache=cache, encode=lambda b: np.zeros((len(b), 4)), **BASE)
    out = cached_encode(
        model, ["t"], cache=cache, encode=lambda b: np.ones((len(b), 4)), **settings
    )
    np.testing.assert_array_equal(out, np.ones((1, 4)))
    assert cache.stats() == {"hits": 0, "misses": 2, "entries": 2}


def test_the_key_includes_the_real_compute_dtype(minilm):
    half = copy.deepcopy(minilm).half()  # same weights file, other numbers
    assert (
        embedlab.model_info(half)["weights_sha256"] == embedlab.model_info(minilm)["weights_sha256"]
    )
    assert spec_key(half) != spec_key(minilm)


def test_the_model_without_its_normalize_layer_has_its_own_key(minilm):
    from embedlab.embeddings import without_normalize

    raw = without_normalize(minilm)
    assert spec_key(raw, normalize=False) != spec_key(minilm, normalize=False)
    with EmbeddingCache(":memory:") as cache:
        a = embedlab.embed(raw, ["hello world"], normalize=False, cache=cache)
        b = embedlab.embed(minilm, ["hello world"], normalize=False, cache=cache)
        assert cache.stats()["hits"] == 0
    assert np.linalg.norm(a) > 2 and np.linalg.norm(b) == pytest.approx(1, abs=1e-5)


def test_an_api_model_is_keyed_by_its_cache_identity(monkeypatch):
    from embedlab.openai_api import OpenAIEmbedder

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing is sent
    small, short = OpenAIEmbedder(), OpenAIEmbedder(dimensions=256)
    assert small.cache_identity == "openai:text-embedding-3-small:1536"
    assert spec_key(small) != spec_key(short)
    assert "sk-test" not in small.cache_identity


# --------------------------------------------------------------------------- one key scheme


def _small_course_set(n_docs: int = 6) -> BeirDataset:
    """The first query of the course set and a handful of documents, its relevant ones first."""
    ds = embedlab.load_course_retrieval()
    qid = ds.query_ids[0]
    relevant = [d for d, g in ds.qrels[qid].items() if g >= 1]
    others = [d for d in ds.doc_ids if d not in relevant][: n_docs - len(relevant)]
    return BeirDataset(
        {d: ds.corpus[d] for d in relevant + others},
        {qid: ds.queries[qid]},
        {qid: ds.qrels[qid]},
        name="small",
    )


def _count_encodes(model, monkeypatch) -> dict[str, int]:
    counts = {"encode_query": 0, "encode_document": 0}
    for method in counts:
        real = getattr(model, method)

        def counting(texts, *args, _real=real, _method=method, **kw):
            counts[_method] += len(texts)
            return _real(texts, *args, **kw)

        monkeypatch.setattr(model, method, counting)
    return counts


def test_lab1_vectors_are_cache_hits_for_lab2(minilm, tmp_path, monkeypatch):
    """embed(kind="document", cache=...) in Lab 1 and evaluate_model in Lab 2 share keys."""
    ds = _small_course_set()
    docs = ds.doc_texts()
    cache = EmbeddingCache(tmp_path / "shared.sqlite")
    lab1 = embedlab.embed(minilm, docs, kind="document", cache=cache)
    assert cache.stats() == {"hits": 0, "misses": len(docs), "entries": len(docs)}

    counts = _count_encodes(minilm, monkeypatch)
    lab2 = embedlab.evaluate_model(minilm, ds, cache=cache)
    assert counts == {"encode_query": 1, "encode_document": 0}  # only the query is new
    assert cache.stats() == {"hits": len(docs), "misses": len(docs) + 1, "entries": len(docs) + 1}
    np.testing.assert_array_equal(lab2.doc_embeddings, lab1)

    again = cached_encode(minilm, docs, kind="document", cache=cache)  # Lab 2's own helper
    np.testing.assert_array_equal(again, lab1)
    assert cache.stats()["hits"] == 2 * len(docs)
    assert counts["encode_document"] == 0


def test_lab2_vectors_are_cache_hits_for_lab1_and_the_index(minilm, tmp_path, monkeypatch):
    ds = _small_course_set()
    cache = EmbeddingCache(tmp_path / "shared.sqlite")
    lab2 = embedlab.evaluate_model(minilm, ds, cache=cache)
    counts = _count_encodes(minilm, monkeypatch)
    lab1 = embedlab.embed(minilm, ds.doc_texts(), cache=cache)
    q = embedlab.embed(minilm, ds.query_texts(), kind="query", cache=cache)
    report = IncrementalIndex(minilm, cache=cache).update(
        dict(zip(ds.doc_ids, ds.doc_texts(), strict=True))
    )
    assert counts == {"encode_query": 0, "encode_document": 0}
    assert report.added == len(ds.doc_ids) and report.embedded == 0
    np.testing.assert_array_equal(lab1, lab2.doc_embeddings)
    np.testing.assert_array_equal(q, lab2.query_embeddings)


def test_default_cache_is_one_object_per_file(private_cache_dir, monkeypatch, tmp_path):
    c = default_cache()
    assert default_cache() is c
    assert c.path == private_cache_dir / "embeddings.sqlite" and c.path.is_file()
    model = FakeModel()
    embedlab.embed(model, ["a", "b"], cache=True)  # cache=True is the default cache
    cached_encode(model, ["a"])  # and so is cached_encode's default
    assert c.stats() == {"hits": 1, "misses": 2, "entries": 2}
    monkeypatch.setenv("EMBEDLAB_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache() is not c
    assert default_cache().path == tmp_path / "elsewhere" / "embeddings.sqlite"


def test_cached_encode_encodes_each_missing_text_once_in_order(cache):
    model = FakeModel()
    cached_encode(model, ["b"], cache=cache)
    texts = ["a", "b", "c", "a", "d", "c"]
    out = cached_encode(model, texts, cache=cache)
    assert model.calls == [["b"], ["a", "c", "d"]]
    np.testing.assert_array_equal(out, model.vectors(texts))
    assert out.dtype == np.float32 and out.shape == (6, 8)
    cached_encode(model, texts, cache=cache)
    assert len(model.calls) == 2  # warm: nothing encoded
    assert cached_encode(model, "a", cache=cache).shape == (1, 8)


def test_cached_encode_default_encoder_passes_the_settings(cache):
    seen = []

    class Model(FakeModel):
        def encode_query(self, texts, **kw):
            seen.append(kw)
            return self.vectors(texts)

    cached_encode(Model(), ["x"], kind="query", normalize=False, truncate_dim=4, cache=cache)
    assert seen == [{"normalize_embeddings": False, "truncate_dim": 4, "convert_to_numpy": True}]


def test_cached_encode_refuses_bad_arguments(cache):
    with pytest.raises(CacheError, match="cache must be an EmbeddingCache or True, got str"):
        cached_encode(FakeModel(), ["x"], cache="yes")
    with pytest.raises(InvalidInputError, match=r"texts\[1\] is empty"):
        cached_encode(FakeModel(), ["ok", ""], cache=cache)
    assert cache.stats()["entries"] == 0


# --------------------------------------------------------------------------- the file


def test_vectors_round_trip_exactly_and_survive_reopening(tmp_path):
    path = tmp_path / "c.sqlite"
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, 5)).astype(np.float32)
    with EmbeddingCache(path) as c:
        c.put_many(["a", "b", "c"], vectors, "toy")
        assert c._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with EmbeddingCache(path) as c:
        got = c.get_many(["c", "zz", "a", "b"])
        assert set(got) == {"a", "b", "c"}
        for i, key in enumerate("abc"):
            np.testing.assert_array_equal(got[key], vectors[i])
        assert c.stats() == {"hits": 3, "misses": 1, "entries": 3}


def test_many_keys_are_read_in_chunks(cache):
    keys = [f"k{i}" for i in range(2000)]  # more than SQLite's variables per statement
    cache.put_many(keys, np.ones((2000, 2), np.float32), "toy")
    assert len(cache.get_many(keys)) == 2000


def test_clear_one_model_or_everything_and_repr(cache):
    cache.put_many(["a", "b"], np.ones((2, 2)), "model-a")
    cache.put_many(["c"], np.ones((1, 2)), "model-b")
    assert cache.clear("model-a") == 2
    assert cache.stats()["entries"] == 1
    assert "entries=1" in repr(cache) and str(cache.path) in repr(cache)
    assert cache.clear() == 1


def test_a_folder_gets_the_default_file_name(tmp_path):
    with EmbeddingCache(tmp_path) as c:
        assert c.path == tmp_path / "embeddings.sqlite"


def test_memory_cache_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with EmbeddingCache(":memory:") as c:
        cached_encode(FakeModel(), ["a", "b"], cache=c)
        assert c.stats()["entries"] == 2
        assert "':memory:'" in repr(c)
    assert list(tmp_path.iterdir()) == []


def _assert_refused_and_untouched(path: Path, why: str) -> None:
    before = path.read_bytes()
    with pytest.raises(CacheError) as err:
        EmbeddingCache(path)
    message = str(err.value)
    assert str(path) in message and why in message
    assert "It was left untouched. Delete it if you do not need it" in message
    assert path.read_bytes() == before  # never deleted, truncated nor overwritten
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no -wal, no -shm


def test_a_file_of_random_bytes_is_refused(tmp_path):
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(np.random.default_rng(1).bytes(10_000))
    _assert_refused_and_untouched(path, "not a SQLite database (wrong header)")


def test_a_corrupt_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + np.random.default_rng(2).bytes(8192))
    _assert_refused_and_untouched(path, "corrupt or not a database")


def test_another_programs_database_is_refused(tmp_path):
    path = tmp_path / "notes.sqlite"
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('precious')")
    db.close()
    _assert_refused_and_untouched(path, "a SQLite database of another program (tables: ['notes'])")
    db = sqlite3.connect(path)
    assert db.execute("SELECT body FROM notes").fetchall() == [("precious",)]
    db.close()


def test_an_empty_file_becomes_a_cache(tmp_path):
    path = tmp_path / "new.sqlite"
    path.touch()
    with EmbeddingCache(path) as c:
        assert c.stats()["entries"] == 0


# --------------------------------------------------------------------------- durability

WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from embedlab.cache import EmbeddingCache

    cache = EmbeddingCache(sys.argv[1])
    for b in range(100_000):
        keys = [f"b{b}-t{j}" for j in range(200)]
        vectors = np.random.default_rng(b).standard_normal((200, 64)).astype(np.float32)
        cache.put_many(keys, vectors, "toy")  # one transaction
        print(b, flush=True)  # printed only once committed
    """
)


def test_a_writer_killed_mid_write_leaves_a_valid_file_with_whole_batches(tmp_path):
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    committed = -1
    try:
        deadline = time.monotonic() + 60
        while committed < 10 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert committed >= 10, proc.stderr.read()

    with EmbeddingCache(path) as c:
        assert c._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        entries = c.stats()["entries"]
        assert entries % 200 == 0  # whole batches only, never part of one
        assert entries >= (committed + 1) * 200
        for b in range(committed + 1):
            got = c.get_many([f"b{b}-t{j}" for j in range(200)])
            expected = np.random.default_rng(b).standard_normal((200, 64)).astype(np.float32)
            np.testing.assert_array_equal(
                np.stack([got[f"b{b}-t{j}"] for j in range(200)]), expected
            )


def test_readers_see_whole_batches_while_another_connection_writes(tmp_path):
    path = tmp_path / "shared.sqlite"
    EmbeddingCache(path).close()
    written: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            with EmbeddingCache(path) as c:
                for b in range(30):
                    c.put_many([f"w{b}-{j}" for j in range(20)], np.full((20, 8), b), "toy")
                    written.append(b)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        try:
            with EmbeddingCache(path) as c:
                while not done.is_set():
                    for b in list(written):
                        got = c.get_many([f"w{b}-{j}" for j in range(20)])
                        assert len(got) == 20 and all((v == b).all() for v in got.values())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)] + [
        threading.Thread(target=writer)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert written == list(range(30))


# --------------------------------------------------------------------------- incremental index


def make_corpus(n: int = 50) -> dict[str, str]:
    topics = ["cats", "the stock market", "baking bread", "football", "volcanoes"]
    return {f"doc{i:02d}": f"Note {i} is about {topics[i % 5]}, part {i // 5}." for i in range(n)}


def test_the_index_embeds_only_what_changed(cache):
    model, corpus = FakeModel(), make_corpus()
    index = IncrementalIndex(model, cache=cache)
    first = index.update(corpus)
    assert first == UpdateReport(added=50, changed=0, removed=0, unchanged=0, embedded=50)

    new = dict(corpus)
    for doc_id in ("doc03", "doc17", "doc42"):
        new[doc_id] = corpus[doc_id] + " Edited."
    del new["doc09"]
    new["new1"] = "A brand new note about sailing."
    new["new2"] = "Another new note, about chess openings."
    report = index.update(new)
    assert report == UpdateReport(added=2, changed=3, removed=1, unchanged=46, embedded=5)
    assert str(report) == "added 2, changed 3, removed 1, unchanged 46 -> embedded 5 texts"
    assert sorted(model.calls[1]) == sorted(
        new[d] for d in ("doc03", "doc17", "doc42", "new1", "new2")
    )
    assert index.ids == list(new) and len(index) == len(new)
    np.testing.assert_array_equal(index.matrix, model.vectors(list(new.values())))

    assert index.update(new) == UpdateReport(0, 0, 0, len(new), 0)
    assert len(model.calls) == 2


def test_embedded_counts_the_texts_actually_encoded(cache):
    model = FakeModel()
    cached_encode(model, ["already cached"], cache=cache)  # e.g. embedded in another lab
    index = IncrementalIndex(model, cache=cache)
    report = index.update({"a": "already cached", "b": "same text", "c": "same text", "d": "new"})
    assert (report.added, report.embedded) == (4, 2)  # "same text" once, "new" once
    assert model.encoded == ["already cached", "same text", "new"]
    report = index.update({"a": "already cached", "b": "same text", "c": "same text", "d": "newer"})
    assert (report.changed, report.embedded) == (1, 1)
    report = index.update({"a": "already cached", "b": "same text", "c": "same text", "d": "new"})
    assert (report.changed, report.embedded) == (1, 0)  # back to a cached version
    np.testing.assert_array_equal(index.matrix[3], model.vectors(["new"])[0])


def test_a_fresh_index_on_the_same_cache_embeds_nothing(tmp_path):
    model, corpus = FakeModel(), make_corpus(10)
    with EmbeddingCache(tmp_path / "index.sqlite") as c:
        IncrementalIndex(model, cache=c).update(corpus)
    with EmbeddingCache(tmp_path / "index.sqlite") as c:
        report = IncrementalIndex(model, cache=c).update(corpus)
    assert (report.added, report.embedded) == (10, 0)


def test_the_index_refuses_a_bad_corpus(cache):
    index = IncrementalIndex(FakeModel(), cache=cache)
    with pytest.raises(
        InvalidInputError, match=r"corpus must be a dict \{doc_id: text\}, got list"
    ):
        index.update(["a", "b"])
    with pytest.raises(InvalidInputError, match=r"corpus texts\[1\] is None"):
        index.update({"a": "fine", "b": None})
    with pytest.raises(InvalidInputError, match=r"corpus texts\[0\] is empty"):
        index.update({"a": "  "})
    assert len(index) == 0


def test_the_index_with_the_real_model_equals_encode_document(minilm, tmp_path):
    corpus = make_corpus(6)
    with EmbeddingCache(tmp_path / "c.sqlite") as c:
        index = IncrementalIndex(minilm, cache=c)
        index.update(corpus)
    direct = minilm.encode_document(list(corpus.values()), normalize_embeddings=True)
    np.testing.assert_allclose(index.matrix, direct, atol=1e-6)
