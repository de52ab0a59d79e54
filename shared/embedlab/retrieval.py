"""Lab 2: exact dense retrieval, TREC-style runs, IR metrics and significance tests.

Vocabulary used throughout (the TREC / ``pytrec_eval`` formats):

* a **run** is ``{query_id: {doc_id: score}}``: what a system retrieved, with its scores;
* **qrels** are ``{query_id: {doc_id: grade}}``: human relevance judgements, integer grades
  (``0`` = not relevant, ``1`` = relevant, ``2`` = highly relevant, ...).

Conventions (the same as ``trec_eval``, so our numbers can be checked against it):

* **Ranking order**: score descending; tied scores are ordered by doc id in *descending*
  string order (``trec_eval`` does this; ``InformationRetrievalEvaluator`` uses *ascending*).
* **Binary relevance**: a document counts as relevant for P@k, R@k, MRR and MAP when its grade
  is ``>= 1``. nDCG@10 uses the graded values as gains.
* **Which queries are scored**: those with at least one relevant document in the qrels. A
  query with relevant documents but nothing in the run scores 0 everywhere (``trec_eval -c``);
  run queries absent from the qrels are ignored.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
import pytrec_eval
import torch
from scipy import stats
from sentence_transformers import util
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from embedlab._validate import check_texts
from embedlab.datasets import join_title
from embedlab.errors import DatasetFormatError, IncompatibleEmbeddingsError, InvalidInputError

__all__ = [
    "Run",
    "Qrels",
    "RetrievalScores",
    "search",
    "evaluate_run",
    "evaluate_model",
    "precision_recall_curve",
    "paired_bootstrap",
    "paired_permutation_test",
    "wins_losses",
]

Run = dict[str, dict[str, float]]
"""A TREC-style run: ``{query_id: {doc_id: score}}``."""

Qrels = dict[str, dict[str, int]]
"""Relevance judgements: ``{query_id: {doc_id: integer grade}}``."""

RELEVANCE_THRESHOLD = 1  # grade >= 1 is "relevant" for the binary metrics
_SCORE_FUNCTIONS = {"cosine": util.cos_sim, "dot": util.dot_score}
_MAX_BLOCK_CELLS = 2**25  # at most ~128 MiB of float32 scores in memory at once


# --------------------------------------------------------------------------- results


@dataclass
class RetrievalScores:
    """Metrics of one system on one dataset, averaged and per query.

    Attributes:
        summary: Mean of every metric over the scored queries, e.g. ``{"P@10": 0.31,
            "R@10": 0.72, "MRR@10": 0.65, "nDCG@10": 0.61, "MAP": 0.55}``.
        per_query: One row per scored query (index ``query_id``), one column per metric.
            ``per_query.mean()`` equals ``summary``.
        name: A label for tables and plots (e.g. the model name).
        run: The run that was scored (set by :func:`evaluate_model`).
        query_ids: Row order of ``query_embeddings`` (set by :func:`evaluate_model`).
        doc_ids: Row order of ``doc_embeddings`` (set by :func:`evaluate_model`).
        query_embeddings: Unit-length query vectors, ``float32`` array (``evaluate_model``).
        doc_embeddings: Unit-length document vectors, ``float32`` array (``evaluate_model``).
        evaluator_metrics: The metrics as computed by sentence-transformers'
            ``InformationRetrievalEvaluator`` (``evaluate_model`` only), under the keys
            ``"Accuracy@k"``, ``"P@k"``, ``"R@k"``, ``"MRR@10"``, ``"nDCG@10 (binary)"`` and
            ``"MAP@<depth>"``.
        skipped_queries: Query ids of the qrels that were not scored because none of their
            documents has a grade ``>= 1``.
    """

    summary: dict[str, float]
    per_query: pd.DataFrame = field(repr=False)
    name: str | None = None
    run: Run | None = field(default=None, repr=False)
    query_ids: list[str] | None = field(default=None, repr=False)
    doc_ids: list[str] | None = field(default=None, repr=False)
    query_embeddings: np.ndarray | None = field(default=None, repr=False)
    doc_embeddings: np.ndarray | None = field(default=None, repr=False)
    evaluator_metrics: dict[str, float] | None = field(default=None, repr=False)
    skipped_queries: tuple[str, ...] = field(default=(), repr=False)

    def to_series(self) -> pd.Series:
        """Return ``summary`` as a Series named after the system, for comparison tables.

        Returns:
            The mean metrics, named ``self.name``.

        Example:
            >>> s = evaluate_run({"q1": {"d1": 0.9}}, {"q1": {"d1": 1}}, ks=(1,))
            >>> s.name = "toy"
            >>> float(s.to_series()["P@1"])
            1.0
            >>> pd.DataFrame([s.to_series()]).index.tolist()
            ['toy']
        """
        return pd.Series(self.summary, name=self.name)


# --------------------------------------------------------------------------- validation


def _as_matrix(x: Any, what: str) -> torch.Tensor:
    """Return ``x`` as a 2-D float32 CPU tensor (a single vector becomes one row)."""
    if x is None:
        raise InvalidInputError(f"{what} is None. Pass the array returned by model.encode_*().")
    if isinstance(x, torch.Tensor):
        t = x.detach().to("cpu", torch.float32)
    else:
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float32))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"{what} could not be read as a numeric matrix ({exc}). Pass a 2-D numpy array "
                "or torch tensor, one row per text."
            ) from None
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise InvalidInputError(
            f"{what} has shape {tuple(t.shape)}; expected a non-empty 2-D matrix "
            "(n_texts, dimension)."
        )
    if not torch.isfinite(t).all():
        raise InvalidInputError(f"{what} contains NaN or infinite values; re-encode the texts.")
    return t


def _check_ids(ids: Any, n: int, what: str) -> list[str]:
    if ids is None or isinstance(ids, str):
        raise InvalidInputError(f"{what} must be a list of string ids, got {type(ids).__name__}.")
    ids = list(ids)
    if len(ids) != n:
        raise InvalidInputError(
            f"{what} has {len(ids)} ids but the embeddings have {n} rows. Pass one id per row, "
            "in the same order as the texts you encoded."
        )
    for i, item in enumerate(ids):
        if not isinstance(item, str):
            raise InvalidInputError(
                f"{what}[{i}] is a {type(item).__name__} ({item!r:.40}); ids must be strings, "
                "as in the qrels. Convert them: [str(i) for i in ids]."
            )
    if len(set(ids)) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise InvalidInputError(
            f"{what} contains the id {dup!r} more than once; ids must be unique."
        )
    return ids


def _check_k(k: Any, what: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise InvalidInputError(f"{what} must be a positive integer, got {k!r}.")
    return int(k)


def _check_ks(ks: Iterable[int]) -> list[int]:
    try:
        ks = [_check_k(k, "every k in ks") for k in ks]
    except TypeError:
        raise InvalidInputError(f"ks must be a list of positive integers, got {ks!r}.") from None
    if not ks:
        raise InvalidInputError("ks is empty; pass at least one cutoff, e.g. ks=(1, 5, 10).")
    return sorted(set(ks))


def _check_run(run: Any) -> Run:
    if not isinstance(run, Mapping):
        raise InvalidInputError(
            f"run must be a dict {{query_id: {{doc_id: score}}}}, got {type(run).__name__}. "
            "Build one with embedlab.retrieval.search()."
        )
    out: Run = {}
    for qid, docs in run.items():
        if not isinstance(qid, str):
            raise InvalidInputError(f"run query id {qid!r} is not a string; use str ids.")
        if not isinstance(docs, Mapping):
            raise InvalidInputError(
                f"run[{qid!r}] is a {type(docs).__name__}; expected a dict {{doc_id: score}}."
            )
        scored: dict[str, float] = {}
        for did, score in docs.items():
            if not isinstance(did, str):
                raise InvalidInputError(f"run[{qid!r}] has a non-string doc id {did!r}.")
            if isinstance(score, bool) or not isinstance(score, Real) or not math.isfinite(score):
                raise InvalidInputError(
                    f"run[{qid!r}][{did!r}] = {score!r} is not a finite number; scores must be "
                    "floats (higher = more relevant)."
                )
            scored[did] = float(score)
        out[qid] = scored
    return out


def _check_qrels(qrels: Any) -> Qrels:
    if not isinstance(qrels, Mapping) or not qrels:
        raise InvalidInputError(
            "qrels must be a non-empty dict {query_id: {doc_id: grade}}, "
            f"got {type(qrels).__name__}. Use dataset.qrels."
        )
    out: Qrels = {}
    for qid, docs in qrels.items():
        if not isinstance(qid, str) or not isinstance(docs, Mapping):
            raise InvalidInputError(
                f"qrels entry {qid!r} must map a string query id to a dict {{doc_id: grade}}."
            )
        graded: dict[str, int] = {}
        for did, grade in docs.items():
            if not isinstance(did, str):
                raise InvalidInputError(f"qrels[{qid!r}] has a non-string doc id {did!r}.")
            if isinstance(grade, bool) or not isinstance(grade, Integral):
                if isinstance(grade, Real) and float(grade).is_integer():
                    grade = int(grade)
                else:
                    raise InvalidInputError(
                        f"qrels[{qid!r}][{did!r}] = {grade!r}; grades must be integers "
                        "(0 = not relevant, 1 = relevant, 2 = highly relevant...)."
                    )
            graded[did] = int(grade)
        out[qid] = graded
    return out


def _is_relevant(grade: int) -> bool:
    return grade >= RELEVANCE_THRESHOLD


# --------------------------------------------------------------------------- ranking


def _trec_order(docs: Mapping[str, float]) -> list[str]:
    """Doc ids in ``trec_eval`` order: score descending, ties by doc id descending."""
    return sorted(docs, key=lambda d: (docs[d], d), reverse=True)


def _truncate(run: Run, depth: int) -> Run:
    """Keep the ``depth`` best documents of each query, in ``trec_eval`` order."""
    return {q: {d: docs[d] for d in _trec_order(docs)[:depth]} for q, docs in run.items()}


def search(
    query_embeddings: Any,
    doc_embeddings: Any,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    k: int = 100,
    *,
    score_function: str = "cosine",
) -> Run:
    """Exact (brute-force) top-``k`` retrieval; returns a TREC-style run.

    Every query is scored against every document with sentence-transformers'
    ``util.cos_sim`` (or ``util.dot_score``); the ``k`` best documents are kept. Tied scores
    are ordered like ``trec_eval`` does (doc id descending), also when a tie straddles the
    ``k``-th place, so scoring the truncated run gives the same metrics at depth ``<= k`` as
    scoring the full ranking (``util.semantic_search`` breaks such ties arbitrarily, which is
    why it is not used here).

    Args:
        query_embeddings: ``(n_queries, dim)`` array or tensor (one vector is accepted too).
        doc_embeddings: ``(n_docs, dim)`` array or tensor.
        query_ids: One string id per query row.
        doc_ids: One string id per document row.
        k: How many documents to keep per query (fewer if the corpus is smaller).
        score_function: ``"cosine"`` (default) or ``"dot"``; identical on unit-length vectors.

    Returns:
        ``{query_id: {doc_id: score}}`` with each query's documents inserted best first.

    Raises:
        InvalidInputError: Bad shapes, ids or ``k``.
        IncompatibleEmbeddingsError: Queries and documents have different dimensions.

    Example:
        >>> q = np.array([[1.0, 0.0]])
        >>> d = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
        >>> search(q, d, ["q1"], ["a", "b", "c"], k=2)
        {'q1': {'a': 1.0, 'c': 0.6000000238418579}}
    """
    if score_function not in _SCORE_FUNCTIONS:
        raise InvalidInputError(
            f"score_function={score_function!r} is not supported; use 'cosine' or 'dot'."
        )
    q = _as_matrix(query_embeddings, "query_embeddings")
    d = _as_matrix(doc_embeddings, "doc_embeddings")
    if q.shape[1] != d.shape[1]:
        raise IncompatibleEmbeddingsError(
            f"query vectors have {q.shape[1]} dimensions but document vectors have "
            f"{d.shape[1]}. Encode queries and documents with the same model."
        )
    qids = _check_ids(query_ids, q.shape[0], "query_ids")
    dids = _check_ids(doc_ids, d.shape[0], "doc_ids")
    k = min(_check_k(k), len(dids))
    n_docs = len(dids)

    # rank of every doc id in descending string order: the tie-breaker of trec_eval
    tie_rank = np.empty(n_docs, dtype=np.int64)
    tie_rank[sorted(range(n_docs), key=dids.__getitem__, reverse=True)] = np.arange(n_docs)

    score_fn = _SCORE_FUNCTIONS[score_function]
    block = max(1, _MAX_BLOCK_CELLS // n_docs)
    run: Run = {}
    for start in range(0, len(qids), block):
        scores = score_fn(q[start : start + block], d).numpy()
        for row, qid in zip(scores, qids[start : start + block], strict=True):
            if k < n_docs:  # candidates: everything scoring at least the k-th best score
                kth = np.partition(row, n_docs - k)[n_docs - k]
                cand = np.flatnonzero(row >= kth)
            else:
                cand = np.arange(n_docs)
            best = cand[np.lexsort((tie_rank[cand], -row[cand]))][:k]
            run[qid] = {dids[j]: float(row[j]) for j in best}
    return run


# --------------------------------------------------------------------------- metrics


def _trec_per_query(run: Run, qrels: Qrels, measures: set[str]) -> dict[str, dict[str, float]]:
    """pytrec_eval per query; queries without any retrieved document score 0 (trec_eval -c)."""
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level=RELEVANCE_THRESHOLD)
    present = {q: run[q] for q in qrels if run.get(q)}
    results = evaluator.evaluate(present) if present else {}
    keys = next(iter(results.values())).keys() if results else None
    if keys is None:  # nothing retrieved at all: learn the key names from a dummy run
        dummy = next(iter(qrels))
        keys = evaluator.evaluate({dummy: {"\x00": 0.0}})[dummy].keys()
    return {q: dict(results.get(q) or dict.fromkeys(keys, 0.0)) for q in qrels}


def _scored_qrels(qrels: Qrels) -> tuple[Qrels, tuple[str, ...]]:
    scored = {q: docs for q, docs in qrels.items() if any(map(_is_relevant, docs.values()))}
    skipped = tuple(q for q in qrels if q not in scored)
    if not scored:
        raise InvalidInputError(
            f"no query in qrels has a document with grade >= {RELEVANCE_THRESHOLD}, so there "
            "is nothing to measure. Check that the qrels belong to this dataset and split."
        )
    return scored, skipped


def evaluate_run(
    run: Run,
    qrels: Qrels,
    ks: Iterable[int] = (1, 3, 5, 10),
    *,
    ndcg_k: int = 10,
    mrr_k: int = 10,
    name: str | None = None,
) -> RetrievalScores:
    """Score a run against qrels with ``trec_eval`` (through ``pytrec_eval``).

    Metrics (binary ones treat grade ``>= 1`` as relevant):

    * ``P@k``: relevant documents among the top ``k``, divided by ``k`` (trec ``P_k``);
    * ``R@k``: relevant documents among the top ``k``, divided by all relevant documents of
      the query (trec ``recall_k``);
    * ``MRR@10``: 1 / rank of the first relevant document within the top 10, else 0 (trec
      ``recip_rank`` on the run cut to 10 documents);
    * ``nDCG@10``: graded nDCG (trec ``ndcg_cut_10``): gain = the grade itself (linear, not
      ``2**grade - 1``), discount ``1 / log2(rank + 1)``, ideal ranking from all judged
      documents of the query;
    * ``MAP``: mean average precision over the whole run, divided by all relevant documents
      (trec ``map``); with a run of depth 100 it is MAP@100.

    Ties are broken like ``trec_eval`` (doc id descending). Queries with no relevant document
    are skipped (listed in ``skipped_queries``); queries with relevant documents but absent
    from the run score 0; run queries absent from the qrels are ignored.

    Args:
        run: ``{query_id: {doc_id: score}}``, e.g. from :func:`search`.
        qrels: ``{query_id: {doc_id: grade}}``.
        ks: Cutoffs for P@k and R@k.
        ndcg_k: Cutoff of nDCG.
        mrr_k: Cutoff of MRR.
        name: Label stored in the result.

    Returns:
        A :class:`RetrievalScores` with ``summary`` and ``per_query``.

    Raises:
        InvalidInputError: Malformed run or qrels, or no query with a relevant document.

    Example:
        >>> run = {"q1": {"a": 0.9, "b": 0.8, "c": 0.1}}
        >>> qrels = {"q1": {"b": 2, "c": 1}}
        >>> scores = evaluate_run(run, qrels, ks=(1, 3))
        >>> {m: round(v, 3) for m, v in scores.summary.items() if not m.startswith(("P", "R@"))}
        {'MRR@10': 0.5, 'nDCG@10': 0.67, 'MAP': 0.583}
        >>> scores.per_query.round(3)
                  P@1    P@3  R@1  R@3  MRR@10  nDCG@10    MAP
        query_id
        q1        0.0  0.667  0.0  1.0     0.5     0.67  0.583
    """
    ks = _check_ks(ks)
    ndcg_k, mrr_k = _check_k(ndcg_k, "ndcg_k"), _check_k(mrr_k, "mrr_k")
    run = _check_run(run)
    qrels, skipped = _scored_qrels(_check_qrels(qrels))

    cut = ",".join(map(str, ks))
    res = _trec_per_query(run, qrels, {f"P.{cut}", f"recall.{cut}", f"ndcg_cut.{ndcg_k}", "map"})
    rr = _trec_per_query(_truncate(run, mrr_k), qrels, {"recip_rank"})

    columns = {f"P@{k}": f"P_{k}" for k in ks}
    columns |= {f"R@{k}": f"recall_{k}" for k in ks}
    rows = {
        q: [res[q][trec] for trec in columns.values()]
        + [rr[q]["recip_rank"], res[q][f"ndcg_cut_{ndcg_k}"], res[q]["map"]]
        for q in qrels
    }
    names = [*columns, f"MRR@{mrr_k}", f"nDCG@{ndcg_k}", "MAP"]
    per_query = pd.DataFrame.from_dict(rows, orient="index", columns=names)
    per_query.index.name = "query_id"
    summary = {m: float(v) for m, v in per_query.mean().items()}
    return RetrievalScores(summary, per_query, name=name, run=run, skipped_queries=skipped)


def precision_recall_curve(
    run: Run, qrels: Qrels, ks: Iterable[int] = range(1, 21)
) -> pd.DataFrame:
    """Mean precision and recall at each cutoff ``k``, for a precision-recall plot.

    Args:
        run: ``{query_id: {doc_id: score}}``.
        qrels: ``{query_id: {doc_id: grade}}``; grade ``>= 1`` is relevant.
        ks: The cutoffs.

    Returns:
        DataFrame indexed by ``k`` with columns ``precision`` and ``recall`` (means over the
        queries that have a relevant document; same conventions as :func:`evaluate_run`).

    Example:
        >>> run = {"q1": {"a": 0.9, "b": 0.8, "c": 0.1}}
        >>> precision_recall_curve(run, {"q1": {"b": 1}}, ks=range(1, 4)).round(3)
           precision  recall
        k
        1      0.000     0.0
        2      0.500     1.0
        3      0.333     1.0
    """
    ks = _check_ks(ks)
    qrels, _ = _scored_qrels(_check_qrels(qrels))
    cut = ",".join(map(str, ks))
    res = pd.DataFrame(_trec_per_query(_check_run(run), qrels, {f"P.{cut}", f"recall.{cut}"}))
    mean = res.mean(axis=1)
    curve = pd.DataFrame(
        {
            "precision": [float(mean[f"P_{k}"]) for k in ks],
            "recall": [float(mean[f"recall_{k}"]) for k in ks],
        },
        index=pd.Index(ks, name="k"),
    )
    return curve


# --------------------------------------------------------------------------- the evaluator


class _PrecomputedIREvaluator(InformationRetrievalEvaluator):
    """``InformationRetrievalEvaluator`` fed with embeddings we already computed.

    ``compute_all_metrics`` accepts ``corpus_embeddings`` but always encodes the queries
    itself; overriding ``embed_inputs`` for queries lets both sides be encoded once.
    """

    def __init__(
        self,
        *args: Any,
        query_embeddings: torch.Tensor,
        query_ids: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._query_embeddings = query_embeddings
        self._query_row = {q: i for i, q in enumerate(query_ids)}

    def embed_inputs(self, model: Any, sentences: Any, encode_fn_name: str | None = None, **kw):
        if encode_fn_name == "query":  # the evaluator keeps only queries with relevant docs
            return self._query_embeddings[[self._query_row[q] for q in self.queries_ids]]
        return super().embed_inputs(model, sentences, encode_fn_name=encode_fn_name, **kw)


def _evaluator_keys(raw: dict[str, dict[int, float]]) -> dict[str, float]:
    """Rename the evaluator's ``{"precision@k": {10: v}}`` results to our metric names."""
    prefix = {
        "accuracy@k": "Accuracy@",
        "precision@k": "P@",
        "recall@k": "R@",
        "mrr@k": "MRR@",
        "ndcg@k": "nDCG@",
        "map@k": "MAP@",
    }
    out: dict[str, float] = {}
    for key, values in raw.items():
        for k, v in values.items():
            label = f"{prefix[key]}{k}" + (" (binary)" if key == "ndcg@k" else "")
            out[label] = float(v)
    return out


