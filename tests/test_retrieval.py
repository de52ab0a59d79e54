"""Retrieval: the one top-k (trec_eval's tie order), search against NumPy, metrics against
pytrec_eval and a plain-Python reference, the cross-check with sentence-transformers'
InformationRetrievalEvaluator, and the paired significance tests against scipy.

Where sentence-transformers' ``InformationRetrievalEvaluator`` and ``trec_eval`` (which
``evaluate_run`` uses) differ, by design, and what the tests below pin down:

* ties: the evaluator ranks equal scores by corpus id *ascending*; trec_eval (and so
  ``top_k``, ``search`` and ``evaluate_run``) by doc id *descending*. Same run, other numbers
  when ties touch a relevant document; identical numbers without ties.
* nDCG@10: the evaluator's is binary (every relevant document gains 1, the ideal ranking is
  that many ones); trec_eval's is graded (the grade is the gain, the ideal sorts the grades).
* MAP@k: the evaluator divides by ``min(k, number relevant)`` over the top k; trec_eval's
  ``map`` divides by the number relevant over the whole run. Equal when k covers the run and
  every query has at most k relevant documents (the course set: at most 5, run depth 100).
* MRR@10: both are cut at 10 (trec_eval's own ``recip_rank`` is not: ``evaluate_run`` cuts it).
* P@k, R@k, Accuracy@k (= trec_eval's success@k): the same definitions.
"""

from __future__ import annotations

import itertools
from math import log2
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import pytrec_eval
import torch
from scipy import stats

from embedlab.cache import EmbeddingCache
from embedlab.embeddings import Embeddings
from embedlab.errors import IncompatibleEmbeddingsError, InvalidInputError
from embedlab.retrieval import (
    RetrievalScores,
    evaluate_model,
    evaluate_run,
    paired_bootstrap,
    paired_permutation_test,
    precision_recall_curve,
    search,
    top_k,
)

KS = (1, 3, 5, 10)
COLUMNS = [*(f"P@{k}" for k in KS), *(f"R@{k}" for k in KS), "MRR@10", "nDCG@10", "MAP"]


# --------------------------------------------------------------------------- references


def trec_order(docs: dict[str, float]) -> list[str]:
    """trec_eval's ranking: score descending, then doc id descending."""
    return sorted(docs, key=lambda d: (docs[d], d), reverse=True)


def reference_metrics(run: dict, qrels: dict, ks=KS) -> pd.DataFrame:
    """The metrics of ``evaluate_run``, written out from their definitions."""
    rows = {}
    for q, judged in qrels.items():
        relevant = {d for d, g in judged.items() if g >= 1}
        if not relevant:
            continue  # not scored
        ranking = trec_order(run.get(q, {}))
        row = {}
        for k in ks:
            hits = sum(d in relevant for d in ranking[:k])
            row[f"P@{k}"], row[f"R@{k}"] = hits / k, hits / len(relevant)
        first = next((i for i, d in enumerate(ranking[:10]) if d in relevant), None)
        row["MRR@10"] = 0.0 if first is None else 1 / (first + 1)
        dcg = sum(max(judged.get(d, 0), 0) / log2(i + 2) for i, d in enumerate(ranking[:10]))
        ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
        row["nDCG@10"] = dcg / sum(g / log2(i + 2) for i, g in enumerate(ideal))
        hits, total = 0, 0.0
        for i, d in enumerate(ranking):
            if d in relevant:
                hits += 1
                total += hits / (i + 1)
        row["MAP"] = total / len(relevant)
        rows[q] = row
    return pd.DataFrame.from_dict(rows, orient="index")[
        [*(f"P@{k}" for k in ks), *(f"R@{k}" for k in ks), "MRR@10", "nDCG@10", "MAP"]
    ]


def trec(run: dict, qrels: dict, measures: set[str]) -> dict:
    """pytrec_eval, called directly."""
    return pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level=1).evaluate(run)


