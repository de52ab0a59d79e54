"""Smaller embeddings: int8 / binary quantisation and Matryoshka truncation.

Three ways to shrink a vector index, and helpers to measure what each one costs in quality:

* **int8** (scalar quantisation): each dimension is cut into 256 buckets between a minimum
  and a maximum learnt from *calibration* embeddings. 4x smaller than float32.
* **binary**: keep one bit per dimension (``value > 0``), packed 8 to a byte
  (sentence-transformers' ``"ubinary"``). 32x smaller, searched with the Hamming distance.
* **rescoring**: search the small index for ``k * rescore_multiplier`` candidates, then
  re-rank them with the *float* query against the quantised documents. It recovers most of
  the lost quality and needs no extra memory for the documents.
* **Matryoshka truncation**: keep the first ``dims`` dimensions and re-normalise.

The quantisation itself is done by :func:`sentence_transformers.util.quantize_embeddings`;
this module adds the search, the rescoring and the comparison tables. Runs are returned in
the TREC format used by :mod:`embedlab.retrieval`, ``{query_id: {doc_id: score}}`` (higher
is better), so they can be scored with ``evaluate_run``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from embedlab.errors import IncompatibleEmbeddingsError, InvalidInputError, NotNormalizedError

__all__ = [
    "PRECISIONS",
    "memory_footprint",
    "calibration_ranges",
    "quantize",
    "quantized_search",
    "truncate_and_normalize",
    "compare_precisions",
    "compare_truncation",
]

Precision = Literal["float32", "int8", "binary"]
Run = dict[Hashable, dict[Hashable, float]]

#: The precisions understood by :func:`quantize` and :func:`quantized_search`.
PRECISIONS: tuple[str, ...] = ("float32", "int8", "binary")

_NORM_TOLERANCE = 1e-3
# Upper bound on the number of elements of a temporary (queries x docs [x bytes]) array.
_BLOCK_ELEMENTS = 1 << 23


# --------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------


def _bytes_per_vector(dims: int, precision: str) -> int:
    if precision == "float32":
        return 4 * dims
    if precision == "int8":
        return dims
    return math.ceil(dims / 8)  # binary: 1 bit per dimension, padded to whole bytes


def _human_bytes(n: int) -> str:
    """Decimal (SI) units, as disk and RAM sizes are usually quoted: ``1_536_000 -> '1.536 MB'``."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            break
        value /= 1000
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidInputError(
            f"{name} must be a positive integer, got {value!r} ({type(value).__name__})."
        )
    if value <= 0:
        raise InvalidInputError(f"{name} must be a positive integer, got {value}.")
    return int(value)


def memory_footprint(n_docs: int, dims: int) -> pd.DataFrame:
    """How much memory ``n_docs`` vectors of ``dims`` dimensions take at each precision.

    Sizes use decimal units (1 MB = 1,000,000 bytes). Binary vectors are padded to a whole
    number of bytes, so the ratio is exactly 32 only when ``dims`` is a multiple of 8.

    Args:
        n_docs: Number of vectors in the index.
        dims: Dimensions of one vector (384 for all-MiniLM-L6-v2).

    Returns:
        One row per precision (``float32``, ``int8``, ``binary``) with the columns
        ``bytes_per_vector``, ``total_bytes``, ``size`` (human readable) and
        ``memory_ratio`` (float32 size divided by this size: 4.0 means four times smaller).

    Raises:
        InvalidInputError: If ``n_docs`` or ``dims`` is not a positive integer.

    Example:
        >>> memory_footprint(1_000_000, 384)  # doctest: +NORMALIZE_WHITESPACE
                   bytes_per_vector  total_bytes      size  memory_ratio
        precision
        float32                1536   1536000000  1.536 GB           1.0
        int8                    384    384000000    384 MB           4.0
        binary                   48     48000000     48 MB          32.0
    """
    n_docs = _check_positive_int(n_docs, "n_docs")
    dims = _check_positive_int(dims, "dims")
    rows = []
    for precision in PRECISIONS:
        per_vector = _bytes_per_vector(dims, precision)
        rows.append(
            {
                "precision": precision,
                "bytes_per_vector": per_vector,
                "total_bytes": per_vector * n_docs,
                "size": _human_bytes(per_vector * n_docs),
                "memory_ratio": 4 * dims / per_vector,
            }
        )
    return pd.DataFrame(rows).set_index("precision")


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------