def _evaluator_metrics_from_run(
    run: Run, qrels: Qrels, ks: Iterable[int] = (1, 3, 5, 10), *, map_k: int = 100
) -> dict[str, float]:
    """Score a run with the metric code of ``InformationRetrievalEvaluator`` (no model).

    Used to compare its definitions with ``trec_eval``'s on the very same ranking.
    """
    ks = _check_ks(ks)
    run, qrels = _check_run(run), _check_qrels(qrels)
    relevant = {q: {d for d, g in docs.items() if _is_relevant(g)} for q, docs in qrels.items()}
    docs = sorted({d for ranking in run.values() for d in ranking} | {"\x00"})
    evaluator = InformationRetrievalEvaluator(
        queries={q: q for q in qrels},
        corpus={d: d for d in docs},
        relevant_docs=relevant,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=ks,
        precision_recall_at_k=ks,
        map_at_k=[map_k],
        write_csv=False,
    )
    results = [
        [{"corpus_id": d, "score": s} for d, s in run.get(q, {}).items()]
        for q in evaluator.queries_ids
    ]
    return _evaluator_keys(evaluator.compute_metrics(results))


def _doc_text(doc: Any, doc_id: str) -> str:
    if isinstance(doc, str):
        text = doc
    elif isinstance(doc, Mapping):
        text = join_title(doc.get("title"), doc.get("text"))
    else:
        raise DatasetFormatError(
            f"corpus[{doc_id!r}] is a {type(doc).__name__}; expected a dict with 'title' and "
            "'text' (BEIR format) or a string."
        )
    if not text.strip():
        raise DatasetFormatError(
            f"corpus[{doc_id!r}] has neither title nor text; remove it from the corpus."
        )
    return text


