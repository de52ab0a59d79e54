"""Tests of embedlab.decision: query metadata, CachedModel, model_table, the decision record.

Synthetic inputs only (a fake model, hand-made results): no real model is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from embedlab.cache import EmbeddingCache
from embedlab.decision import (
    DEFAULT_RULE,
    CachedModel,
    DecisionRecord,
    api_costs,
    decision_record,
    model_table,
    query_metadata,
)
from embedlab.errors import DatasetFormatError, InvalidInputError
from embedlab.openai_backend import PRICES_AS_OF
from embedlab.retrieval import RetrievalScores, evaluate_model

# ----------------------------------------------------------------------------- helpers


class FakeModel:
    """encode_query/encode_document with the sentence-transformers signature; counts calls."""

    def __init__(self, dims: int = 8, sha: str | None = "ab" * 32):
        self.dims = dims
        self.calls: list[tuple[str, int]] = []
        self.prompts = {"query": "q: ", "document": ""}
        self.embedlab_info = {
            "name": "fake-model",
            "source": "test",
            "revision": None,
            "weights_sha256": sha,
        }

    def _vec(self, text: str) -> np.ndarray:
        rng = np.random.default_rng(sum(map(ord, text)))
        return rng.standard_normal(self.dims).astype(np.float32)

    def _encode(self, kind, sentences, normalize_embeddings=False, convert_to_tensor=False, **kw):
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        self.calls.append((kind, len(texts)))
        out = np.stack([self._vec(kind + t) for t in texts])
        if normalize_embeddings:
            out = out / np.linalg.norm(out, axis=1, keepdims=True)
        out = out[0] if single else out
        return torch.from_numpy(out) if convert_to_tensor else out

    def encode_query(self, sentences, **kw):
        return self._encode("query", sentences, **kw)

    def encode_document(self, sentences, **kw):
        return self._encode("document", sentences, **kw)

    def get_embedding_dimension(self) -> int:
        return self.dims


class TinyDataset:
    corpus = {f"d{i}": {"title": f"t{i}", "text": f"document number {i}"} for i in range(6)}
    queries = {"q1": "first question", "q2": "second question"}
    qrels = {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}}
    name = "tiny"

    def doc_texts(self):
        return [f"{d['title']}. {d['text']}" for d in self.corpus.values()]


def _scores(ndcg: float, mrr: float = 0.5) -> RetrievalScores:
    summary = {"P@10": 0.2, "R@10": 0.8, "MRR@10": mrr, "nDCG@10": ndcg, "MAP": 0.6}
    return RetrievalScores(summary, pd.DataFrame([summary], index=["q1"]))


@pytest.fixture
def measured():
    results = {"small": _scores(0.70), "large": _scores(0.80), "static": _scores(0.50)}
    latency = {
        "small": {"p50_ms": 8.0, "p95_ms": 12.0},
        "large": {"p50_ms": 30.0, "p95_ms": 45.0},
        "static": {"p50_ms": 0.2, "p95_ms": 0.4},
    }
    sweeps = {
        name: pd.DataFrame(
            {"texts_per_s": tps, "ms_per_text": [1000 / t for t in tps]},
            index=pd.Index([1, 8, 32], name="batch_size"),
        )
        for name, tps in {
            "small": [50.0, 150.0, 160.0],
            "large": [10.0, 20.0, 22.0],
            "static": [3000.0, 9000.0, 8000.0],
        }.items()
    }
    dims = {"small": 384, "large": 768, "static": 256}
    return results, latency, sweeps, dims


# ----------------------------------------------------------------------------- query_metadata


def test_query_metadata_of_course_set():
    meta = query_metadata()
    assert meta.index.name == "query_id"
    assert meta["type"].value_counts().to_dict() == {
        "paraphrase": 42,
        "hard_negative": 32,
        "keyword": 22,
    }
    assert {"type", "topic"} <= set(meta.columns)
    assert "text" not in meta.columns


def test_query_metadata_of_own_folder(tmp_path: Path):
    lines = [{"_id": 1, "text": "a", "type": "x"}, {"_id": "q2", "text": "b"}]
    (tmp_path / "queries.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n\n")
    meta = query_metadata(tmp_path)
    assert meta.index.tolist() == ["1", "q2"]
    assert meta.loc["q2", "type"] == ""
    assert query_metadata(tmp_path / "queries.jsonl").equals(meta)


def test_query_metadata_errors_name_the_file(tmp_path: Path):
    with pytest.raises(DatasetFormatError, match="no such file"):
        query_metadata(tmp_path)
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1"}\n{not json\n')
    with pytest.raises(DatasetFormatError, match="line 2"):
        query_metadata(tmp_path)


# ----------------------------------------------------------------------------- CachedModel


def test_cached_model_encodes_each_text_once(tmp_path: Path):
    fake = FakeModel()
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        wrapped = CachedModel(fake, cache)
        first = wrapped.encode_query(["a", "b"], normalize_embeddings=True)
        again = wrapped.encode_query(["b", "a", "c"], normalize_embeddings=True)
        assert wrapped.embedded == 3
        np.testing.assert_allclose(again[:2], first[::-1])
        # a new wrapper (e.g. the next notebook run) reads everything back
        second = CachedModel(fake, cache)
        out = second.encode_query(["a", "b", "c"], normalize_embeddings=True)
        assert second.embedded == 0
        np.testing.assert_allclose(out[2], again[2])


def test_cached_model_keys_separate_kind_normalisation_and_weights(tmp_path: Path):
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        wrapped = CachedModel(FakeModel(), cache)
        q = wrapped.encode_query(["same text"], normalize_embeddings=True)
        d = wrapped.encode_document(["same text"], normalize_embeddings=True)
        raw = wrapped.encode_query(["same text"])
        assert wrapped.embedded == 3
        assert not np.allclose(q, d)
        assert not np.isclose(np.linalg.norm(raw), 1.0)
        retrained = CachedModel(FakeModel(sha="cd" * 32), cache)
        retrained.encode_query(["same text"], normalize_embeddings=True)
        assert retrained.embedded == 1  # other weights: never reuse the old vectors


def test_cached_model_return_types_and_passthrough(tmp_path: Path):
    fake = FakeModel()
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        wrapped = CachedModel(fake, cache)
        t = wrapped.encode_document(["x", "y"], convert_to_tensor=True, batch_size=4)
        assert isinstance(t, torch.Tensor) and t.shape == (2, 8)
        single = wrapped.encode_document("x")
        assert single.shape == (8,)
        assert wrapped.get_embedding_dimension() == 8  # other attributes: the model's
        assert wrapped.embedlab_info["name"] == "fake-model"
        calls = len(fake.calls)
        wrapped.encode_document(["x"], prompt_name="query")  # not covered by the key
        assert len(fake.calls) == calls + 1
        assert CachedModel(wrapped, cache).model is fake  # no double wrapping


def test_cached_model_rejects_non_models(tmp_path: Path):
    with pytest.raises(InvalidInputError, match="encode_query"):
        CachedModel(object(), EmbeddingCache(tmp_path / "c.sqlite"))


def test_cached_model_works_with_evaluate_model(tmp_path: Path):
    fake = FakeModel()
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        plain = evaluate_model(fake, TinyDataset(), name="fake")
        cached = evaluate_model(CachedModel(fake, cache), TinyDataset(), name="fake")
        rerun_model = CachedModel(fake, cache)
        rerun = evaluate_model(rerun_model, TinyDataset(), name="fake")
    assert rerun_model.embedded == 0
    for r in (cached, rerun):
        assert r.summary == pytest.approx(plain.summary)


# ----------------------------------------------------------------------------- model_table


def test_model_table_gathers_measurements(measured):
    results, latency, sweeps, dims = measured
    table = model_table(results, latency, sweeps, dims)
    assert list(table.index) == ["small", "large", "static"]
    assert table.loc["large", "nDCG@10"] == 0.80
    assert table.loc["small", "p95_ms"] == 12.0
    assert table.loc["small", "texts_per_s"] == 160.0
    assert table.loc["static", "best_batch"] == 8
    assert table.loc["small", "float32_bytes"] == 1_536_000_000
    assert table.loc["small", "int8_bytes"] == 384_000_000
    assert table.loc["small", "binary_bytes"] == 48_000_000


def test_model_table_accepts_plain_throughput_and_rejects_gaps(measured):
    results, latency, _, dims = measured
    table = model_table(results, latency, {"small": 1.0, "large": 2.0, "static": 3.0}, dims)
    assert table["texts_per_s"].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(InvalidInputError, match="latency has no entry for \\['static'\\]"):
        model_table(results, {k: latency[k] for k in ("small", "large")}, {}, dims)
    with pytest.raises(InvalidInputError, match="p95_ms"):
        model_table(results, {k: {"p50_ms": 1.0} for k in results}, {k: 1.0 for k in results}, dims)


def test_api_costs_use_catalogue_prices():
    table = api_costs(["hello world"] * 10)
    assert "text-embedding-3-small" in table.index
    row = table.loc["text-embedding-3-small"]
    assert row["usd_per_1M_tokens"] == 0.02 and row["price_date"] == PRICES_AS_OF
    assert row["corpus_usd"] == pytest.approx(row["corpus_tokens"] * 0.02 / 1e6)


# ----------------------------------------------------------------------------- decision_record


def test_record_fields_and_markdown(measured, tmp_path: Path):
    results, latency, sweeps, dims = measured
    table = model_table(results, latency, sweeps, dims)
    models = {"small": FakeModel(), "large": FakeModel(sha="ef" * 32)}
    record = decision_record(
        table,
        "small",
        budget_ms=20,
        models=models,
        dataset=TinyDataset(),
        significance="difference 0.100, not significant.",
        notes=("Measured on a laptop.",),
        device="cpu (test)",
    )
    assert isinstance(record, DecisionRecord)
    assert record.chosen == "small" and record.budget_ms == 20.0
    assert record.rule == DEFAULT_RULE.format(metric="nDCG@10")
    assert record.prices_as_of == PRICES_AS_OF
    assert record.provenance["small"]["weights_sha256"] == "ab" * 32
    assert record.dataset == "tiny (6 documents, 2 queries)"
    md = record.markdown
    for needed in (
        "**Chosen model: `small`**",
        "weights sha256 `abababababab`",
        "p95 <= 20 ms",
        "0.800",
        "0.700",
        "12.0",
        "160 (batch 32)",
        "1.536 GB",
        "48 MB",
        PRICES_AS_OF,
        "text-embedding-3-small",
        "not significant",
        "Measured on a laptop.",
        "embedlab ",
    ):
        assert needed in md, needed
    assert "`large` | 0.800" in md and "| no |" in md  # large is over the budget
    path = record.save(tmp_path / "out" / "decision_record.md")
    assert path.read_text(encoding="utf-8") == md
    assert record._repr_markdown_() == md


def test_record_without_a_fitting_model(measured):
    table = model_table(*measured)
    record = decision_record(table, None, budget_ms=0.1, rule="fastest good model")
    assert "No model meets the budget" in record.markdown
    assert "Rule: fastest good model." in record.markdown


def test_record_rejects_bad_inputs(measured):
    table = model_table(*measured)
    with pytest.raises(InvalidInputError, match="positive"):
        decision_record(table, "small", budget_ms=0)
    with pytest.raises(InvalidInputError, match="finite number"):
        decision_record(table, "small", budget_ms=None)
    with pytest.raises(InvalidInputError, match="not a model of the table"):
        decision_record(table, "huge", budget_ms=10)
    with pytest.raises(InvalidInputError, match="metric 'Recall'"):
        decision_record(table, "small", budget_ms=10, metric="Recall")
    with pytest.raises(InvalidInputError, match="model_table"):
        decision_record(table.drop(columns=["p95_ms"]), "small", budget_ms=10)
    with pytest.raises(InvalidInputError, match="rule"):
        decision_record(table, "small", budget_ms=10, rule="  ")
