"""Retrieval for Lab 2: exact top-k search, metrics by ``trec_eval``, paired significance tests.

A **run** is ``{query_id: {doc_id: score}}`` (what a system retrieved), **qrels** are
``{query_id: {doc_id: grade}}`` (human judgements; grade >= 1 counts as relevant for P, R,
MRR and MAP; nDCG uses the grades as gains). Tied scores are ordered as ``trec_eval`` does:
doc id descending, so our rankings and its metrics always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from embedlab.embeddings import as_matrix, check_compatible, unit_rows
from embedlab.errors import IncompatibleEmbeddingsError, InvalidInputError, positive_int

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


def top_k(scores: Any, ids: Sequence[str], k: int) -> np.ndarray:
    """Column indices of the ``k`` best scores of each row, best first, ties by id descending.

    The course's one top-k: used by :func:`search`, quantized search and the checks.

    >>> top_k([[0.5, 0.9, 0.5]], ["a", "b", "c"], 3).tolist()
    [[1, 2, 0]]
    """
    scores = np.atleast_2d(np.asarray(scores))
    n = scores.shape[1]
    if len(ids) != n:
        raise InvalidInputError(f"got {len(ids)} ids for {n} columns of scores: one id per column.")
    k = min(positive_int(k, "k"), n)
    tie = np.empty(n, dtype=np.int64)  # rank of each id in descending string order
    tie[sorted(range(n), key=list(ids).__getitem__, reverse=True)] = np.arange(n)
    out = np.empty((len(scores), k), dtype=np.int64)
    for i, row in enumerate(scores):
        cand = np.arange(n) if k == n else np.flatnonzero(row >= np.partition(row, n - k)[n - k])
        out[i] = cand[np.lexsort((tie[cand], -row[cand]))][:k]
    return out


def ranked(docs: dict[str, float]) -> list[str]:
    """A run's documents for one query, best first, in ``trec_eval``'s order (ties by doc id
    descending): how every ranking in the course is read.

    >>> ranked({"a": 0.5, "b": 0.9, "c": 0.5})
    ['b', 'c', 'a']
    """
    return sorted(docs, key=lambda d: (docs[d], d), reverse=True)


def _check_ids(ids: Any, n: int, what: str) -> list[str]:
    ids = [str(i) for i in ids]
    if len(ids) != n:
        raise InvalidInputError(f"{what} has {len(ids)} ids for {n} vectors: one id per row.")
    if len(set(ids)) != n:
        raise InvalidInputError(f"{what} contains duplicate ids: every row needs its own id.")
    return ids


def search(
    query_embeddings: Any,
    doc_embeddings: Any,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    k: int = 100,
) -> Run:
    """Exact top-``k`` retrieval by cosine similarity; returns a run.

    >>> search([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], ["q1"], ["a", "b", "c"], k=2)
    {'q1': {'a': 1.0, 'c': 0.6000000238418579}}
    """
    q, d = (
        as_matrix(query_embeddings, "query_embeddings"),
        as_matrix(doc_embeddings, "doc_embeddings"),
    )
    check_compatible(query_embeddings, doc_embeddings)
    qids, dids = (
        _check_ids(query_ids, len(q), "query_ids"),
        _check_ids(doc_ids, len(d), "doc_ids"),
    )
    # an all-zero row (e.g. a TF-IDF query with no known word) scores 0, not NaN
    q, d = unit_rows(q), unit_rows(d)
    scores = q @ d.T
    best = top_k(scores, dids, k)
    return {qid: {dids[j]: float(scores[i, j]) for j in best[i]} for i, qid in enumerate(qids)}


@dataclass
class RetrievalScores:
    """One system's metrics: ``summary`` (means) and ``per_query`` (one row per query).

    :func:`evaluate_model` also keeps the ``run`` and the unit-length embeddings it scored.
    """

    summary: dict[str, float]
    per_query: pd.DataFrame = field(repr=False)
    name: str | None = None
    run: Run | None = field(default=None, repr=False)
    query_ids: list[str] | None = field(default=None, repr=False)
    doc_ids: list[str] | None = field(default=None, repr=False)
    query_embeddings: np.ndarray | None = field(default=None, repr=False)
    doc_embeddings: np.ndarray | None = field(default=None, repr=False)

    def to_series(self) -> pd.Series:
        return pd.Series(self.summary, name=self.name)


def evaluate_run(
    run: Run,
    qrels: Qrels,
    ks: Iterable[int] = (1, 3, 5, 10),
    *,
    name: str | None = None,
) -> RetrievalScores:
    """Score a run with ``trec_eval`` (``pytrec_eval``): P@k, R@k, MRR@10, nDCG@10, MAP.

    nDCG@10 uses the grades as gains and the ideal ranking of all judged documents. Queries
    without a relevant document are not scored; a scored query missing from the run scores 0.

    >>> run, qrels = {"q1": {"a": 0.9, "b": 0.8, "c": 0.1}}, {"q1": {"b": 2, "c": 1}}
    >>> s = evaluate_run(run, qrels, ks=(1, 3))
    >>> {m: round(v, 3) for m, v in s.summary.items()}
    {'P@1': 0.0, 'P@3': 0.667, 'R@1': 0.0, 'R@3': 1.0, 'MRR@10': 0.5, 'nDCG@10': 0.67, 'MAP': 0.583}
    """
    import pytrec_eval

    ks = [positive_int(k, "each k") for k in ks]
    if not isinstance(run, dict) or not isinstance(qrels, dict):
        raise InvalidInputError(
            "run and qrels must be dicts: {query_id: {doc_id: score or grade}}."
        )
    scored = {
        q: {d: int(g) for d, g in j.items()}
        for q, j in qrels.items()
        if any(g >= 1 for g in j.values())
    }
    if not scored:
        raise InvalidInputError(
            "no query in qrels has a document with grade >= 1, so there is nothing to measure. "
            "Check that the qrels belong to this dataset."
        )
    run = {
        q: {str(d): float(s) for d, s in docs.items()}
        for q, docs in run.items()
        if q in scored and docs
    }
    cut = ",".join(map(str, ks))
    evaluator = pytrec_eval.RelevanceEvaluator(
        scored, {f"P.{cut}", f"recall.{cut}", "ndcg_cut.10", "map"}, relevance_level=1
    )
    top10 = {q: {d: docs[d] for d in ranked(docs)[:10]} for q, docs in run.items()}
    rr = pytrec_eval.RelevanceEvaluator(scored, {"recip_rank"}, relevance_level=1).evaluate(top10)
    res = evaluator.evaluate(run)
    names = [f"P@{k}" for k in ks] + [f"R@{k}" for k in ks] + ["MRR@10", "nDCG@10", "MAP"]
    trec = [f"P_{k}" for k in ks] + [f"recall_{k}" for k in ks]
    zeros = dict.fromkeys([*trec, "ndcg_cut_10", "map"], 0.0)
    rows = {
        q: [res.get(q, zeros)[t] for t in trec]
        + [rr.get(q, {"recip_rank": 0.0})["recip_rank"]]
        + [res.get(q, zeros)[t] for t in ("ndcg_cut_10", "map")]
        for q in scored
    }
    per_query = pd.DataFrame.from_dict(rows, orient="index", columns=names).rename_axis("query_id")
    return RetrievalScores({m: float(v) for m, v in per_query.mean().items()}, per_query, name, run)


def evaluate_model(
    model: Any,
    dataset: Any,
    *,
    name: str | None = None,
    cache: Any = True,
    k: int = 100,
) -> RetrievalScores:
    """Embed a dataset's queries (``encode_query``) and documents (``encode_document``) through
    the embedding cache, search, and score the run with :func:`evaluate_run`.

    ``cache=False`` encodes everything; the result keeps the run and the embeddings.
    """
    from embedlab.cache import cached_encode
    from embedlab.models import encoder, model_name_of

    qids = list(dataset.queries)
    if cache is False:
        texts = {"query": dataset.query_texts(), "document": dataset.doc_texts()}
        q, d = (
            encoder(model, kind)(texts[kind], normalize_embeddings=True, convert_to_numpy=True)
            for kind in ("query", "document")
        )
    else:
        q = cached_encode(model, dataset.query_texts(), kind="query", cache=cache)
        d = cached_encode(model, dataset.doc_texts(), kind="document", cache=cache)
    q, d = np.asarray(q, np.float32), np.asarray(d, np.float32)
    if q.shape[1] != d.shape[1]:
        raise IncompatibleEmbeddingsError(
            f"query vectors have {q.shape[1]} dimensions, documents {d.shape[1]}."
        )
    run = search(q, d, qids, dataset.doc_ids, k=k)
    scores = evaluate_run(run, dataset.qrels, name=name or model_name_of(model))
    scores.run, scores.query_ids, scores.doc_ids = run, qids, dataset.doc_ids
    scores.query_embeddings, scores.doc_embeddings = q, d
    return scores


def precision_recall_curve(
    run: Run, qrels: Qrels, ks: Iterable[int] = range(1, 21)
) -> pd.DataFrame:
    """Mean precision@k and recall@k for each ``k``: the points of a precision-recall plot."""
    ks = list(ks)  # read twice below: a generator would be empty the second time
    s = evaluate_run(run, qrels, ks=ks).summary
    return pd.DataFrame(
        {"precision": [s[f"P@{k}"] for k in ks], "recall": [s[f"R@{k}"] for k in ks]},
        index=pd.Index(list(ks), name="k"),
    )


def _paired(a: Any, b: Any, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-query scores of two systems, aligned on query id."""
    series = []
    for x, what in ((a, "a"), (b, "b")):
        x = x.per_query if isinstance(x, RetrievalScores) else x
        if isinstance(x, pd.DataFrame):
            if metric not in x.columns:
                raise InvalidInputError(
                    f"{what} has no column {metric!r}; available: {list(x.columns)}."
                )
            x = x[metric]
        series.append(
            pd.Series(x, dtype=float) if not isinstance(x, pd.Series) else x.astype(float)
        )
    sa, sb = series
    if set(sa.index) != set(sb.index):
        raise InvalidInputError(
            "the two systems were scored on different queries (e.g. "
            f"{sorted(set(sa.index) ^ set(sb.index))[:3]}). Evaluate both on the same dataset."
        )
    if len(sa) < 2 or not np.isfinite(sa.to_numpy()).all() or not np.isfinite(sb.to_numpy()).all():
        raise InvalidInputError("a paired comparison needs at least 2 queries with finite scores.")
    return sa.to_numpy(), sb.reindex(sa.index).to_numpy()