def evaluate_model(
    model: Any,
    dataset: Any,
    *,
    batch_size: int = 32,
    ks: Iterable[int] = (1, 3, 5, 10),
    name: str | None = None,
    show_progress_bar: bool = False,
    k: int = 100,
) -> RetrievalScores:
    """Encode a BEIR-style dataset with a model, retrieve, and score the ranking.

    Steps: queries go through ``model.encode_query`` and documents (title and text joined
    by :func:`embedlab.datasets.join_title`) through ``model.encode_document``, so the
    model's own query/document prompts are used;
    vectors are normalised to unit length. :func:`search` builds a run of depth ``k`` (cosine),
    :func:`evaluate_run` scores it with ``trec_eval`` (graded nDCG@10, per query), and
    sentence-transformers' ``InformationRetrievalEvaluator`` is run on the *same* embeddings
    (nothing is encoded twice) as an independent check of the binary metrics.

    ``summary`` and ``per_query`` are the ``trec_eval`` numbers; the evaluator's numbers are in
    ``evaluator_metrics``. A :class:`UserWarning` is emitted if the two disagree by more than
    1e-6 on P@k, R@k, MRR@10 or MAP. That only happens with exactly tied scores (e.g. duplicate
    documents: the evaluator orders ties by ascending doc id, ``trec_eval`` by descending) or,
    for MAP, with a query that has more than ``k`` relevant documents (the evaluator divides by
    ``min(k, n_relevant)``, ``trec_eval`` by ``n_relevant``).

    Args:
        model: A ``SentenceTransformer`` (anything with ``encode_query``/``encode_document``).
        dataset: Object with ``corpus`` (``{doc_id: {"title", "text"}}``), ``queries``
            (``{query_id: text}``) and ``qrels`` (``{query_id: {doc_id: grade}}``).
        batch_size: Encoding batch size.
        ks: Cutoffs for P@k and R@k.
        name: Label for the result (defaults to the model's name when it has one).
        show_progress_bar: Show encoding progress bars.
        k: Depth of the run (documents kept per query); at least ``max(ks)`` and 10.

    Returns:
        :class:`RetrievalScores` with ``summary``, ``per_query``, ``run``, ``query_ids``,
        ``doc_ids``, ``query_embeddings``, ``doc_embeddings`` and ``evaluator_metrics``.

    Raises:
        InvalidInputError: Bad arguments or a dataset without the three attributes.
        DatasetFormatError: A document without text.

    Example:
        >>> scores = evaluate_model(model, dataset, name="MiniLM")  # doctest: +SKIP
        >>> scores.summary["nDCG@10"]  # doctest: +SKIP
        0.6123
    """
    ks = _check_ks(ks)
    k = _check_k(k)
    if k < max(*ks, 10):
        raise InvalidInputError(
            f"k={k} is shallower than the deepest cutoff ({max(*ks, 10)}); "
            f"pass k >= {max(*ks, 10)}."
        )
    missing = [a for a in ("corpus", "queries", "qrels") if not hasattr(dataset, a)]
    if missing:
        raise InvalidInputError(
            f"dataset has no attribute {', '.join(missing)}. Pass a BEIR-style dataset, e.g. "
            "embedlab.datasets.BeirDataset, with corpus, queries and qrels."
        )
    for m in ("encode_query", "encode_document"):
        if not callable(getattr(model, m, None)):
            raise InvalidInputError(
                f"model has no {m}() method; pass a sentence_transformers.SentenceTransformer."
            )
    corpus, queries = dataset.corpus, dataset.queries
    if not corpus or not queries:
        raise InvalidInputError("dataset.corpus and dataset.queries must both be non-empty.")
    doc_ids = _check_ids(corpus.keys(), len(corpus), "dataset.corpus ids")
    doc_texts = [_doc_text(corpus[d], d) for d in doc_ids]
    query_ids = _check_ids(queries.keys(), len(queries), "dataset.queries ids")
    query_texts = check_texts([queries[q] for q in query_ids], what="dataset.queries")
    qrels = _check_qrels({q: r for q, r in dataset.qrels.items() if q in queries})
    if name is None:
        name = getattr(getattr(model, "model_card_data", None), "model_name", None)

    opts = {
        "batch_size": batch_size,
        "show_progress_bar": show_progress_bar,
        "convert_to_tensor": True,
        "normalize_embeddings": True,
    }
    q_emb = model.encode_query(query_texts, **opts).detach().to("cpu", torch.float32)
    d_emb = model.encode_document(doc_texts, **opts).detach().to("cpu", torch.float32)

    run = search(q_emb, d_emb, query_ids, doc_ids, k=k)
    scores = evaluate_run(run, qrels, ks, name=name)

    # Independent check with sentence-transformers' evaluator, on the same vectors.
    relevant = {q: {d for d, g in docs.items() if _is_relevant(g)} for q, docs in qrels.items()}
    evaluator = _PrecomputedIREvaluator(
        queries=dict(zip(query_ids, query_texts, strict=True)),
        corpus=dict(zip(doc_ids, doc_texts, strict=True)),
        relevant_docs=relevant,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=ks,
        precision_recall_at_k=ks,
        map_at_k=[k],
        batch_size=batch_size,
        name=name or "",
        write_csv=False,
        score_functions={"cosine": util.cos_sim},
        query_embeddings=q_emb,
        query_ids=query_ids,
    )
    raw = evaluator.compute_all_metrics(model, corpus_embeddings=d_emb)["cosine"]
    scores.evaluator_metrics = _evaluator_keys(raw)

    pairs = [(f"P@{c}", f"P@{c}") for c in ks] + [(f"R@{c}", f"R@{c}") for c in ks]
    pairs += [("MRR@10", "MRR@10"), (f"MAP@{k}", "MAP")]
    diffs = {
        ours: (scores.evaluator_metrics[theirs], scores.summary[ours])
        for theirs, ours in pairs
        if abs(scores.evaluator_metrics[theirs] - scores.summary[ours]) > 1e-6
    }
    if diffs:
        listed = ", ".join(
            f"{m}: evaluator {a:.6f} vs trec_eval {b:.6f}" for m, (a, b) in diffs.items()
        )
        warnings.warn(
            f"InformationRetrievalEvaluator and trec_eval disagree ({listed}). This comes from "
            "exactly tied scores (e.g. duplicate documents; the evaluator orders ties by "
            "ascending doc id, trec_eval by descending) or, for MAP, from a query with more "
            f"than k={k} relevant documents. summary/per_query follow trec_eval.",
            UserWarning,
            stacklevel=2,
        )

    scores.run = run
    scores.query_ids, scores.doc_ids = query_ids, doc_ids
    scores.query_embeddings, scores.doc_embeddings = q_emb.numpy(), d_emb.numpy()
    return scores