def evaluator(queries, corpus, qrels, ks=KS, map_k=100):
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )

    relevant = {q: {d for d, g in j.items() if g >= 1} for q, j in qrels.items()}
    return InformationRetrievalEvaluator(
        queries=queries,
        corpus=corpus,
        relevant_docs={q: r for q, r in relevant.items() if r},
        accuracy_at_k=list(ks),
        precision_recall_at_k=list(ks),
        mrr_at_k=[10],
        ndcg_at_k=[10],
        map_at_k=[map_k],
        write_csv=False,
    )


def flatten(m: dict, ks=KS) -> dict[str, float]:
    out = {f"P@{k}": m["precision@k"][k] for k in ks} | {f"R@{k}": m["recall@k"][k] for k in ks}
    out |= {f"Accuracy@{k}": m["accuracy@k"][k] for k in ks}
    out |= {"MRR@10": m["mrr@k"][10], "nDCG@10 (binary)": m["ndcg@k"][10]}
    return out | {f"MAP@{k}": v for k, v in m["map@k"].items()}


def evaluator_metrics_of_run(run: dict, qrels: dict, ks=KS, map_k=100) -> dict[str, float]:
    """The evaluator's metrics for a ready-made run (its own ranking and formulas)."""
    docs = sorted({d for r in run.values() for d in r} | {d for j in qrels.values() for d in j})
    ev = evaluator({q: q for q in qrels}, {d: d for d in docs}, qrels, ks, map_k)
    hits = [
        [{"corpus_id": d, "score": s} for d, s in run.get(q, {}).items()] for q in ev.queries_ids
    ]
    return flatten(ev.compute_metrics(hits), ks)


# --------------------------------------------------------------------------- fixtures

# Scores full of ties, graded qrels.
TIE_RUN = {
    # all 12 docs tied: trec order d11, d10, ..., d00 -> the relevant d00 is ranked 12th
    "q1": {f"d{i:02d}": 0.5 for i in range(12)},
    # a tie straddling rank 10: 8 docs at 0.9, then 4 tied at 0.4 (ranks 9-12)
    "q2": {f"d{i:02d}": 0.9 for i in range(8)} | {f"e{i}": 0.4 for i in range(4)},
    # ties at the top between a relevant and a non-relevant doc
    "q3": {"a": 0.7, "b": 0.7, "c": 0.7, "z": 0.2},
}
TIE_QRELS = {
    "q1": {"d00": 2, "d11": 0},
    "q2": {"e0": 2, "e3": 1, "d03": 1},
    "q3": {"a": 1, "c": 2, "zz": 1},  # zz never retrieved: it still counts for recall
}
# by hand, trec order: q1's relevant doc is 12th -> 0; q2 d07..d00 then e3: d03 is 5th -> 1/5;
# q3 c, b, a: c is relevant -> 1
TIE_MRR10 = {"q1": 0.0, "q2": 1 / 5, "q3": 1.0}


def random_run(seed=0, n_queries=12, n_docs=40, depth=25, ties=False):
    """Random runs and graded qrels; one query has no relevant document (not scored)."""
    rng = np.random.default_rng(seed)
    run, qrels = {}, {}
    for i in range(n_queries):
        docs = rng.choice(n_docs, size=depth, replace=False)
        scores = rng.integers(0, 5, depth) / 4 if ties else rng.permutation(depth) / depth
        run[f"q{i}"] = {f"doc{d:02d}": float(s) for d, s in zip(docs, scores, strict=True)}
        judged = rng.choice(n_docs, size=8, replace=False)
        grades = rng.integers(0, 3, size=8)
        grades[0] = max(1, grades[0])
        qrels[f"q{i}"] = {f"doc{d:02d}": int(g) for d, g in zip(judged, grades, strict=True)}
    qrels["q_nonrel"], run["q_nonrel"] = {"doc01": 0}, {"doc01": 0.3}
    return run, qrels


# --------------------------------------------------------------------------- top_k


