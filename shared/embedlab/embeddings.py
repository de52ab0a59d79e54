"""Encode texts into vectors that remember which model made them.

:func:`embed` wraps ``model.encode_query`` / ``encode_document`` and returns an
:class:`Embeddings` array: a plain NumPy array with three tags (model name, kind,
normalised). Slices keep the tags; arithmetic results are plain arrays. The tags let
:func:`embedlab.similarity` refuse to compare vectors from two different models.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from embedlab._validate import check_texts
from embedlab.errors import InvalidInputError

__all__ = ["Embeddings", "embed", "normalize", "is_normalized", "model_name_of"]

_KINDS = ("query", "document", None)


class Embeddings(np.ndarray):
    """A float array of shape ``(n, dims)`` tagged with ``model``, ``kind`` and ``normalized``.

    Example:
        >>> e = embed(model, ["hi", "hello"], kind="query")
        >>> e.shape, e.model, e.kind
        # ((2, 384), 'all-MiniLM-L6-v2', 'query')
    """

    model: str | None
    kind: str | None
    normalized: bool

    def __new__(
        cls,
        data: Any,
        model: str | None = None,
        kind: str | None = None,
        normalized: bool | None = None,
    ) -> Embeddings:
        obj = np.asarray(data).view(cls)
        obj.model = model
        obj.kind = kind
        obj.normalized = bool(is_normalized(obj)) if normalized is None else normalized
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.model = getattr(obj, "model", None)
        self.kind = getattr(obj, "kind", None)
        self.normalized = getattr(obj, "normalized", False)

    def __array_wrap__(self, out_arr, context=None, return_scalar=False):  # noqa: ANN001
        # Results of arithmetic are new numbers, not embeddings of a model: return plain arrays.
        out = np.asarray(out_arr)
        return out[()] if return_scalar else out

    def __reduce__(self):  # pickle as a plain array plus tags
        return (Embeddings, (np.asarray(self), self.model, self.kind, self.normalized))

    def __repr__(self) -> str:
        return (
            f"Embeddings(shape={self.shape}, model={self.model!r}, kind={self.kind!r}, "
            f"normalized={self.normalized})"
        )


def is_normalized(x: np.ndarray, atol: float = 1e-3) -> bool:
    """True if every row of ``x`` has unit L2 norm (within ``atol``).

    Example:
        >>> is_normalized(np.array([[3.0, 4.0]]))
        False
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return False
    norms = np.linalg.norm(arr.reshape(-1, arr.shape[-1]), axis=1)
    return bool(np.all(np.abs(norms - 1.0) <= atol))


