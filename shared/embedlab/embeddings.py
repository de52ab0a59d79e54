"""Encode texts into vectors that remember their model, and compare them safely.

:func:`embed` is what the course helper packages around ``model.encode_document`` /
``encode_query``: input checks, unit length, a model tag, and an optional disk cache.
:func:`similarity` refuses to compare vectors of two different models.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from embedlab.errors import (
    IncompatibleEmbeddingsError,
    InvalidInputError,
    NotNormalizedError,
    check_texts,
    positive_int,
)
from embedlab.models import encoder, model_name_of, weights_sha256

KINDS = ("query", "document", None)


def is_normalized(x: Any, atol: float = 1e-3) -> bool:
    """True if every row of ``x`` has unit length (within ``atol``).

    >>> is_normalized(np.array([[3.0, 4.0]])), is_normalized(np.array([[0.6, 0.8]]))
    (False, True)
    """
    arr = np.asarray(x)
    if arr.size == 0:
        return False
    arr = arr.reshape(-1, arr.shape[-1])
    norms = np.sqrt(np.einsum("ij,ij->i", arr, arr, dtype=np.float64))  # no float64 copy
    return bool(np.all(np.abs(norms - 1.0) <= atol))


class Embeddings(np.ndarray):
    """A ``(n, dims)`` float array tagged with the ``model`` that made it and its ``kind``.

    Slices keep the tags; arithmetic gives plain arrays. ``normalized`` is measured on the
    values each time it is read, so a truncated slice never claims unit length.
    """

    model: str | None
    kind: str | None

    def __new__(cls, data: Any, model: str | None = None, kind: str | None = None) -> Embeddings:
        obj = np.asarray(data).view(cls)
        obj.model, obj.kind = model, kind
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.model = getattr(obj, "model", None)
        self.kind = getattr(obj, "kind", None)

    def __array_wrap__(self, out_arr, context=None, return_scalar=False):  # noqa: ANN001
        out = np.asarray(out_arr)  # new numbers, not a model's embeddings
        return out[()] if return_scalar else out

    def __reduce__(self):
        return (Embeddings, (np.asarray(self), self.model, self.kind))

    @property
    def normalized(self) -> bool:
        """Whether every row has unit length, measured now."""
        return is_normalized(self)

    def __repr__(self) -> str:
        return (
            f"Embeddings(shape={self.shape}, model={self.model!r}, kind={self.kind!r}, "
            f"normalized={self.normalized})"
        )


def _warn_if_truncated(model: Any, texts: list[str]) -> None:
    limit, tokenizer = getattr(model, "max_seq_length", None), getattr(model, "tokenizer", None)
    # a token covers at least one character: only texts longer than the limit can overflow
    long_texts = [t for t in texts if limit and len(t) > limit - 2]
    if not long_texts or tokenizer is None or limit > 100_000:
        return
    ids = tokenizer(long_texts, truncation=False, verbose=False)["input_ids"]
    n = sum(len(i) > limit for i in ids)
    if n:
        warnings.warn(
            f"{n} of {len(texts)} texts are longer than {model_name_of(model)}'s {limit}-token "
            "limit and were truncated: their ends are not embedded. Split long documents into "
            "chunks.",
            stacklevel=3,
        )


def _encode(method: Any, texts: list[str], batch_size: int, normalize: bool, **kw: Any):
    """``method(texts)``; on a GPU out-of-memory error, halve the batch size and retry."""
    progress = len(texts) >= 2000 and not (os.environ.get("CI") or os.environ.get("EMBEDLAB_QUIET"))
    while True:
        try:
            return method(
                texts,
                batch_size=batch_size,
                normalize_embeddings=normalize,
                convert_to_numpy=True,
                show_progress_bar=progress,
                **kw,
            )
        except Exception as exc:
            if "out of memory" not in str(exc).lower() and type(exc).__name__ != "OutOfMemoryError":
                raise
            if batch_size == 1:
                raise InvalidInputError(
                    "the GPU ran out of memory even with batch_size=1. Use a smaller model, "
                    "shorter texts, or device='cpu'."
                ) from exc
            warnings.warn(
                f"GPU out of memory at batch_size={batch_size}; retrying with "
                f"batch_size={batch_size // 2}.",
                stacklevel=3,
            )
            batch_size //= 2
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def embed(
    model: Any,
    texts: str | Iterable[str],
    *,
    kind: str | None = "document",
    batch_size: int = 32,
    normalize: bool = True,
    cache: Any = None,
    **encode_kwargs: Any,
) -> Embeddings:
    """Encode texts with the model's query or document prompt; return tagged unit vectors.

    ``kind="query"`` calls ``model.encode_query``, ``"document"`` ``model.encode_document``,
    ``None`` plain ``model.encode``. A warning says how many texts were longer than the
    model reads; on a GPU out-of-memory error the batch is halved and retried.

    Args:
        model: A model from :func:`embedlab.load_model` (or any sentence-transformers model).
        texts: One string or a list of strings.
        kind: ``"query"``, ``"document"`` or ``None``.
        batch_size: Texts per forward pass.
        normalize: Scale every vector to unit length, so a dot product is the cosine.
        cache: ``True`` for the course's disk cache, or an :class:`EmbeddingCache`: texts
            embedded before with the same model and settings are read back, not encoded.
        **encode_kwargs: Passed to the encode method (e.g. ``truncate_dim=128``).
    """
    items = check_texts(texts)
    if kind not in KINDS:
        raise InvalidInputError(f"kind must be 'query', 'document' or None, got {kind!r}.")
    positive_int(batch_size, "batch_size", "Try 32 on CPU, 128 on GPU.")
    method = encoder(model, kind)
    _warn_if_truncated(model, items)

    def encode(batch: list[str]) -> np.ndarray:
        return _encode(method, batch, batch_size, normalize, **encode_kwargs)

    if cache is None or cache is False:
        vectors = encode(items)
    else:
        from embedlab.cache import cached_encode

        if "prompt" in encode_kwargs or "prompt_name" in encode_kwargs:
            raise InvalidInputError("cache= cannot be combined with a custom prompt: use kind=.")
        if other := sorted(set(encode_kwargs) - {"truncate_dim", "device"}):
            raise InvalidInputError(
                f"cache= cannot be combined with {', '.join(other)}: the cache key covers kind, "
                "normalize and truncate_dim only. Pass cache=False."
            )
        vectors = cached_encode(
            model,
            items,
            kind=kind,
            normalize=normalize,
            cache=cache,
            encode=encode,
            truncate_dim=encode_kwargs.get("truncate_dim"),
        )
    # float32 always: API models return float64
    return Embeddings(np.asarray(vectors, dtype=np.float32), model_name_of(model), kind)


def unit_rows(x: Any) -> np.ndarray:
    """Each row of ``x`` scaled to unit length; an all-zero row stays zero (the course's one
    row normalisation: search, the API model and the labs use it).

    >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    arr = np.asarray(x)
    return arr / np.maximum(np.linalg.norm(arr, axis=-1, keepdims=True), 1e-12)


