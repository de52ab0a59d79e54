"""Smaller indexes: int8 / binary quantization with rescoring, and Matryoshka truncation.

Quantization is sentence-transformers' own ``quantize_embeddings``; binary search is its
``semantic_search_faiss``, int8 search a dot product of the codes (see
:func:`quantized_search`). This module adds the memory arithmetic, input checks and runs in
the course's format. Lab 2x's comparison tables live in ``embedlab.labs.lab2x``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from embedlab.embeddings import as_matrix, check_compatible, normalize, require_normalized
from embedlab.errors import InvalidInputError, positive_int
from embedlab.retrieval import Run, _check_ids, search, top_k

PRECISIONS = ("float32", "int8", "binary")


def bytes_per_vector(dims: int, precision: str = "float32") -> int:
    """4 bytes per dimension (float32), 1 (int8) or 1 bit, padded to whole bytes (binary)."""
    return {"float32": 4 * dims, "int8": dims, "binary": -(-dims // 8)}[precision]


def memory_footprint(n_docs: int, dims: int) -> pd.DataFrame:
    """Memory of ``n_docs`` vectors of ``dims`` dimensions at each precision (1 MB = 10^6 B).

    >>> memory_footprint(1_000_000, 384)["size"].tolist()
    ['1.5 GB', '384 MB', '48 MB']
    """
    positive_int(n_docs, "n_docs")
    positive_int(dims, "dims")
    rows = {}
    for precision in PRECISIONS:
        total = bytes_per_vector(dims, precision) * n_docs
        size = f"{total / 1e9:.1f} GB" if total >= 1e9 else f"{total / 1e6:.0f} MB"
        per = bytes_per_vector(dims, precision)
        rows[precision] = {
            "bytes_per_vector": per,
            "size": size,
            "memory_ratio": 4 * dims / per,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("precision")


def truncate_and_normalize(emb: Any, dims: int) -> np.ndarray:
    """Keep the first ``dims`` dimensions (Matryoshka) and scale each row back to unit length.

    >>> truncate_and_normalize([[3.0, 4.0, 12.0]], 2)
    array([[0.6, 0.8]], dtype=float32)
    """
    arr = as_matrix(emb, "embeddings")
    if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= arr.shape[1]:
        raise InvalidInputError(
            f"dims={dims!r} is out of range: these embeddings have {arr.shape[1]} dimensions, so "
            f"dims must be between 1 and {arr.shape[1]}. Truncation can only remove dimensions."
        )
    return normalize(arr[:, :dims])


def quantized_search(
    query_emb: Any,
    doc_emb: Any,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    precision: str = "binary",
    *,
    k: int = 100,
    rescore: bool = True,
    rescore_multiplier: int = 4,
    calibration_embeddings: Any = None,
) -> Run:
    """Search a quantized copy of the documents; returns a run.

    ``binary`` uses sentence-transformers' ``semantic_search_faiss`` (Hamming distance);
    ``int8`` learns each dimension's range from ``calibration_embeddings`` (a sample of your
    documents; default: the documents) and ranks by the dot product of the query's codes
    with the documents' codes. ``rescore`` fetches ``k * rescore_multiplier`` candidates,
    then re-ranks them by the float query's dot product with each candidate rebuilt from
    its codes (binary: its 0/1 bits; int8: the start of each code's bucket).
    """
    from sentence_transformers.util.quantization import (
        quantize_embeddings,
        semantic_search_faiss,
    )

    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}.")
    q = require_normalized(as_matrix(query_emb, "query embeddings"), "query embeddings")
    d = require_normalized(as_matrix(doc_emb, "document embeddings"), "document embeddings")
    check_compatible(query_emb, doc_emb)
    query_ids = _check_ids(query_ids, len(q), "query_ids")
    doc_ids = _check_ids(doc_ids, len(d), "doc_ids")
    positive_int(k, "k")
    if precision == "float32":
        return search(q, d, query_ids, doc_ids, k=k)
    calibration = (
        d if calibration_embeddings is None else as_matrix(calibration_embeddings, "calibration")
    )
    multiplier = positive_int(rescore_multiplier, "rescore_multiplier") if rescore else 1
    if precision == "binary":
        codes = quantize_embeddings(d, precision="ubinary")
        hits, _ = semantic_search_faiss(
            q,
            corpus_embeddings=codes,
            corpus_precision="ubinary",
            top_k=min(k, len(d)),
            rescore=rescore,
            rescore_multiplier=multiplier,
        )
        sign = 1.0 if rescore else -1.0  # without rescoring the score is a Hamming distance
        return {
            qid: {doc_ids[h["corpus_id"]]: sign * float(h["score"]) for h in row}
            for qid, row in zip(query_ids, hits, strict=True)
        }
    # int8 by hand, with the library's quantize_embeddings: faiss's only 8-bit path (uint8) ranks
    # by dot products of uncentred 0-255 codes (MiniLM nDCG@10 0.742 vs 0.775 here).
    qc, dc = (quantize_embeddings(x, "int8", calibration_embeddings=calibration) for x in (q, d))
    # exact integers in float32 BLAS (|sum| < 2**24 up to 1,024 dims), far faster than int matmul
    ftype = np.float32 if q.shape[1] <= 1024 else np.float64
    scores = qc.astype(ftype) @ dc.astype(ftype).T
    if rescore:  # the float query against the candidates, dequantized from their codes
        cand = top_k(scores, doc_ids, min(k * multiplier, len(d)))
        lo = calibration.min(0)
        approx = (dc[cand].astype(np.float32) + 128) * ((calibration.max(0) - lo) / 255) + lo
        scores = np.full(scores.shape, -np.inf, dtype=np.float32)
        scores[np.arange(len(q))[:, None], cand] = np.einsum("qd,qcd->qc", q, approx)
    best = top_k(scores, doc_ids, min(k, len(d)))
    return {
        qid: {doc_ids[j]: float(scores[i, j]) for j in best[i]} for i, qid in enumerate(query_ids)
    }