def _as_float_matrix(emb: Any, what: str) -> np.ndarray:
    """Return ``emb`` as a finite 2-D float32 array, or raise a clear error."""
    if emb is None:
        raise InvalidInputError(f"{what} is None. Pass a 2-D array of embeddings.")
    if hasattr(emb, "detach"):  # torch tensor
        emb = emb.detach().cpu().numpy()
    arr = np.asarray(emb)
    if arr.dtype.kind in "iub":
        raise InvalidInputError(
            f"{what} has dtype {arr.dtype}: these look already quantised. Pass the float "
            "embeddings from model.encode(...); this function quantises them itself."
        )
    if arr.dtype.kind != "f":
        raise InvalidInputError(
            f"{what} must be a numeric float array, got dtype {arr.dtype}. Pass the output "
            "of model.encode(...)."
        )
    if arr.ndim != 2:
        hint = " For a single vector use emb[None, :]." if arr.ndim == 1 else ""
        raise InvalidInputError(
            f"{what} must be 2-D (n_vectors, dims), got shape {arr.shape}.{hint}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(f"{what} is empty (shape {arr.shape}). Pass at least one vector.")
    if not np.isfinite(arr).all():
        raise InvalidInputError(
            f"{what} contains NaN or infinite values. Check how the embeddings were made."
        )
    return arr.astype(np.float32, copy=False)


def _check_normalized(arr: np.ndarray, what: str) -> None:
    norms = np.sqrt(np.einsum("ij,ij->i", arr, arr, dtype=np.float64))
    bad = np.flatnonzero(np.abs(norms - 1.0) > _NORM_TOLERANCE)
    if bad.size:
        i = int(bad[0])
        raise NotNormalizedError(
            f"{what} are not unit length: row {i} has norm {norms[i]:.4g} ({bad.size} of "
            f"{len(arr)} rows differ from 1 by more than {_NORM_TOLERANCE:g}). Dot products "
            "equal cosine similarities only for unit vectors: encode with "
            "normalize_embeddings=True, or divide each row by its norm "
            "(after slicing dimensions, use truncate_and_normalize)."
        )


def _check_ids(ids: Iterable[Hashable], n: int, what: str, emb_name: str) -> list[Hashable]:
    if ids is None or isinstance(ids, (str, bytes)):
        raise InvalidInputError(
            f"{what} must be a list of ids, one per row of {emb_name}, got {ids!r:.40}."
        )
    ids = list(ids)
    if len(ids) != n:
        raise InvalidInputError(
            f"{what} has {len(ids)} ids but {emb_name} has {n} rows. Pass exactly one id per "
            "embedding, in the same order."
        )
    if len(set(ids)) != len(ids):
        seen: set = set()
        dup = next(x for x in ids if x in seen or seen.add(x))
        raise InvalidInputError(
            f"{what} contains the id {dup!r} more than once. Ids must be unique, otherwise "
            "results overwrite each other in the run."
        )
    return ids


def _check_same_dims(query: np.ndarray, docs: np.ndarray) -> None:
    if query.shape[1] != docs.shape[1]:
        raise IncompatibleEmbeddingsError(
            f"query embeddings have {query.shape[1]} dimensions but document embeddings have "
            f"{docs.shape[1]}. Embed queries and documents with the same model (and the same "
            "truncate_dim)."
        )


def _check_precision(precision: Any) -> str:
    if precision not in PRECISIONS:
        hint = ' ("ubinary" is called "binary" here)' if precision == "ubinary" else ""
        raise InvalidInputError(
            f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}{hint}."
        )
    return precision


# --------------------------------------------------------------------------------------
# Quantisation
# --------------------------------------------------------------------------------------


def calibration_ranges(calibration_embeddings: Any) -> np.ndarray:
    """Per-dimension ``[min, max]`` of a calibration sample, the int8 bucket boundaries.

    Compute them once from a representative sample of *document* embeddings (a few
    thousand is plenty) and reuse them for every vector you quantise later, so that all
    vectors share the same buckets.

    Args:
        calibration_embeddings: ``(n, dims)`` float embeddings, ``n >= 2``.

    Returns:
        A ``(2, dims)`` float32 array: row 0 the minimum, row 1 the maximum of each dimension.

    Raises:
        InvalidInputError: If the sample is not a 2-D float array of at least 2 rows.

    Example:
        >>> calibration_ranges(np.array([[0.6, -0.8], [-0.6, 0.8], [0.0, 1.0]]))
        array([[-0.6, -0.8],
               [ 0.6,  1. ]], dtype=float32)
    """
    cal = _as_float_matrix(calibration_embeddings, "calibration_embeddings")
    if len(cal) < 2:
        raise InvalidInputError(
            "calibration_embeddings has a single row: a minimum and a maximum cannot be learnt "
            "from one vector. Pass a sample of (ideally thousands of) document embeddings."
        )
    return np.vstack((cal.min(axis=0), cal.max(axis=0)))