def normalize(x: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (keeps :class:`Embeddings` tags).

    Example:
        >>> normalize(np.array([[3.0, 4.0]]))
        array([[0.6, 0.8]])
    """
    arr = np.asarray(x)
    if arr.ndim not in (1, 2):
        raise InvalidInputError(f"expected a vector or a (n, dims) matrix, got shape {arr.shape}.")
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise InvalidInputError(
            "a vector of all zeros cannot be normalised (it has no direction). "
            "Check for empty texts or failed encodes."
        )
    out = arr / norms
    if isinstance(x, Embeddings):
        return Embeddings(out, x.model, x.kind, True)
    return out


def model_name_of(model: Any) -> str:
    """The name :func:`embedlab.load_model` gave a model, else its class name and path."""
    info = getattr(model, "embedlab_info", None)
    if info:
        return str(info["name"])
    card = getattr(getattr(model, "model_card_data", None), "base_model", None)
    return str(card or getattr(model, "name", None) or type(model).__name__)


def _count_truncated(model: Any, texts: Sequence[str]) -> tuple[int, int | None]:
    """How many texts are longer than the model reads (cheap: only long texts are tokenised)."""
    limit = getattr(model, "max_seq_length", None)
    if not limit or limit > 100_000:
        return 0, None
    # a token covers at least one character, so shorter texts cannot overflow
    if max(map(len, texts)) <= limit - 2:
        return 0, limit
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        return 0, None
    long_texts = [t for t in texts if len(t) > limit - 2]
    lengths = tokenizer(long_texts, add_special_tokens=True, truncation=False)["input_ids"]
    return sum(len(ids) > limit for ids in lengths), limit


def _is_oom(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _default_progress(n: int) -> bool:
    quiet = os.environ.get("CI") or os.environ.get("EMBEDLAB_QUIET")
    return n >= 2000 and not quiet


def _encode_with_oom_retry(
    method: Any,
    items: list[str],
    batch_size: int,
    normalize: bool,
    show_progress_bar: bool,
    encode_kwargs: dict[str, Any],
) -> np.ndarray:
    """Call ``method``; on a CUDA out-of-memory error halve the batch size and retry."""
    size = batch_size
    while True:
        try:
            return method(
                items,
                batch_size=size,
                normalize_embeddings=normalize,
                convert_to_numpy=True,
                show_progress_bar=show_progress_bar,
                **encode_kwargs,
            )
        except Exception as exc:
            if not _is_oom(exc):
                raise
            if size == 1:
                raise InvalidInputError(
                    "the GPU ran out of memory even with batch_size=1. Use a smaller model, "
                    "shorter texts, or device='cpu'."
                ) from exc
            new = max(1, size // 2)
            warnings.warn(
                f"GPU out of memory at batch_size={size}; retrying with batch_size={new}.",
                stacklevel=4,
            )
            size = new
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:  # pragma: no cover
                pass


_DEFAULT_CACHE: Any = None


def _cached(
    model: Any,
    kind: str | None,
    normalize: bool,
    encode: Any,
    items: list[str],
    cache: Any,
    encode_kwargs: dict[str, Any],
) -> np.ndarray:
    """Encode through an :class:`~embedlab.cache.EmbeddingCache` (only the misses are encoded)."""
    from embedlab.cache import EmbeddingCache, EmbeddingSpec, cached_encode

    global _DEFAULT_CACHE
    if cache is True:
        if _DEFAULT_CACHE is None:
            _DEFAULT_CACHE = EmbeddingCache()
        cache = _DEFAULT_CACHE
    if not isinstance(cache, EmbeddingCache):
        raise InvalidInputError(
            f"cache must be an EmbeddingCache, True or None, got {type(cache).__name__}."
        )
    if "prompt" in encode_kwargs or "prompt_name" in encode_kwargs:
        raise InvalidInputError(
            "cache= cannot be combined with a custom prompt: use kind='query'/'document'."
        )
    info = getattr(model, "embedlab_info", None) or {}
    spec = EmbeddingSpec.from_model(
        model,
        kind,
        normalize=normalize,
        truncate_dim=encode_kwargs.get("truncate_dim"),
        precision=encode_kwargs.get("precision", "float32"),
        model_id=model_name_of(model),
        revision=info.get("weights_sha256") or None,
    )
    return cached_encode(encode, items, spec, cache)


def embed(
    model: Any,
    texts: str | Sequence[str],
    *,
    kind: str | None = "document",
    batch_size: int = 32,
    normalize: bool = True,
    show_progress_bar: bool | None = None,
    cache: Any = None,
    **encode_kwargs: Any,
) -> Embeddings:
    """Encode texts with the model's own prompts and return tagged, normalised vectors.

    ``kind="query"`` calls ``model.encode_query``, ``"document"`` calls
    ``model.encode_document`` (each applies the model's query/document prompt, if any),
    ``None`` calls plain ``model.encode``. Texts longer than the model reads are truncated
    by the model; a warning says how many. On a CUDA out-of-memory error the batch size
    is halved and the encode retried, with a warning.

    Args:
        model: A model from :func:`embedlab.load_model` (or any sentence-transformers model).
        texts: One string or a list of strings.
        kind: ``"query"``, ``"document"`` or ``None``.
        batch_size: Texts per forward pass (a positive integer).
        normalize: Scale every vector to unit length (needed for dot product = cosine).
        show_progress_bar: ``None`` shows one for long encodes, never when ``$CI`` is set.
        cache: An :class:`embedlab.EmbeddingCache`, or ``True`` for the default on-disk
            cache: texts already embedded with the same model, prompt and settings are
            read back instead of encoded. ``None`` (default) encodes everything.
        **encode_kwargs: Passed on to the model's encode method.

    Returns:
        An :class:`Embeddings` array of shape ``(len(texts), dims)``.

    Example:
        >>> e = embed(model, ["Where is my parcel?"], kind="query")
        >>> e.shape, round(float(np.linalg.norm(e[0])), 3)
        # ((1, 384), 1.0)
    """
    items = check_texts(texts)
    if kind not in _KINDS:
        raise InvalidInputError(f"kind must be 'query', 'document' or None, got {kind!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(
            f"batch_size must be a positive integer, got {batch_size!r}. Try 32 on CPU, 128 on GPU."
        )
    method = {
        "query": getattr(model, "encode_query", None),
        "document": getattr(model, "encode_document", None),
        None: getattr(model, "encode", None),
    }[kind]
    if method is None:
        raise InvalidInputError(
            f"{type(model).__name__} has no encode_{kind or ''} method: pass a model from "
            "embedlab.load_model()."
        )
    n_long, limit = _count_truncated(model, items)
    if n_long:
        warnings.warn(
            f"{n_long} of {len(items)} texts are longer than {model_name_of(model)}'s "
            f"{limit}-token limit and were truncated: their ends are not embedded. Split long "
            "documents into chunks.",
            stacklevel=2,
        )
    if show_progress_bar is None:
        show_progress_bar = _default_progress(len(items))

    def encode(batch: list[str]) -> np.ndarray:
        return _encode_with_oom_retry(
            method, batch, batch_size, normalize, show_progress_bar, encode_kwargs
        )

    if cache is None or cache is False:
        vectors = encode(items)
    else:
        vectors = _cached(model, kind, normalize, encode, items, cache, encode_kwargs)
    # float32 always: static models store float16 weights, API models return float64
    return Embeddings(np.asarray(vectors, dtype=np.float32), model_name_of(model), kind, normalize)


def without_normalize(model: Any) -> Any:
    """The same model minus its final ``Normalize`` layer: raw, unnormalised vectors.

    For teaching only: it shows what cosine vs dot product does on raw vectors. It shares
    weights with ``model`` (nothing is copied).

    Example:
        >>> raw = without_normalize(model)
        >>> np.linalg.norm(raw.encode(["hello"]), axis=1)
        # array([3.1], dtype=float32)   (not 1.0)
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize

    modules = list(model)
    if not modules or not isinstance(modules[-1], Normalize):
        return model
    raw = SentenceTransformer(modules=modules[:-1], device=str(model.device))
    raw.embedlab_info = {**getattr(model, "embedlab_info", {}), "name": f"{model_name_of(model)}"}
    return raw


__all__.append("without_normalize")
