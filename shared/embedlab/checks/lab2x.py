"""Checks for Lab 2x "Optimise for production": binary quantization and Matryoshka truncation.

Each check accepts any correct answer (sentence-transformers, NumPy or the helper) and, for a
wrong one, names the likely mistake.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from embedlab.checks._core import CheckResult, Lab
from embedlab.quantization import truncate_and_normalize

__all__ = ["step_a", "step_b", "hint", "answer", "review", "needs"]

HINTS = {
    "a": (
        "quantize_embeddings(doc_emb, precision='ubinary') keeps one bit per dimension (1 "
        "where the value is > 0) and packs 8 bits into each byte, so its result has one row "
        "per document and dims / 8 columns of uint8. Bytes per vector: the number of columns "
        "(or binary[0].nbytes). Memory ratio: float32 bytes per vector (doc_emb[0].nbytes) "
        "divided by binary bytes per vector."
    ),
    "b": (
        "Keep every row but only the first 128 columns: doc_emb[:, :128]. Then divide each "
        "row by its own length: x / np.linalg.norm(x, axis=1, keepdims=True)."
    ),
}
_lab = Lab("lab2x", HINTS)
hint, answer, review, needs = _lab.hint, _lab.answer, _lab.review, _lab.needs


def _array(x: Any) -> np.ndarray:
    """``x`` as a NumPy array (a torch tensor is moved to the CPU first)."""
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)


def _number(x: Any) -> float | None:
    """``x`` as a float, or ``None`` if it is not a finite real number."""
    if isinstance(x, bool) or not isinstance(x, Real):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-6)


def step_a(binary: Any, bytes_per_vector: Any, memory_ratio: Any, doc_emb: Any) -> CheckResult:
    """Binary quantization of ``doc_emb``, the bytes of one binary vector, and how many times
    smaller than float32 it is."""
    for what, value in (
        ("binary", binary),
        ("bytes_per_vector", bytes_per_vector),
        ("memory_ratio", memory_ratio),
    ):
        if value is None:
            return _lab.not_done("a", what)
    floats = np.asarray(doc_emb, dtype=np.float32)
    n, dims = floats.shape
    want_bytes = -(-dims // 8)
    want_ratio = 4 * dims / want_bytes
    codes = _array(binary)
    if codes.shape == floats.shape:
        if codes.dtype == bool:
            why = (
                "those are the bits, one byte each. Pack 8 bits into each byte: "
                "precision='ubinary' (or np.packbits(bits, axis=1))."
            )
        elif codes.dtype in (np.int8, np.uint8):
            why = (
                "that is int8 quantization: one byte per dimension. Binary keeps one bit "
                "per dimension: precision='ubinary'."
            )
        else:
            why = (
                "binary still holds float vectors: quantize them with "
                "quantize_embeddings(doc_emb, precision='ubinary')."
            )
        return _lab.failed("a", f"binary has shape {codes.shape}: {why}")
    if codes.ndim != 2 or codes.shape[0] != n:
        return _lab.failed(
            "a",
            f"binary has shape {codes.shape}: quantize all {n} document vectors, one row each.",
        )
    if codes.shape[1] != want_bytes:
        return _lab.failed(
            "a",
            f"binary has {codes.shape[1]} columns; one bit per dimension packs {dims} "
            f"dimensions into {want_bytes} bytes. Use precision='ubinary'.",
        )
    bits = np.packbits(floats > 0, axis=1)
    if codes.dtype == np.int8:  # precision="binary": the same bits, shifted by -128
        codes = (codes.astype(np.int16) + 128).astype(np.uint8)
    if codes.dtype.kind not in "iu" or not np.array_equal(codes.astype(np.int64), bits):
        return _lab.failed(
            "a",
            "binary has the right shape but not the right bits: each bit is 1 where the "
            "float value is > 0. Quantize doc_emb itself with precision='ubinary'.",
        )
    size = _number(bytes_per_vector)
    if size is None:
        return _lab.failed("a", f"bytes_per_vector must be a number, got {bytes_per_vector!r}.")
    if not _close(size, want_bytes):
        known = {
            dims: "that counts bits (one per dimension); a byte holds 8 bits.",
            codes.nbytes: f"that is the whole matrix: divide by its {n} rows.",
            4 * dims: "that is the size of a float32 vector (4 bytes per dimension).",
        }
        why = next((w for v, w in known.items() if _close(size, v)), "")
        return _lab.failed(
            "a",
            f"bytes_per_vector = {size:g} is not the size of one row of binary. {why}",
        )
    ratio = _number(memory_ratio)
    if ratio is None:
        return _lab.failed("a", f"memory_ratio must be a number, got {memory_ratio!r}.")
    if not _close(ratio, want_ratio):
        known = {
            1 / want_ratio: "you divided binary by float32; the ratio says how many "
            "times smaller binary is: float32 bytes / binary bytes.",
            dims / want_bytes: "float32 takes 4 bytes per dimension, not 1.",
            4.0: "that is int8's ratio (1 byte per dimension), not binary's.",
        }
        why = next((w for v, w in known.items() if _close(ratio, v)), "")
        return _lab.failed(
            "a",
            f"memory_ratio = {ratio:g} is not right: bytes of a float32 vector divided by "
            f"bytes of a binary one. {why}",
        )
    return _lab.passed(
        "a",
        f"{dims} dimensions take {want_bytes} bytes in binary, {want_ratio:g}x less "
        "memory than float32.",
    )


def step_b(docs_cut: Any, doc_emb: Any, dims: int = 128) -> CheckResult:
    """``doc_emb`` cut to its first ``dims`` dimensions (Matryoshka) and re-normalised."""
    if docs_cut is None:
        return _lab.not_done("b", "docs_128")
    full = np.asarray(doc_emb, dtype=np.float32)
    n, total = full.shape
    try:
        cut = _array(docs_cut).astype(np.float32)
    except (TypeError, ValueError):
        return _lab.failed("b", f"docs_128 must be an array, got {type(docs_cut).__name__}.")
    if cut.shape != (n, dims):
        if cut.shape == (dims, total):
            why = f"you kept the first {dims} documents (rows): cut the columns, x[:, :{dims}]."
        elif cut.shape == full.shape:
            why = f"it still has all {total} dimensions: keep the first {dims} columns."
        else:
            why = f"one row per document and {dims} columns: x[:, :{dims}]."
        return _lab.failed("b", f"docs_128 has shape {cut.shape}, not ({n}, {dims}): {why}")
    if not np.isfinite(cut).all():
        return _lab.failed(
            "b",
            "docs_128 contains NaN or infinite values, from a division by zero: did you "
            "normalise the columns (axis=0)? A column can be all zeros, a row never is. "
            "Normalise each row: np.linalg.norm(x, axis=1, keepdims=True).",
        )
    want = truncate_and_normalize(full, dims)
    norms = np.linalg.norm(cut, axis=1)
    if not np.allclose(norms, 1.0, atol=1e-3):
        if np.allclose(np.linalg.norm(cut, axis=0), 1.0, atol=1e-3):
            why = (
                "you normalised the columns (axis=0); normalise each row: "
                "np.linalg.norm(x, axis=1, keepdims=True)."
            )
        elif np.allclose(cut, full[:, :dims], atol=1e-5):
            why = (
                f"you cut but did not re-normalise: the rows now have lengths from "
                f"{norms.min():.2f} to {norms.max():.2f}, and a dot product of vectors that "
                "are not unit length is not their cosine. Divide each row by its length."
            )
        else:
            why = "divide each row by its length after cutting."
        return _lab.failed("b", f"the rows of docs_128 are not unit length: {why}")
    if not np.allclose(cut, want, atol=1e-4):
        why = "start from doc_emb, cut to the first columns, then re-normalise."
        last = full[:, -dims:] / np.linalg.norm(full[:, -dims:], axis=1, keepdims=True)
        if np.allclose(cut, last, atol=1e-4):
            why = f"you kept the last {dims} dimensions; Matryoshka keeps the first ones."
        return _lab.failed("b", f"docs_128 has unit rows but not the right values: {why}")
    return _lab.passed(
        "b",
        f"{n} unit vectors of {dims} dimensions: {4 * dims} bytes each instead of {4 * total}.",
    )