def test_trec_eval_orders_ties_by_doc_id_descending():
    """The reference order is trec_eval's: with one relevant document at reference rank r,
    pytrec_eval's reciprocal rank is 1/r, for every r of a run full of ties."""
    rng = np.random.default_rng(3)
    ids = [f"d{i}" for i in rng.permutation(30)] + ["D1", "a", "b10", "b9"]
    docs = {d: float(rng.integers(0, 4)) for d in ids}
    for r, doc in enumerate(trec_order(docs), start=1):
        assert trec({"q": docs}, {"q": {doc: 1}}, {"recip_rank"})["q"]["recip_rank"] == 1 / r


def test_top_k_equals_trec_order_for_every_k():
    rng = np.random.default_rng(0)
    ids = [f"doc{i}" for i in rng.permutation(40)]
    scores = rng.integers(0, 4, size=(5, 40)) / 4  # many ties, at every k-th place
    for row in scores:
        reference = [ids.index(d) for d in trec_order(dict(zip(ids, row, strict=True)))]
        for k in range(1, 41):
            assert top_k(row, ids, k)[0].tolist() == reference[:k]
    assert top_k(scores, ids, 7).shape == (5, 7)


def test_top_k_breaks_a_tie_at_the_kth_place_by_doc_id_descending():
    scores = [[0.9, 0.5, 0.5, 0.5, 0.1]]
    ids = ["a", "b", "c", "d", "e"]
    assert top_k(scores, ids, 2).tolist() == [[0, 3]]  # a, then d of the tied b, c, d
    assert top_k(scores, ids, 3).tolist() == [[0, 3, 2]]
    assert top_k(scores, ids, 99).tolist() == [[0, 3, 2, 1, 4]]  # k above n: everything


def test_top_k_errors():
    with pytest.raises(InvalidInputError, match="got 2 ids for 3 columns"):
        top_k([[1, 2, 3]], ["a", "b"], 1)
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        top_k([[1, 2, 3]], ["a", "b", "c"], 0)


# --------------------------------------------------------------------------- search


def test_search_equals_a_numpy_reference():
    rng = np.random.default_rng(1)
    q, d = rng.standard_normal((6, 16)) * 3, rng.standard_normal((50, 16))
    qids, dids = [f"q{i}" for i in range(6)], [f"d{i:02d}" for i in range(50)]
    run = search(q, d, qids, dids, k=10)
    cos = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (
        d / np.linalg.norm(d, axis=1, keepdims=True)
    ).T
    for i, qid in enumerate(qids):
        order = np.argsort(-cos[i])[:10]
        assert list(run[qid]) == [dids[j] for j in order]
        np.testing.assert_allclose(list(run[qid].values()), cos[i, order], atol=1e-6)
    assert list(search(q, d, qids, dids)) == qids and all(
        len(r) == 50 for r in search(q, d, qids, dids).values()
    )


def test_search_breaks_ties_like_trec_eval():
    d = np.array([[1.0, 0.0]] * 6 + [[1.0, 0.1]])  # six identical documents, one better
    ids = ["d3", "d1", "d5", "d0", "d4", "d2", "best"]
    q = np.array([[1.0, 0.2]])
    run = search(q, d, ["q"], ids, k=3)
    assert list(run["q"]) == ["best", "d5", "d4"]
    # the truncated run scores exactly like trec_eval on the full ranking, up to depth 3
    full = search(q, d, ["q"], ids, k=len(ids))
    qrels = {"q": {"d5": 1, "d0": 2, "d1": 1}}
    ours = evaluate_run(run, qrels, ks=(1, 2, 3)).per_query.loc["q"]
    ref = trec(full, qrels, {"P.1,2,3", "recall.1,2,3"})["q"]
    for k in (1, 2, 3):
        assert ours[f"P@{k}"] == ref[f"P_{k}"] and ours[f"R@{k}"] == ref[f"recall_{k}"]
    assert ours["P@2"] == 0.5  # d5 (relevant) made it in, d0 did not


def test_search_accepts_tagged_embeddings_of_one_model():
    q = Embeddings(np.eye(2, 3), model="m", kind="query")
    d = Embeddings(np.eye(3), model="m", kind="document")
    assert list(search(q, d, ["a", "b"], ["x", "y", "z"], k=1)["b"]) == ["y"]