# --------------------------------------------------------------------------- comparing systems


def _as_series(x: Any, metric: str, what: str) -> pd.Series:
    if isinstance(x, RetrievalScores):
        x = x.per_query
    if isinstance(x, pd.DataFrame):
        if metric not in x.columns:
            raise InvalidInputError(
                f"{what} has no column {metric!r}; available: {list(x.columns)}. "
                "Pass metric=... with one of them."
            )
        x = x[metric]
    if isinstance(x, pd.Series):
        s = x.astype(float)
    else:
        arr = np.asarray(x, dtype=float)
        if arr.ndim != 1:
            raise InvalidInputError(
                f"{what} must be one score per query (1-D), got shape {arr.shape}."
            )
        s = pd.Series(arr)
    if not np.isfinite(s.to_numpy()).all():
        raise InvalidInputError(f"{what} contains NaN or infinite values; drop those queries.")
    return s


def _paired(a: Any, b: Any, metric: str) -> tuple[pd.Series, pd.Series]:
    """Per-query scores of two systems, aligned on query id."""
    sa, sb = _as_series(a, metric, "per_query_a"), _as_series(b, metric, "per_query_b")
    if isinstance(sa.index, pd.RangeIndex) or isinstance(sb.index, pd.RangeIndex):
        if len(sa) != len(sb):
            raise InvalidInputError(
                f"the two systems have {len(sa)} and {len(sb)} scores; a paired comparison "
                "needs one score per query for both."
            )
        sb = pd.Series(sb.to_numpy(), index=sa.index)
    else:
        if set(sa.index) != set(sb.index):
            only = sorted(set(sa.index) ^ set(sb.index))[:5]
            raise InvalidInputError(
                f"the two systems were scored on different queries (e.g. {only}). Evaluate both "
                "on the same dataset."
            )
        sb = sb.reindex(sa.index)
    if len(sa) < 2:
        raise InvalidInputError("a paired comparison needs at least 2 queries.")
    return sa, sb


