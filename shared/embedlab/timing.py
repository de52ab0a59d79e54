"""Measure speed honestly: warm up first, repeat, report percentiles, wait for the GPU."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from embedlab.errors import check_texts, positive_int


def _sync(model: Any) -> None:
    """Wait for queued GPU work, so a timing covers the computation (no-op on CPU)."""
    device = str(getattr(model, "device", "cpu"))
    if device.startswith(("cuda", "mps")):
        import torch

        (torch.cuda if device.startswith("cuda") else torch.mps).synchronize()


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (``None``: leave them as they are), then restore."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(positive_int(n, "threads", "A serving worker usually runs 1."))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure_latency(
    model: Any, queries: Sequence[str], *, warmup: int = 5, threads: int | None = None
) -> dict[str, Any]:
    """Single-query latency, one ``encode_query`` call per query as a search box makes them.

    Each call is timed on the wall clock (``time.perf_counter``) and as this process's CPU
    time (``time.process_time``). With one thread on an idle core the two agree; on a machine
    shared with other jobs the wall clock also counts the waits for a core, the CPU time does
    not. ``threads``: torch threads during the measurement (``None``: unchanged).

    Returns ``p50_ms``, ``p95_ms`` (wall clock), ``cpu_p50_ms``, ``cpu_p95_ms`` and the raw
    ``samples_ms`` and ``cpu_samples_ms``.
    """
    items = check_texts(queries, "queries")
    with torch_threads(threads):
        for text in items[:warmup]:
            model.encode_query([text])
        _sync(model)
        wall, cpu = [], []
        for text in items:
            start, start_cpu = time.perf_counter(), time.process_time()
            model.encode_query([text])
            _sync(model)
            wall.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
    out: dict[str, Any] = {"samples_ms": wall, "cpu_samples_ms": cpu}
    for clock, samples in (("", wall), ("cpu_", cpu)):
        p50, p95 = np.percentile(samples, [50, 95])
        out |= {f"{clock}p50_ms": float(p50), f"{clock}p95_ms": float(p95)}
    return out


def measure_throughput(
    model: Any, texts: Sequence[str], *, batch_size: int = 32, repeats: int = 3
) -> float:
    """Texts per second for ``encode_document`` at ``batch_size`` (median of ``repeats``)."""
    items = check_texts(texts)
    positive_int(batch_size, "batch_size", "Try 32 on CPU, 128 on GPU.")
    model.encode_document(items[: batch_size * 2], batch_size=batch_size)  # warm-up
    _sync(model)
    seconds = []
    for _ in range(positive_int(repeats, "repeats")):
        start = time.perf_counter()
        model.encode_document(items, batch_size=batch_size)
        _sync(model)
        seconds.append(time.perf_counter() - start)
    return len(items) / float(np.median(seconds))


def batch_sweep(
    model: Any,
    texts: Sequence[str],
    batch_sizes: Sequence[int] = (1, 4, 16, 64),
    *,
    repeats: int = 1,
    threads: int | None = None,
) -> pd.DataFrame:
    """Throughput at each batch size, and how long a caller waits for a whole batch.

    Columns: ``texts_per_s``, ``ms_per_text`` and ``batch_latency_ms``. ``threads``: torch
    threads during the sweep (``None``: unchanged).
    """
    rows = {}
    for bs in batch_sizes:
        with torch_threads(threads):
            rate = measure_throughput(model, texts, batch_size=bs, repeats=repeats)
        rows[bs] = {
            "texts_per_s": rate,
            "ms_per_text": 1000 / rate,
            "batch_latency_ms": 1000 * min(bs, len(texts)) / rate,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("batch_size")


def knee(sweep: pd.DataFrame, fraction: float = 0.9) -> int:
    """The smallest batch size whose throughput reaches ``fraction`` of the sweep's best.

    >>> knee(pd.DataFrame({"texts_per_s": [40.0, 95.0, 100.0]}, index=[1, 8, 32]))
    8
    """
    rate = sweep["texts_per_s"]
    return int(rate.index[rate >= fraction * rate.max()][0])