def _mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def paired_bootstrap(
    a: Any, b: Any, metric: str = "nDCG@10", *, n_resamples: int = 10_000, seed: int = 0
) -> dict[str, float]:
    """Mean per-query difference a - b with a 95% paired bootstrap interval (``scipy``, BCa).

    ``a`` and ``b``: :class:`RetrievalScores`, their ``per_query`` tables, or Series by query.
    """
    from scipy import stats

    x, y = _paired(a, b, metric)
    mean = float(np.mean(x - y))
    low = high = mean
    if np.ptp(x - y) > 0:  # with one constant difference there is nothing to resample
        n = positive_int(n_resamples, "n_resamples")
        rng = np.random.default_rng(seed)
        res = stats.bootstrap((x, y), _mean_diff, paired=True, n_resamples=n, method="BCa", rng=rng)
        ci = res.confidence_interval
        low, high = float(ci.low), float(ci.high)
    return {"mean_diff": mean, "ci_low": low, "ci_high": high, "n_queries": len(x)}


def paired_permutation_test(
    a: Any, b: Any, metric: str = "nDCG@10", *, n_resamples: int = 10_000, seed: int = 0
) -> dict[str, float]:
    """Two-sided paired permutation test of mean(a - b) = 0: each query's two scores are
    swapped at random (``scipy.stats.permutation_test``); exact for small query sets."""
    from scipy import stats

    x, y = _paired(a, b, metric)
    n, rng = positive_int(n_resamples, "n_resamples"), np.random.default_rng(seed)
    res = stats.permutation_test(
        (x, y), _mean_diff, permutation_type="samples", n_resamples=n, rng=rng
    )
    return {
        "mean_diff": float(np.mean(x - y)),
        "p_value": float(res.pvalue),
        "n_queries": len(x),
    }