def normalize(x: Any) -> np.ndarray:
    """Scale each row to unit length (an :class:`Embeddings` keeps its tags); refuses a row of
    zeros, which has no direction.

    >>> normalize(np.array([[3.0, 4.0]]))
    array([[0.6, 0.8]])
    """
    arr = np.asarray(x)
    if arr.ndim not in (1, 2):
        raise InvalidInputError(f"expected a vector or a (n, dims) matrix, got shape {arr.shape}.")
    if not np.all(np.any(arr != 0, axis=-1)):
        raise InvalidInputError(
            "a vector of all zeros cannot be normalised (it has no direction). "
            "Check for empty texts or failed encodes."
        )
    out = unit_rows(arr)
    return Embeddings(out, x.model, x.kind) if isinstance(x, Embeddings) else out


def require_normalized(x: Any, what: str = "embeddings") -> Any:
    """Return ``x`` if its rows have unit length, else raise :class:`NotNormalizedError`."""
    if not is_normalized(x):
        arr = np.asarray(x, dtype=np.float64)
        norms = np.linalg.norm(arr.reshape(-1, arr.shape[-1]), axis=1)
        bad = np.flatnonzero(np.abs(norms - 1) > 1e-3)
        raise NotNormalizedError(
            f"{what} are not unit length: row {bad[0]} has norm {norms[bad[0]]:.3g} "
            f"({len(bad)} of {len(norms)} rows differ from 1 by more than 0.001; norms from "
            f"{norms.min():.3g} to {norms.max():.3g}). A dot product of unnormalised vectors is "
            "not their cosine. Normalise first: embedlab.normalize(x), or encode with "
            "normalize_embeddings=True (after cutting dimensions, normalise again)."
        )
    return x


def check_compatible(a: Any, b: Any) -> None:
    """Raise :class:`IncompatibleEmbeddingsError` unless ``a`` and ``b`` can be compared."""
    ma, mb = getattr(a, "model", None), getattr(b, "model", None)
    if ma is not None and mb is not None and ma != mb:
        raise IncompatibleEmbeddingsError(
            f"these vectors come from two different models ({ma!r} and {mb!r}). Each model "
            "has its own vector space, so comparing across models is meaningless even when "
            "the dimensions match. Embed queries and documents with the same model."
        )
    da, db = np.shape(a)[-1], np.shape(b)[-1]
    if da != db:
        raise IncompatibleEmbeddingsError(
            f"dimension mismatch: {da} vs {db}. The vectors come from different models (or "
            "one was truncated). Re-embed both sides with the same model and settings."
        )


def as_matrix(x: Any, what: str) -> np.ndarray:
    """``x`` as a 2-D float32 array with at least one row (one vector becomes one row)."""
    if x is None:
        raise InvalidInputError(f"{what} is None: pass an (n, dims) array of embeddings.")
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(f"{what} must hold numbers, got dtype {arr.dtype}.")
    arr = arr[None, :] if arr.ndim == 1 else arr
    if arr.ndim != 2 or 0 in arr.shape:
        raise InvalidInputError(
            f"{what} must be a vector or an (n, dims) matrix with n > 0, got shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        row = np.flatnonzero(~np.isfinite(arr).all(axis=1))[0]
        raise InvalidInputError(
            f"{what} contains NaN or infinite values (row {row}): every score computed from "
            "them would be NaN. Re-embed the texts."
        )
    return arr.astype(np.float32, copy=False)


def similarity(a: Any, b: Any = None) -> np.ndarray:
    """Cosine similarity of the rows of ``a`` and ``b`` (default: ``a``), after checking that
    both come from the same model. Uses ``sentence_transformers.util.cos_sim``."""
    from sentence_transformers.util import cos_sim

    a2 = as_matrix(a, "a")
    b2 = a2 if b is None else as_matrix(b, "b")
    check_compatible(a, a if b is None else b)
    return cos_sim(a2, b2).numpy()


def without_normalize(model: Any) -> Any:
    """The same model without its final ``Normalize`` layer (shares weights; for teaching)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize

    modules = list(model)
    if not modules or not isinstance(modules[-1], Normalize):
        return model
    raw = SentenceTransformer(modules=modules[:-1], device=str(model.device))
    raw.embedlab_info = {**getattr(model, "embedlab_info", {}), "folder": None}
    if weights := weights_sha256(model):  # same weights, other vectors: another cache key
        raw.cache_identity = f"{weights} without Normalize"
    return raw