@pytest.mark.parametrize(
    "change, error, says",
    [
        ({"d": np.ones((4, 5))}, IncompatibleEmbeddingsError, "dimension mismatch: 3 vs 5"),
        (
            {"d": Embeddings(np.ones((4, 3)), model="other")},
            IncompatibleEmbeddingsError,
            "two different models",
        ),
        ({"qids": ["a"]}, InvalidInputError, "query_ids has 1 ids for 2 vectors"),
        ({"dids": list("wxyw")}, InvalidInputError, "doc_ids contains duplicate ids"),
        ({"k": 0}, InvalidInputError, "k must be a positive integer"),
        ({"q": np.full((2, 3), np.nan)}, InvalidInputError, "NaN or infinite values (row 0)"),
        ({"q": None}, InvalidInputError, "query_embeddings is None"),
    ],
)
def test_search_input_errors(change, error, says):
    args = {
        "q": Embeddings(np.ones((2, 3)), model="m"),
        "d": np.ones((4, 3)),
        "qids": ["a", "b"],
        "dids": list("wxyz"),
        "k": 2,
    } | change
    with pytest.raises(error) as err:
        search(args["q"], args["d"], args["qids"], args["dids"], k=args["k"])
    assert says in str(err.value)


# --------------------------------------------------------------------------- evaluate_run


def test_evaluate_run_by_hand():
    run = {"q1": {"a": 0.9, "b": 0.8, "c": 0.1}, "q2": {"x": 0.5, "y": 0.4}}
    qrels = {"q1": {"b": 2, "c": 1, "a": 0}, "q2": {"x": 1}}
    s = evaluate_run(run, qrels, ks=(1, 3))
    q1 = s.per_query.loc["q1"]
    assert q1["P@1"] == 0 and q1["P@3"] == pytest.approx(2 / 3)
    assert q1["R@3"] == 1 and q1["MRR@10"] == 0.5
    assert q1["MAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # graded gains: DCG = 2/log2(3) + 1/log2(4), ideal = 2 + 1/log2(3)
    assert q1["nDCG@10"] == pytest.approx((2 / np.log2(3) + 0.5) / (2 + 1 / np.log2(3)))
    assert s.per_query.loc["q2"].to_dict() == pytest.approx(
        {"P@1": 1, "P@3": 1 / 3, "R@1": 1, "R@3": 1, "MRR@10": 1, "nDCG@10": 1, "MAP": 1}
    )
    assert s.per_query.columns.tolist() == ["P@1", "P@3", "R@1", "R@3", "MRR@10", "nDCG@10", "MAP"]
    assert s.per_query.index.name == "query_id"
    assert s.summary == pytest.approx(s.per_query.mean().to_dict())
    assert s.run == run and s.to_series().to_dict() == s.summary


@pytest.mark.parametrize("seed, ties", [(0, False), (1, True), (2, True)])
def test_evaluate_run_equals_pytrec_eval_and_the_definitions(seed, ties):
    run, qrels = random_run(seed, ties=ties)
    ours = evaluate_run(run, qrels).per_query
    pd.testing.assert_frame_equal(
        ours, reference_metrics(run, qrels), check_names=False, atol=1e-12
    )
    scored = {q: j for q, j in qrels.items() if q != "q_nonrel"}
    ref = trec(run, scored, {"P.1,3,5,10", "recall.1,3,5,10", "ndcg_cut.10", "map"})
    for q in scored:
        for k in KS:
            assert ours.loc[q, f"P@{k}"] == ref[q][f"P_{k}"]
            assert ours.loc[q, f"R@{k}"] == ref[q][f"recall_{k}"]
        assert ours.loc[q, "nDCG@10"] == pytest.approx(ref[q]["ndcg_cut_10"], abs=1e-12)
        assert ours.loc[q, "MAP"] == pytest.approx(ref[q]["map"], abs=1e-12)


def test_evaluate_run_on_ties_follows_trec_order():
    s = evaluate_run(TIE_RUN, TIE_QRELS)
    pd.testing.assert_frame_equal(
        s.per_query, reference_metrics(TIE_RUN, TIE_QRELS), check_names=False
    )
    assert s.per_query["MRR@10"].to_dict() == pytest.approx(TIE_MRR10, abs=1e-12)
    # trec_eval's own reciprocal rank is not cut at 10
    assert trec(TIE_RUN, TIE_QRELS, {"recip_rank"})["q1"]["recip_rank"] == pytest.approx(1 / 12)
    assert s.per_query.loc["q3", "P@1"] == 1.0  # c (grade 2) first, then b, then a
    assert s.per_query.loc["q1", "P@10"] == 0.0
    assert s.per_query.loc["q3", "R@10"] == pytest.approx(2 / 3)


def test_evaluate_run_query_coverage():
    run = {"q1": {"a": 1.0}, "extra": {"a": 1.0}, "q_empty": {}}
    qrels = {"q1": {"a": 1}, "q_missing": {"b": 2}, "q_nonrel": {"a": 0}, "q_empty": {"a": 1}}
    s = evaluate_run(run, qrels, ks=(1,))
    assert s.per_query.index.tolist() == ["q1", "q_missing", "q_empty"]  # q_nonrel not scored
    assert (s.per_query.loc[["q_missing", "q_empty"]] == 0).all().all()  # nothing retrieved
    assert s.summary["P@1"] == pytest.approx(1 / 3)


def test_evaluate_run_errors():
    with pytest.raises(InvalidInputError, match="no query in qrels has a document with grade >= 1"):
        evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 0}})
    with pytest.raises(InvalidInputError, match="run and qrels must be dicts"):
        evaluate_run([("q", "a")], {"q": {"a": 1}})
    with pytest.raises(InvalidInputError, match="each k must be a positive integer"):
        evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 1}}, ks=(0,))


