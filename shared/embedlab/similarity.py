"""Compare embeddings safely: same model, same dimensions, cosine on unit vectors."""

from __future__ import annotations

import numpy as np

from embedlab.embeddings import is_normalized
from embedlab.errors import IncompatibleEmbeddingsError, InvalidInputError, NotNormalizedError

__all__ = ["check_compatible", "similarity", "require_normalized"]


def _as_2d(x: np.ndarray, what: str) -> np.ndarray:
    if x is None:
        raise InvalidInputError(f"{what} is None: pass an (n, dims) array of embeddings.")
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(
            f"{what} must be a vector or an (n, dims) matrix with n > 0, got shape {arr.shape}."
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(f"{what} must hold numbers, got dtype {arr.dtype}.")
    return arr


def check_compatible(a: np.ndarray, b: np.ndarray) -> None:
    """Raise :class:`IncompatibleEmbeddingsError` unless ``a`` and ``b`` can be compared.

    Vectors from two models live in two unrelated spaces: their dot product is a number
    with no meaning, even when the dimensions happen to match.

    Example:
        >>> check_compatible(minilm_vectors, mpnet_vectors)
        Traceback (most recent call last):
        ...
        IncompatibleEmbeddingsError: ... 'all-MiniLM-L6-v2' ... 'all-mpnet-base-v2' ...
    """
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


def require_normalized(x: np.ndarray, what: str = "embeddings") -> np.ndarray:
    """Return ``x`` if its rows are unit length, else raise :class:`NotNormalizedError`."""
    if not is_normalized(x):
        norms = np.linalg.norm(np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1]), axis=1)
        raise NotNormalizedError(
            f"{what} are not unit length (norms from {norms.min():.3g} to {norms.max():.3g}). "
            "A dot product of unnormalised vectors is not their cosine. Normalise first: "
            "embedlab.normalize(x), or embed(..., normalize=True)."
        )
    return x


def similarity(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity matrix between the rows of ``a`` and ``b`` (``b`` defaults to ``a``).

    Checks that both sides come from the same model and have the same dimensions, then
    uses ``sentence_transformers.util.cos_sim``.

    Example:
        >>> similarity(embed(model, ["cat", "kitten", "car"])).round(2)
        # array([[1.  , 0.79, 0.46], ...])
    """
    from sentence_transformers.util import cos_sim

    a2 = _as_2d(a, "a")
    b2 = a2 if b is None else _as_2d(b, "b")
    check_compatible(a, a if b is None else b)
    return cos_sim(np.asarray(a2, dtype=np.float32), np.asarray(b2, dtype=np.float32)).numpy()


def upper_triangle(matrix: np.ndarray) -> np.ndarray:
    """The scores above the diagonal of a square similarity matrix, as a flat array."""
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise InvalidInputError(f"expected a square similarity matrix, got shape {m.shape}.")
    return m[np.triu_indices(len(m), k=1)]


def rank_agreement(sims: dict[str, np.ndarray]):
    """Spearman rank correlation between models' pair scores (do they order pairs alike?).

    Raw cosine values are not comparable across models (each has its own scale), but
    their *rankings* of the same pairs are.

    Example:
        >>> rank_agreement({"a": S_a, "b": S_b}).round(2)
        #       a     b
        # a  1.00  0.81
        # b  0.81  1.00
    """
    import pandas as pd
    from scipy.stats import spearmanr

    names = list(sims)
    shapes = {np.shape(sims[n]) for n in names}
    if len(shapes) != 1:
        raise InvalidInputError(
            f"similarity matrices must cover the same sentences, got shapes {sorted(shapes)}."
        )
    flat = np.column_stack([upper_triangle(sims[n]) for n in names])
    rho = spearmanr(flat).statistic if len(names) > 2 else None
    if rho is None:
        r = spearmanr(flat[:, 0], flat[:, 1]).statistic
        rho = np.array([[1.0, r], [r, 1.0]])
    return pd.DataFrame(np.asarray(rho), index=names, columns=names)


def top_pairs(matrix: np.ndarray, texts: list[str], k: int = 5):
    """The ``k`` most similar distinct pairs of a square similarity matrix, as a table."""
    import pandas as pd

    m = np.asarray(matrix)
    i, j = np.triu_indices(len(m), k=1)
    # rank by score rounded to 4 decimals, then by position: pairs whose scores differ only
    # by floating-point noise (1e-7) keep the same order on every machine and run
    order = np.lexsort((np.arange(len(i)), -np.round(m[i, j].astype(np.float64), 4)))[:k]
    return pd.DataFrame(
        {
            "score": m[i[order], j[order]],
            "text_a": [texts[a] for a in i[order]],
            "text_b": [texts[b] for b in j[order]],
        }
    )


__all__ += ["upper_triangle", "rank_agreement", "top_pairs"]