def _mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def paired_bootstrap(
    per_query_a: Any,
    per_query_b: Any,
    n_resamples: int = 10_000,
    seed: int = 0,
    *,
    metric: str = "nDCG@10",
    confidence_level: float = 0.95,
) -> dict[str, float]:
    """Paired bootstrap of the mean per-query difference A - B (``scipy.stats.bootstrap``).

    Queries are resampled with replacement, keeping each query's pair of scores together.
    The interval is scipy's BCa interval. ``p_value`` is the two-sided percentile-bootstrap
    p-value: ``2 * min(#{boot <= 0} + 1, #{boot >= 0} + 1) / (n_resamples + 1)``, capped at 1,
    i.e. roughly the smallest alpha whose percentile interval excludes 0 (never exactly 0).

    Args:
        per_query_a: Scores of system A: a :class:`RetrievalScores`, its ``per_query``
            DataFrame, a Series indexed by query id, or a 1-D array.
        per_query_b: The same for system B (same queries).
        n_resamples: Bootstrap resamples.
        seed: Seed of the random generator (results are reproducible).
        metric: Column to compare when tables are given.
        confidence_level: Of the interval.

    Returns:
        ``{"mean_diff", "ci_low", "ci_high", "p_value", "n_queries"}``.

    Example:
        >>> r = paired_bootstrap([0.5, 0.7, 0.9, 0.6], [0.5, 0.7, 0.9, 0.6])
        >>> r["mean_diff"], r["ci_low"], r["ci_high"], r["p_value"]
        (0.0, 0.0, 0.0, 1.0)
    """
    a, b = _paired(per_query_a, per_query_b, metric)
    n_resamples = _check_k(n_resamples, "n_resamples")
    x, y = a.to_numpy(), b.to_numpy()
    diff = x - y
    mean = float(diff.mean())
    if np.ptp(diff) == 0:  # every query moved by the same amount: nothing to resample
        boot = np.full(n_resamples, mean)
        low = high = mean
    else:
        res = stats.bootstrap(
            (x, y),
            _mean_diff,
            paired=True,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            method="BCa",
            rng=np.random.default_rng(seed),
        )
        boot = res.bootstrap_distribution
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    tail = min(np.count_nonzero(boot <= 0), np.count_nonzero(boot >= 0)) + 1
    p = min(1.0, 2 * tail / (n_resamples + 1))
    return {"mean_diff": mean, "ci_low": low, "ci_high": high, "p_value": p, "n_queries": len(x)}