def test_precision_recall_curve_matches_evaluate_run():
    run, qrels = random_run(3)
    curve = precision_recall_curve(run, qrels)
    assert curve.index.tolist() == list(range(1, 21)) and curve.index.name == "k"
    s = evaluate_run(run, qrels, ks=(1, 5, 20))
    for k in (1, 5, 20):
        assert curve.loc[k, "precision"] == s.summary[f"P@{k}"]
        assert curve.loc[k, "recall"] == s.summary[f"R@{k}"]
    assert curve["recall"].is_monotonic_increasing
    from_generator = precision_recall_curve(run, qrels, ks=(k for k in (2, 4)))
    assert from_generator.index.tolist() == [2, 4]
    assert from_generator.loc[4, "recall"] == curve.loc[4, "recall"]


# ------------------------------------------ sentence-transformers' InformationRetrievalEvaluator


@pytest.mark.slow
def test_minilm_on_the_course_set_agrees_with_the_evaluator(course_minilm):
    """The same embeddings through the evaluator's own search and formulas."""
    from sentence_transformers.util import cos_sim

    import embedlab

    ds = embedlab.load_course_retrieval()
    result = course_minilm
    assert result.query_ids == ds.query_ids and result.doc_ids == ds.doc_ids
    ev = evaluator(dict(ds.queries), dict(zip(ds.doc_ids, ds.doc_texts(), strict=True)), ds.qrels)
    ev.score_functions = {"cosine": cos_sim}  # what a SentenceTransformer's similarity is
    rows = [result.query_ids.index(q) for q in ev.queries_ids]

    class Precomputed:  # hands the evaluator our query vectors instead of encoding again
        def encode_query(self, sentences, **kw):
            return torch.from_numpy(result.query_embeddings[rows])

    theirs = flatten(
        ev.compute_all_metrics(
            Precomputed(), corpus_embeddings=torch.from_numpy(result.doc_embeddings)
        )["cosine"]
    )
    ours = result.summary
    for k in KS:
        assert theirs[f"P@{k}"] == pytest.approx(ours[f"P@{k}"], abs=1e-9)
        assert theirs[f"R@{k}"] == pytest.approx(ours[f"R@{k}"], abs=1e-9)
    assert theirs["MRR@10"] == pytest.approx(ours["MRR@10"], abs=1e-9)
    assert theirs["MAP@100"] == pytest.approx(ours["MAP"], abs=1e-9)
    success = trec(result.run, ds.qrels, {"success.1,3,5,10"})
    for k in KS:
        expected = np.mean([success[q][f"success_{k}"] for q in ds.qrels])
        assert theirs[f"Accuracy@{k}"] == pytest.approx(expected, abs=1e-9)
    # nDCG: the evaluator's is trec_eval's on binarised grades; ours uses the grades
    binary = {q: {d: int(g >= 1) for d, g in j.items()} for q, j in ds.qrels.items()}
    ndcg = trec(result.run, binary, {"ndcg_cut.10"})
    assert theirs["nDCG@10 (binary)"] == pytest.approx(
        np.mean([ndcg[q]["ndcg_cut_10"] for q in ds.qrels]), abs=1e-9
    )
    assert abs(theirs["nDCG@10 (binary)"] - ours["nDCG@10"]) > 1e-3
    # measured on this set (documented in the lab): all-MiniLM-L6-v2's nDCG@10
    assert 0.6 < ours["nDCG@10"] < 0.95, ours