def _resolve_ranges(
    ranges: Any, calibration_embeddings: Any, fallback: np.ndarray, fallback_name: str
) -> np.ndarray:
    dims = fallback.shape[1]
    if ranges is not None:
        if calibration_embeddings is not None:
            raise InvalidInputError(
                "Pass either ranges or calibration_embeddings, not both: the ranges are "
                "computed from the calibration embeddings."
            )
        r = np.asarray(ranges, dtype=np.float32)
        if r.shape != (2, dims) or not np.isfinite(r).all():
            raise InvalidInputError(
                f"ranges must be a finite (2, {dims}) array of per-dimension [min, max], got "
                f"shape {r.shape}. Build it with calibration_ranges(sample_embeddings)."
            )
        return r
    if calibration_embeddings is not None:
        r = calibration_ranges(calibration_embeddings)
        if r.shape[1] != dims:
            raise IncompatibleEmbeddingsError(
                f"calibration_embeddings have {r.shape[1]} dimensions but {fallback_name} "
                f"have {dims}. Calibrate with embeddings from the same model."
            )
        return r
    warnings.warn(
        f"int8 quantisation without calibration: the bucket ranges are taken from the "
        f"{fallback_name} themselves. Pass calibration_embeddings= (a separate sample of "
        "document embeddings) or ranges=calibration_ranges(sample) to fix the buckets once "
        "for every vector you will ever index.",
        UserWarning,
        stacklevel=3,
    )
    return calibration_ranges(fallback)


def quantize(
    emb: Any,
    precision: Precision,
    *,
    calibration_embeddings: Any = None,
    ranges: Any = None,
) -> np.ndarray:
    """Quantise float embeddings with sentence-transformers' ``quantize_embeddings``.

    * ``"float32"``: unchanged (as float32).
    * ``"int8"``: with ``start = min`` and ``step = (max - min) / 255`` per dimension
      (from ``ranges`` or ``calibration_embeddings``),
      ``q = clip(floor((x - start) / step), 0, 255) - 128`` as ``np.int8``.
      Values outside the calibration range are clipped to the first or last bucket.
    * ``"binary"``: the bits ``x > 0`` packed 8 per byte with ``np.packbits`` as
      ``np.uint8`` (sentence-transformers calls this ``"ubinary"``), ``ceil(dims / 8)``
      bytes per vector.

    Args:
        emb: ``(n, dims)`` float embeddings.
        precision: ``"float32"``, ``"int8"`` or ``"binary"``.
        calibration_embeddings: int8 only: a sample of embeddings to learn the ranges from.
        ranges: int8 only: a ``(2, dims)`` array from :func:`calibration_ranges`.
            If neither is given, the ranges come from ``emb`` itself, with a warning.

    Returns:
        The quantised array.

    Raises:
        InvalidInputError: For an unknown precision or malformed input.
        IncompatibleEmbeddingsError: If the calibration sample has other dimensions.

    Example:
        >>> emb = np.array([[0.6, -0.8], [-0.6, 0.8]])
        >>> quantize(emb, "binary")
        array([[128],
               [ 64]], dtype=uint8)
        >>> quantize(emb, "int8", ranges=[[-0.6, -0.8], [0.6, 0.8]])
        array([[ 127, -128],
               [-128,  127]], dtype=int8)
    """
    from sentence_transformers.util import quantize_embeddings

    precision = _check_precision(precision)
    arr = _as_float_matrix(emb, "emb")
    if precision == "float32":
        return arr.copy()
    if precision == "binary":
        return quantize_embeddings(arr, precision="ubinary")
    r = _resolve_ranges(ranges, calibration_embeddings, arr, "embeddings being quantised")
    return quantize_embeddings(arr, precision="int8", ranges=r)


