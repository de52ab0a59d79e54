"""Measure latency and throughput honestly: warm up first, repeat, report percentiles."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from embedlab._validate import check_texts
from embedlab.errors import InvalidInputError

__all__ = ["measure_latency", "measure_throughput", "batch_sweep", "percentiles"]


def _sync(model: Any) -> Callable[[], None]:
    """A function that waits for queued GPU work (a no-op on CPU)."""
    device = str(getattr(model, "device", "cpu"))
    if device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    if device.startswith("mps"):
        import torch

        return torch.mps.synchronize
    return lambda: None


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of latency samples in milliseconds.

    Example:
        >>> percentiles([10, 11, 12, 50])
        {'p50_ms': 11.5, 'p95_ms': 44.3, 'mean_ms': 20.75, 'n': 4}
    """
    arr = np.asarray(samples_ms, dtype=float)
    if arr.size == 0:
        raise InvalidInputError("no latency samples: run at least one timed call.")
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p95_ms": float(np.percentile(arr, 95)),
        "mean_ms": float(arr.mean()),
        "n": int(arr.size),
    }


def measure_latency(
    model: Any, queries: Sequence[str], *, warmup: int = 5, repeats: int = 1
) -> dict[str, float]:
    """Single-query latency: encode one query at a time, as a search service would.

    Args:
        model: A model with ``encode_query``.
        queries: Texts to time, one call each (``repeats`` passes over them).
        warmup: Untimed calls first (load kernels, fill caches).
        repeats: Passes over ``queries``.

    Returns:
        ``{"p50_ms", "p95_ms", "mean_ms", "n"}``.

    Example:
        >>> measure_latency(model, ["where is my parcel?"] * 20)["p50_ms"]
        # 7.9   (MiniLM on a 2-core CPU)
    """
    items = check_texts(queries, what="queries")
    sync = _sync(model)
    for text in items[: max(0, warmup)]:
        model.encode_query([text], show_progress_bar=False)
    sync()
    samples = []
    for _ in range(max(1, repeats)):
        for text in items:
            start = time.perf_counter()
            model.encode_query([text], show_progress_bar=False)
            sync()
            samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def measure_throughput(
    model: Any, texts: Sequence[str], *, batch_size: int = 32, repeats: int = 3, warmup: bool = True
) -> dict[str, float]:
    """Batch throughput in texts per second (median over ``repeats`` full passes).

    Example:
        >>> measure_throughput(model, sentences, batch_size=32)["texts_per_s"]
        # 140.2   (MiniLM on a 2-core CPU)
    """
    items = check_texts(texts)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
    sync = _sync(model)
    if warmup:
        model.encode_document(
            items[: batch_size * 2], batch_size=batch_size, show_progress_bar=False
        )
        sync()
    seconds = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        model.encode_document(items, batch_size=batch_size, show_progress_bar=False)
        sync()
        seconds.append(time.perf_counter() - start)
    best = float(np.median(seconds))
    return {
        "batch_size": batch_size,
        "texts_per_s": len(items) / best,
        "ms_per_text": best * 1000 / len(items),
        "seconds": best,
        "spread_s": float(np.max(seconds) - np.min(seconds)),
    }


def batch_sweep(
    model: Any,
    texts: Sequence[str],
    batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128),
    *,
    repeats: int = 3,
) -> pd.DataFrame:
    """Throughput and per-item latency for each batch size (warmed up, median of repeats).

    A batch's latency is the time a caller waits for its whole batch:
    ``batch_latency_ms = batch_size * ms_per_text``.

    Example:
        >>> batch_sweep(model, sentences, (1, 32))[["texts_per_s"]]
        #             texts_per_s
        # batch_size
        # 1                  47.0
        # 32                142.0
    """
    rows = []
    for bs in batch_sizes:
        r = measure_throughput(model, texts, batch_size=int(bs), repeats=repeats)
        r["batch_latency_ms"] = r["ms_per_text"] * min(int(bs), len(texts))
        rows.append(r)
    return pd.DataFrame(rows).set_index("batch_size")


def knee(sweep: pd.DataFrame, fraction: float = 0.9) -> int:
    """Smallest batch size reaching ``fraction`` of the best throughput in a sweep."""
    best = sweep["texts_per_s"].max()
    return int(sweep.index[sweep["texts_per_s"] >= fraction * best][0])


__all__.append("knee")