def test_the_evaluator_agrees_without_ties():
    run, qrels = random_run(0)
    ev = evaluator_metrics_of_run(run, qrels)
    ours = evaluate_run(run, qrels).summary
    for m in [*(f"P@{k}" for k in KS), *(f"R@{k}" for k in KS), "MRR@10"]:
        assert ev[m] == pytest.approx(ours[m], abs=1e-12), m
    assert ev["MAP@100"] == pytest.approx(ours["MAP"], abs=1e-12)  # run depth 25 <= 100


def test_the_evaluator_breaks_ties_the_other_way():
    ev = evaluator_metrics_of_run(TIE_RUN, TIE_QRELS)
    ours = evaluate_run(TIE_RUN, TIE_QRELS).summary
    assert ev["P@1"] != pytest.approx(ours["P@1"])
    assert ev["MRR@10"] != pytest.approx(ours["MRR@10"])
    # exactly: the evaluator equals trec_eval on the run re-scored by (score desc, id ascending)
    ascending = {
        q: {d: -rank for rank, d in enumerate(sorted(docs, key=lambda d: (-docs[d], d)))}
        for q, docs in TIE_RUN.items()
    }
    relabelled = evaluate_run(ascending, TIE_QRELS).summary
    for m in [*(f"P@{k}" for k in KS), *(f"R@{k}" for k in KS), "MRR@10"]:
        assert ev[m] == pytest.approx(relabelled[m], abs=1e-12), m
    assert ev["MAP@100"] == pytest.approx(relabelled["MAP"], abs=1e-12)


def test_the_evaluators_map_at_k_divides_by_min_k_and_relevant():
    # 5 relevant documents, MAP cut at 3: the evaluator divides by min(3, 5) = 3,
    # trec_eval's map (on the run cut to 3) by all 5
    run = {"q": {f"d{i}": 1.0 - i / 10 for i in range(6)}}
    qrels = {"q": {"d0": 1, "d2": 1, "d3": 1, "d4": 1, "d5": 1}}
    ev = evaluator_metrics_of_run(run, qrels, ks=(1, 3), map_k=3)
    cut = {"q": {d: s for d, s in run["q"].items() if d in ("d0", "d1", "d2")}}
    trec_map = evaluate_run(cut, qrels).summary["MAP"]
    assert trec_map == pytest.approx((1 + 2 / 3) / 5)
    assert ev["MAP@3"] == pytest.approx(trec_map * 5 / 3, abs=1e-12)


# --------------------------------------------------------------------------- evaluate_model