def _dequantize_int8(q: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Map int8 codes back to the float coordinates of the bucket starts (float32)."""
    starts = ranges[0]
    steps = (ranges[1] - starts) / 255
    steps = np.where(steps == 0, 1, steps)  # same guard as quantize_embeddings
    return ((q.astype(np.float32) + 128) * steps + starts).astype(np.float32)


def _unpack_signs(packed: np.ndarray, dims: int) -> np.ndarray:
    """Packed bits -> ±1 float32 vectors of ``dims`` dimensions (padding bits dropped)."""
    bits = np.unpackbits(packed, axis=-1)[..., :dims]
    return bits.astype(np.float32) * 2 - 1


# --------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``k`` highest scores per row, best first.

    Equal scores are ordered by increasing column index.
    """
    n_rows, n = scores.shape
    k = min(k, n)
    if k < n:
        # the k-th best score, then everything above it plus the first-indexed ties
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
        above = scores > kth
        ties = scores == kth
        need = k - above.sum(axis=1, keepdims=True)
        chosen = above | (ties & (np.cumsum(ties, axis=1) <= need))
        idx = np.nonzero(chosen)[1].reshape(n_rows, k)
    else:
        idx = np.broadcast_to(np.arange(n), scores.shape)
    vals = np.take_along_axis(scores, idx, axis=1)
    order = np.lexsort((idx, -vals), axis=-1)
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(vals, order, axis=1)


def _blocks(n_queries: int, per_query: int) -> Iterable[slice]:
    size = max(1, _BLOCK_ELEMENTS // max(1, per_query))
    for start in range(0, n_queries, size):
        yield slice(start, min(start + size, n_queries))


def _dense_top_k(query: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    idx, vals = [], []
    for block in _blocks(len(query), len(docs)):
        i, v = _top_k(query[block] @ docs.T, k)
        idx.append(i)
        vals.append(v)
    return np.concatenate(idx), np.concatenate(vals)


def _int8_top_k(query: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by the integer dot product of int8 codes.

    The products are computed with BLAS in floating point, which is exact here: every
    partial sum is an integer of magnitude at most ``dims * 128 * 128``, below 2**24
    (float32) for ``dims <= 1024`` and below 2**53 (float64) otherwise.
    """
    dtype = np.float32 if query.shape[1] <= 1024 else np.float64
    return _dense_top_k(query.astype(dtype), docs.astype(dtype), k)


def _hamming_numpy(query: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k smallest Hamming distances with numpy (XOR then popcount)."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        popcount = np.bitwise_count
        if docs.shape[1] % 8 == 0:  # 64 bits at a time: same counts, fewer operations
            query = np.ascontiguousarray(query).view(np.uint64)
            docs = np.ascontiguousarray(docs).view(np.uint64)
    else:  # pragma: no cover - numpy 1.x: look the bit counts of each byte up in a table
        table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
        popcount = table.__getitem__
    idx, dist = [], []
    for block in _blocks(len(query), len(docs) * docs.shape[1]):
        d = popcount(query[block, None, :] ^ docs[None, :, :]).sum(axis=-1, dtype=np.int64)
        i, v = _top_k(-d, k)
        idx.append(i)
        dist.append(-v)
    return np.concatenate(idx), np.concatenate(dist)


def _hamming_faiss(query: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k smallest Hamming distances with an exact ``faiss.IndexBinaryFlat``."""
    import faiss

    index = faiss.IndexBinaryFlat(docs.shape[1] * 8)
    index.add(np.ascontiguousarray(docs))
    dist, idx = index.search(np.ascontiguousarray(query), min(k, len(docs)))
    return idx.astype(np.int64), dist.astype(np.int64)


def _resolve_backend(backend: str) -> str:
    if backend not in ("auto", "faiss", "numpy"):
        raise InvalidInputError(f"backend must be 'auto', 'faiss' or 'numpy', got {backend!r}.")
    if backend == "numpy":
        return backend
    try:
        import faiss  # noqa: F401
    except ImportError:
        if backend == "faiss":
            raise InvalidInputError(
                "backend='faiss' needs the faiss library: pip install faiss-cpu, or use "
                "backend='numpy' (same results, slower)."
            ) from None
        return "numpy"
    return "faiss"


def _rescore(
    query: np.ndarray, candidates: np.ndarray, doc_vectors: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Float query · float document vectors, for each query's own candidates."""
    scores = np.empty(candidates.shape, dtype=np.float32)
    dims = query.shape[1]
    for block in _blocks(len(query), candidates.shape[1] * dims):
        vectors = doc_vectors(candidates[block])  # (b, m, dims)
        scores[block] = np.einsum("qd,qmd->qm", query[block], vectors)
    return scores


def _to_run(
    idx: np.ndarray, scores: np.ndarray, query_ids: Sequence[Hashable], doc_ids: Sequence
) -> Run:
    return {
        qid: {
            doc_ids[j]: float(s) for j, s in zip(row_idx.tolist(), row_scores.tolist(), strict=True)
        }
        for qid, row_idx, row_scores in zip(query_ids, idx, scores, strict=True)
    }


def quantized_search(
    query_emb: Any,
    doc_emb: Any,
    query_ids: Iterable[Hashable],
    doc_ids: Iterable[Hashable],
    precision: Precision,
    *,
    calibration_embeddings: Any = None,
    ranges: Any = None,
    rescore: bool = False,
    rescore_multiplier: int = 4,
    k: int = 100,
    backend: Literal["auto", "faiss", "numpy"] = "auto",
) -> Run:
    """Exact top-k search over float32, int8 or binary document vectors, as a TREC run.

    Both inputs are float, unit-length embeddings (``model.encode(...,
    normalize_embeddings=True)``); the documents *and* the queries are quantised here, with
    the same int8 ranges.

    * ``"float32"``: score = ``query · doc`` (cosine similarity).
    * ``"int8"``: score = integer dot product of the int8 codes (like usearch's ``i8``
      index). Calibration matters: the buckets come from ``calibration_embeddings`` or
      ``ranges``; if you pass neither, they come from ``doc_emb`` with a warning. A fixed
      sample is what you need in production, where documents arrive after the index is built.
    * ``"binary"``: score = ``-hamming(query_bits, doc_bits)``, so higher is better. Many
      documents tie on the same integer distance. ``backend="faiss"`` uses an exact
      ``faiss.IndexBinaryFlat`` (10-20x faster than numpy on 100k x 384 vectors);
      ``"numpy"`` computes XOR + popcount and gives the same distances.

    With ``rescore=True`` (int8 and binary), the first stage keeps
    ``k * rescore_multiplier`` candidates, which are re-ranked by the **float query** dot
    the quantised document: the ±1 sign vector for binary, the de-quantised bucket values
    ``(q + 128) * step + start`` for int8. This is what sentence-transformers'
    ``semantic_search_faiss(..., rescore=True)`` does (it dots the float query with the 0/1
    bits, which differs from ±1 by a constant per query: same ranking). The documents are
    never needed in float32, so the memory saving is kept.

    Args:
        query_emb: ``(n_queries, dims)`` float embeddings, unit length.
        doc_emb: ``(n_docs, dims)`` float embeddings, unit length.
        query_ids: One id per query row (use strings to evaluate with pytrec_eval).
        doc_ids: One unique id per document row.
        precision: ``"float32"``, ``"int8"`` or ``"binary"``.
        calibration_embeddings: int8 only: sample of document embeddings for the ranges.
        ranges: int8 only: ``(2, dims)`` ranges from :func:`calibration_ranges` (instead of
            ``calibration_embeddings``).
        rescore: Re-rank the candidates with the float query (ignored, with a warning,
            for float32).
        rescore_multiplier: How many candidates per result to rescore (>= 1).
        k: Results per query (capped at the number of documents).
        backend: Hamming search engine for binary: ``"auto"`` (faiss if installed),
            ``"faiss"`` or ``"numpy"``.

    Returns:
        ``{query_id: {doc_id: score}}`` with the ``k`` best documents per query, best first.

    Raises:
        InvalidInputError: Malformed embeddings, ids, precision or arguments.
        IncompatibleEmbeddingsError: Queries, documents or calibration of different dims.
        NotNormalizedError: If any embedding is not unit length (within 1e-3).

    Example:
        >>> docs = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
        >>> run = quantized_search(docs[:1], docs, ["q1"], ["a", "b", "c"], "float32", k=2)
        >>> {doc: round(score, 3) for doc, score in run["q1"].items()}
        {'a': 1.0, 'b': 0.6}
        >>> quantized_search(docs[:1], docs, ["q1"], ["a", "b", "c"], "binary", k=2)
        {'q1': {'a': 0.0, 'b': -1.0}}
    """
    precision = _check_precision(precision)
    query = _as_float_matrix(query_emb, "query_emb")
    docs = _as_float_matrix(doc_emb, "doc_emb")
    _check_same_dims(query, docs)
    _check_normalized(query, "query embeddings")
    _check_normalized(docs, "document embeddings")
    qids = _check_ids(query_ids, len(query), "query_ids", "query_emb")
    dids = _check_ids(doc_ids, len(docs), "doc_ids", "doc_emb")
    k = _check_positive_int(k, "k")
    rescore_multiplier = _check_positive_int(rescore_multiplier, "rescore_multiplier")
    if not isinstance(rescore, (bool, np.bool_)):
        raise InvalidInputError(f"rescore must be True or False, got {rescore!r}.")
    if precision != "int8" and (ranges is not None or calibration_embeddings is not None):
        raise InvalidInputError(
            f"ranges and calibration_embeddings only apply to precision='int8', not "
            f"{precision!r}. Remove them."
        )

    if precision == "float32":
        if rescore:
            warnings.warn(
                "rescore=True has no effect with precision='float32': the scores are already "
                "exact.",
                UserWarning,
                stacklevel=2,
            )
        idx, scores = _dense_top_k(query, docs, k)
        return _to_run(idx, scores, qids, dids)

    first_k = k * rescore_multiplier if rescore else k
    if precision == "int8":
        r = _resolve_ranges(ranges, calibration_embeddings, docs, "document embeddings")
        q_codes = quantize(query, "int8", ranges=r)
        d_codes = quantize(docs, "int8", ranges=r)
        idx, scores = _int8_top_k(q_codes, d_codes, first_k)

        def doc_vectors(cand: np.ndarray) -> np.ndarray:
            return _dequantize_int8(d_codes[cand], r)

    else:
        q_bits = quantize(query, "binary")
        d_bits = quantize(docs, "binary")
        search = _hamming_faiss if _resolve_backend(backend) == "faiss" else _hamming_numpy
        idx, dist = search(q_bits, d_bits, first_k)
        scores = -dist
        dims = docs.shape[1]

        def doc_vectors(cand: np.ndarray) -> np.ndarray:
            return _unpack_signs(d_bits[cand], dims)

    if rescore:
        order_idx, scores = _top_k(_rescore(query, idx, doc_vectors), k)
        idx = np.take_along_axis(idx, order_idx, axis=1)
    return _to_run(idx, scores, qids, dids)


# --------------------------------------------------------------------------------------
# Matryoshka truncation
# --------------------------------------------------------------------------------------


def truncate_and_normalize(emb: Any, dims: int) -> np.ndarray:
    """Keep the first ``dims`` dimensions (Matryoshka) and rescale each row to unit length.

    Slicing alone is not enough: the first 64 of 384 unit-length coordinates have a norm
    below 1, so their dot products are no longer cosine similarities. A model loaded with
    ``SentenceTransformer(name, truncate_dim=dims)`` (or
    ``sentence_transformers.util.truncate_embeddings``) only does the slicing;
    re-normalise its output with this function (or ``normalize_embeddings=True``).
    Truncation works well only for models trained with a Matryoshka loss.

    Args:
        emb: ``(n, d)`` or ``(d,)`` float embeddings.
        dims: Number of leading dimensions to keep, ``0 < dims <= d``.

    Returns:
        A float32 array of shape ``(n, dims)`` (or ``(dims,)``) with unit-length rows.

    Raises:
        InvalidInputError: If ``dims`` is out of range, or a truncated row is all zeros.

    Example:
        >>> truncate_and_normalize(np.array([[3.0, 4.0, 12.0]]), 2)
        array([[0.6, 0.8]], dtype=float32)
    """
    from sentence_transformers.util import truncate_embeddings

    if hasattr(emb, "detach"):  # torch tensor
        emb = emb.detach().cpu().numpy()
    single = emb is not None and np.ndim(emb) == 1
    arr = _as_float_matrix(np.asarray(emb)[None, :] if single else emb, "emb")
    native = arr.shape[1]
    if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)):
        raise InvalidInputError(
            f"dims must be an integer between 1 and {native}, got {dims!r} ({type(dims).__name__})."
        )
    if not 0 < dims <= native:
        raise InvalidInputError(
            f"dims={dims} is out of range: these embeddings have {native} dimensions, so "
            f"dims must be between 1 and {native}. Truncation can only remove dimensions."
        )
    out = np.array(truncate_embeddings(arr, int(dims)), dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if zero.size:
        raise InvalidInputError(
            f"row {int(zero[0])} is all zeros in its first {dims} dimensions and cannot be "
            "normalised. Keep more dimensions or remove that embedding."
        )
    out /= norms
    return out[0] if single else out


# --------------------------------------------------------------------------------------
# Comparison tables
# --------------------------------------------------------------------------------------


def _score(evaluate: Callable[[Run, Any], float], run: Run, qrels: Any) -> float:
    value = evaluate(run, qrels)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"evaluate must return a number, got {type(value).__name__}. With "
            "embedlab.retrieval use e.g. "
            "evaluate=lambda run, qrels: evaluate_run(run, qrels).summary['nDCG@10']."
        ) from None


def _retention(scores: Sequence[float], baseline: float) -> list[float]:
    return [s / baseline if baseline > 0 else float("nan") for s in scores]


def compare_precisions(
    query_emb: Any,
    doc_emb: Any,
    query_ids: Iterable[Hashable],
    doc_ids: Iterable[Hashable],
    qrels: Mapping,
    evaluate: Callable[[Run, Any], float],
    calibration_embeddings: Any = None,
    *,
    k: int = 100,
    rescore_multiplier: int = 4,
    metric: str = "nDCG@10",
    backend: Literal["auto", "faiss", "numpy"] = "auto",
) -> pd.DataFrame:
    """Retrieval quality and memory of float32, int8 and binary search, with and without rescoring.

    Args:
        query_emb: ``(n_queries, dims)`` unit-length float embeddings.
        doc_emb: ``(n_docs, dims)`` unit-length float embeddings.
        query_ids: One id per query.
        doc_ids: One id per document.
        qrels: Relevance judgements, passed unchanged to ``evaluate``.
        evaluate: ``evaluate(run, qrels) -> float``, e.g.
            ``lambda run, qrels: evaluate_run(run, qrels).summary["nDCG@10"]``.
        calibration_embeddings: Sample of document embeddings for the int8 ranges; if
            None the documents themselves are used (one warning).
        k: Results per query.
        rescore_multiplier: Candidates per result for the rescored rows.
        metric: Name of the score column.
        backend: Hamming search engine, see :func:`quantized_search`.

    Returns:
        Rows ``float32``, ``int8``, ``int8+rescore``, ``binary``, ``binary+rescore``;
        columns ``bytes_per_vector``, ``memory_ratio`` (float32 size / this size),
        ``metric`` and ``retention`` (score / float32 score).

    Example:
        Noisy copies of 20 random documents must find their original among 200:

        >>> rng = np.random.default_rng(0)
        >>> docs = truncate_and_normalize(rng.standard_normal((200, 64)), 64)
        >>> queries = truncate_and_normalize(docs[:20] + 0.15 * rng.standard_normal((20, 64)), 64)
        >>> doc_ids = [f"d{i}" for i in range(200)]
        >>> qrels = {f"q{i}": {f"d{i}": 1} for i in range(20)}
        >>> def hit_rate(run, qrels):  # share of queries whose first result is relevant
        ...     return np.mean([next(iter(run[q])) in qrels[q] for q in qrels])
        >>> compare_precisions(queries, docs, list(qrels), doc_ids, qrels, hit_rate,
        ...                    calibration_embeddings=docs[:100], k=10, metric="hit@1")
        ... # doctest: +NORMALIZE_WHITESPACE
                        bytes_per_vector  memory_ratio  hit@1  retention
        method
        float32                      256           1.0   1.00       1.00
        int8                          64           4.0   1.00       1.00
        int8+rescore                  64           4.0   1.00       1.00
        binary                         8          32.0   0.70       0.70
        binary+rescore                 8          32.0   0.95       0.95
    """
    docs = _as_float_matrix(doc_emb, "doc_emb")
    dims = docs.shape[1]
    ranges = _resolve_ranges(None, calibration_embeddings, docs, "document embeddings")
    common = {"k": k, "rescore_multiplier": rescore_multiplier}
    configs = [
        ("float32", "float32", False, {}),
        ("int8", "int8", False, {"ranges": ranges}),
        ("int8+rescore", "int8", True, {"ranges": ranges}),
        ("binary", "binary", False, {"backend": backend}),
        ("binary+rescore", "binary", True, {"backend": backend}),
    ]
    rows = []
    for name, precision, rescore, extra in configs:
        run = quantized_search(
            query_emb, docs, query_ids, doc_ids, precision, rescore=rescore, **common, **extra
        )
        per_vector = _bytes_per_vector(dims, precision)
        rows.append(
            {
                "method": name,
                "bytes_per_vector": per_vector,
                "memory_ratio": 4 * dims / per_vector,
                metric: _score(evaluate, run, qrels),
            }
        )
    table = pd.DataFrame(rows).set_index("method")
    table["retention"] = _retention(table[metric].tolist(), table[metric].iloc[0])
    return table


def compare_truncation(
    query_emb: Any,
    doc_emb: Any,
    query_ids: Iterable[Hashable],
    doc_ids: Iterable[Hashable],
    qrels: Mapping,
    evaluate: Callable[[Run, Any], float],
    dims: Iterable[int] = (512, 256, 128, 64),
    *,
    k: int = 100,
    metric: str = "nDCG@10",
) -> pd.DataFrame:
    """Retrieval quality when embeddings are truncated to fewer dimensions (Matryoshka).

    The first row is the full (native) embedding; every entry of ``dims`` smaller than the
    native size follows, largest first. Entries ``>=`` the native size are skipped (384-d
    MiniLM has no 512-d version). Each truncation is re-normalised with
    :func:`truncate_and_normalize` and searched in float32.

    Args:
        query_emb: ``(n_queries, d)`` unit-length float embeddings.
        doc_emb: ``(n_docs, d)`` unit-length float embeddings.
        query_ids: One id per query.
        doc_ids: One id per document.
        qrels: Relevance judgements, passed unchanged to ``evaluate``.
        evaluate: ``evaluate(run, qrels) -> float``.
        dims: Sizes to try.
        k: Results per query.
        metric: Name of the score column.

    Returns:
        Indexed by ``dims``; columns ``bytes_per_vector`` (float32), ``memory_ratio``
        (native size / this size), ``metric`` and ``retention`` (score / native score).

    Raises:
        InvalidInputError: If an entry of ``dims`` is not a positive integer.

    Example:
        Random vectors are not Matryoshka-trained, so quality drops fast:

        >>> rng = np.random.default_rng(0)
        >>> docs = truncate_and_normalize(rng.standard_normal((200, 64)), 64)
        >>> queries = truncate_and_normalize(docs[:20] + 0.15 * rng.standard_normal((20, 64)), 64)
        >>> doc_ids = [f"d{i}" for i in range(200)]
        >>> qrels = {f"q{i}": {f"d{i}": 1} for i in range(20)}
        >>> def hit_rate(run, qrels):
        ...     return np.mean([next(iter(run[q])) in qrels[q] for q in qrels])
        >>> compare_truncation(queries, docs, list(qrels), doc_ids, qrels, hit_rate,
        ...                    dims=(128, 32, 8), k=10, metric="hit@1")
        ... # doctest: +NORMALIZE_WHITESPACE
              bytes_per_vector  memory_ratio  hit@1  retention
        dims
        64                 256           1.0   1.00       1.00
        32                 128           2.0   0.90       0.90
        8                   32           8.0   0.05       0.05
    """
    query = _as_float_matrix(query_emb, "query_emb")
    docs = _as_float_matrix(doc_emb, "doc_emb")
    _check_same_dims(query, docs)
    native = docs.shape[1]
    if isinstance(dims, (int, np.integer)):
        dims = (dims,)
    sizes = {_check_positive_int(d, "each entry of dims") for d in dims}
    sizes = [native] + sorted((d for d in sizes if d < native), reverse=True)
    rows = []
    for d in sizes:
        if d == native:
            q, e = query, docs
        else:
            q, e = truncate_and_normalize(query, d), truncate_and_normalize(docs, d)
        run = quantized_search(q, e, query_ids, doc_ids, "float32", k=k)
        rows.append(
            {
                "dims": d,
                "bytes_per_vector": 4 * d,
                "memory_ratio": native / d,
                metric: _score(evaluate, run, qrels),
            }
        )
    table = pd.DataFrame(rows).set_index("dims")
    table["retention"] = _retention(table[metric].tolist(), table[metric].iloc[0])
    return table