def paired_permutation_test(
    per_query_a: Any,
    per_query_b: Any,
    n_resamples: int = 10_000,
    seed: int = 0,
    *,
    metric: str = "nDCG@10",
) -> dict[str, float]:
    """Two-sided paired permutation (randomisation) test of mean(A - B) = 0.

    Wraps ``scipy.stats.permutation_test`` with ``permutation_type="samples"``: under the null
    hypothesis the two systems are exchangeable, so each query's A and B scores are swapped at
    random. The test is exact (all ``2**n`` swaps) when ``2**n <= n_resamples``.

    Args:
        per_query_a: Scores of system A (see :func:`paired_bootstrap` for accepted types).
        per_query_b: Scores of system B, same queries.
        n_resamples: Random permutations (when the exact test is too large).
        seed: Seed of the random generator.
        metric: Column to compare when tables are given.

    Returns:
        ``{"mean_diff", "p_value", "n_queries"}``.

    Example:
        >>> r = paired_permutation_test([1.0, 1.0, 1.0, 1.0, 1.0], [0.0] * 5)
        >>> r["mean_diff"], r["p_value"]  # exact: 2 of the 32 sign patterns are as extreme
        (1.0, 0.0625)
    """
    a, b = _paired(per_query_a, per_query_b, metric)
    x, y = a.to_numpy(), b.to_numpy()
    res = stats.permutation_test(
        (x, y),
        _mean_diff,
        permutation_type="samples",
        n_resamples=_check_k(n_resamples, "n_resamples"),
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return {"mean_diff": float(np.mean(x - y)), "p_value": float(res.pvalue), "n_queries": len(x)}


def wins_losses(
    per_query_a: Any,
    per_query_b: Any,
    metric: str = "nDCG@10",
    dataset: Any = None,
    top: int = 5,
    *,
    names: tuple[str, str] = ("A", "B"),
) -> pd.DataFrame:
    """The queries where A beats B by the most, then those where B beats A by the most.

    Args:
        per_query_a: Scores of system A (:class:`RetrievalScores`, DataFrame, Series...).
        per_query_b: Scores of system B, same queries.
        metric: The metric to compare.
        dataset: Optional object with ``queries`` (``{query_id: text}``) to show the text.
        top: How many queries to list on each side.
        names: Column labels of the two systems.

    Returns:
        DataFrame indexed by ``query_id`` with columns ``winner``, (``query``,) the two
        systems' scores and ``diff`` (= A - B); A's wins first, largest difference first.
        Queries where both score the same are left out.

    Example:
        >>> a = pd.Series({"q1": 0.9, "q2": 0.2, "q3": 0.5})
        >>> b = pd.Series({"q1": 0.4, "q2": 0.6, "q3": 0.5})
        >>> wins_losses(a, b, top=1)
                 winner    A    B  diff
        query_id
        q1            A  0.9  0.4   0.5
        q2            B  0.2  0.6  -0.4
    """
    top = _check_k(top, "top")
    if len(names) != 2 or names[0] == names[1]:
        raise InvalidInputError(f"names must be two different labels, got {names!r}.")
    a, b = _paired(per_query_a, per_query_b, metric)
    table = pd.DataFrame({names[0]: a, names[1]: b})
    table["diff"] = table[names[0]] - table[names[1]]
    table.index = table.index.map(str)
    table.index.name = "query_id"
    table = table.sort_index()
    wins = table[table["diff"] > 0].sort_values("diff", ascending=False, kind="stable").head(top)
    losses = table[table["diff"] < 0].sort_values("diff", kind="stable").head(top)
    out = pd.concat([wins.assign(winner=names[0]), losses.assign(winner=names[1])])
    cols = ["winner"]
    if dataset is not None:
        queries = getattr(dataset, "queries", dataset)
        if not isinstance(queries, Mapping):
            raise InvalidInputError(
                "dataset must have a queries dict {query_id: text} (or be that dict itself)."
            )
        out["query"] = [queries.get(q, "") for q in out.index]
        cols.append("query")
    return out[[*cols, names[0], names[1], "diff"]]