class FakeModel:
    """A deterministic stand-in for a SentenceTransformer; records what it was asked."""

    prompts = {"query": "", "document": ""}

    def __init__(self, vectors, query_dims=None):
        self.vectors, self.calls, self.query_dims = vectors, [], query_dims
        self.embedlab_info = {"name": "fake", "weights_sha256": "f1"}

    def _encode(self, kind, texts, **kw):
        self.calls.append((kind, list(texts), kw))
        v = torch.tensor(np.array([self.vectors[t] for t in texts], dtype=np.float32))
        if kind == "query" and self.query_dims:
            v = v[:, : self.query_dims]
        return torch.nn.functional.normalize(v, dim=1) if kw.get("normalize_embeddings") else v

    def encode_query(self, texts, **kw):
        return self._encode("query", texts, **kw)

    def encode_document(self, texts, **kw):
        return self._encode("document", texts, **kw)

    def encode(self, *a, **kw):  # pragma: no cover - must not be used
        raise AssertionError("evaluate_model must use encode_query/encode_document")


def fake_dataset(query_dims=None):
    rng = np.random.default_rng(1)
    corpus = {f"doc{i:02d}": {"title": f"T{i}", "text": f"text {i}"} for i in range(15)}
    queries = {f"q{i}": f"question {i}" for i in range(6)}
    vectors = {f"T{i}. text {i}": rng.normal(size=8) for i in range(15)}
    for i in range(6):  # query i is close to doc i and doc i+6
        vectors[f"question {i}"] = (
            vectors[f"T{i}. text {i}"] + 0.8 * vectors[f"T{i + 6}. text {i + 6}"]
        )
    qrels = {f"q{i}": {f"doc{i:02d}": 2, f"doc{i + 6:02d}": 1, "doc14": 0} for i in range(6)}
    dataset = SimpleNamespace(
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        doc_ids=list(corpus),
        doc_texts=lambda: [f"{c['title']}. {c['text']}" for c in corpus.values()],
        query_texts=lambda: list(queries.values()),
    )
    return dataset, FakeModel(vectors, query_dims)


@pytest.mark.parametrize("cache", [False, "memory"])
def test_evaluate_model_embeds_queries_and_documents_with_their_own_method(cache):
    dataset, model = fake_dataset()
    s = evaluate_model(
        model, dataset, k=12, name="fake", cache=EmbeddingCache(":memory:") if cache else False
    )
    assert [c[0] for c in model.calls] == ["query", "document"]  # each side encoded once
    assert model.calls[1][1][0] == "T0. text 0"
    assert all(c[2]["normalize_embeddings"] for c in model.calls)
    assert s.name == "fake" and isinstance(s, RetrievalScores)
    assert s.query_embeddings.shape == (6, 8) and s.doc_embeddings.shape == (15, 8)
    np.testing.assert_allclose(np.linalg.norm(s.doc_embeddings, axis=1), 1, atol=1e-6)
    assert s.query_ids == list(dataset.queries) and s.doc_ids == list(dataset.corpus)
    assert all(len(r) == 12 for r in s.run.values())
    assert s.run == search(s.query_embeddings, s.doc_embeddings, s.query_ids, s.doc_ids, k=12)
    pd.testing.assert_frame_equal(s.per_query, evaluate_run(s.run, dataset.qrels).per_query)
    assert s.summary["R@3"] > 0.5  # the planted neighbours are found


def test_evaluate_model_names_the_result_after_the_model():
    dataset, model = fake_dataset()
    assert evaluate_model(model, dataset, cache=False).name == "fake"


def test_evaluate_model_refuses_queries_and_documents_of_different_sizes():
    dataset, model = fake_dataset(query_dims=6)
    with pytest.raises(
        IncompatibleEmbeddingsError, match="query vectors have 6 dimensions, documents 8"
    ):
        evaluate_model(model, dataset, cache=False)


# --------------------------------------------------------------------------- significance


def _mean_diff(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def test_paired_bootstrap_equals_scipy():
    rng = np.random.default_rng(0)
    b = rng.random(40)
    a = b + 0.05 + rng.normal(0, 0.1, 40)
    ours = paired_bootstrap(a, b, n_resamples=2000, seed=7)
    ref = stats.bootstrap(
        (a, b),
        _mean_diff,
        paired=True,
        n_resamples=2000,
        method="BCa",
        rng=np.random.default_rng(7),
    )
    assert ours["mean_diff"] == pytest.approx(np.mean(a - b))
    assert ours["ci_low"] == pytest.approx(ref.confidence_interval.low, abs=1e-12)
    assert ours["ci_high"] == pytest.approx(ref.confidence_interval.high, abs=1e-12)
    assert ours["n_queries"] == 40
    assert ours["ci_low"] < ours["mean_diff"] < ours["ci_high"]
    assert paired_bootstrap(a, b, n_resamples=2000, seed=7) == ours  # seeded: reproducible


def test_paired_permutation_test_equals_scipy():
    rng = np.random.default_rng(1)
    b = rng.random(30)
    a = b + rng.normal(0.03, 0.1, 30)
    ours = paired_permutation_test(a, b, n_resamples=3000, seed=4)
    ref = stats.permutation_test(
        (a, b),
        _mean_diff,
        permutation_type="samples",
        n_resamples=3000,
        rng=np.random.default_rng(4),
    )
    assert ours == {
        "mean_diff": pytest.approx(np.mean(a - b)),
        "p_value": ref.pvalue,
        "n_queries": 30,
    }


def test_permutation_test_is_exact_for_small_query_sets():
    # all 5 differences +1: only the two same-sign patterns of 2**5 are as extreme
    assert paired_permutation_test([1.0] * 5, [0.0] * 5)["p_value"] == pytest.approx(2 / 32)
    d = np.array([0.3, -0.1, 0.2, 0.4])  # by hand, over the 16 sign flips
    means = [np.mean(d * s) for s in itertools.product([1, -1], repeat=4)]
    expected = np.mean(np.abs(means) >= abs(d.mean()) - 1e-12)
    assert paired_permutation_test(d, np.zeros(4))["p_value"] == pytest.approx(expected)


def test_identical_systems_do_not_differ():
    a = pd.Series({"q1": 0.2, "q2": 0.9, "q3": 0.5, "q4": 0.7})
    assert paired_bootstrap(a, a.copy()) == {
        "mean_diff": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "n_queries": 4,
    }
    assert paired_permutation_test(a, a.copy())["p_value"] == 1.0


def test_systems_are_aligned_by_query_id():
    rng = np.random.default_rng(5)
    idx = [f"q{i}" for i in range(40)]
    a = pd.DataFrame({"nDCG@10": rng.random(40), "MAP": rng.random(40)}, index=idx)
    b = pd.DataFrame({"nDCG@10": rng.random(40), "MAP": rng.random(40)}, index=idx[::-1])
    expected = (a["MAP"] - b["MAP"].reindex(idx)).mean()
    assert paired_bootstrap(a, b, "MAP", n_resamples=500)["mean_diff"] == pytest.approx(expected)
    as_scores = RetrievalScores({}, a)
    assert paired_permutation_test(as_scores, b, "MAP", n_resamples=500)[
        "mean_diff"
    ] == pytest.approx(expected)


@pytest.mark.parametrize(
    "a, b, says",
    [
        (
            pd.DataFrame({"MAP": [1.0, 0.5]}),
            pd.DataFrame({"MAP": [1.0, 0.5]}),
            "has no column 'nDCG@10'",
        ),
        (
            pd.Series({"q1": 1.0, "q2": 0.0}),
            pd.Series({"q1": 1.0, "q3": 0.0}),
            "scored on different queries",
        ),
        ([1.0], [0.0], "at least 2 queries with finite scores"),
        ([1.0, np.nan], [0.0, 0.0], "at least 2 queries with finite scores"),
    ],
)
def test_paired_comparison_errors(a, b, says):
    for test in (paired_bootstrap, paired_permutation_test):
        with pytest.raises(InvalidInputError) as err:
            test(a, b)
        assert says in str(err.value)
