"""Shared pieces: timing, interleaved comparisons, summaries, machine description, Markdown."""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

#: The command each figure was produced by (completed with the options actually used).
COMMAND = "python -m benchmarks.run"


@dataclass(frozen=True)
class Config:
    """Sizes and repeats of one run; :func:`full` and :func:`smoke` are the two presets."""

    smoke: bool
    command: str
    seed: int = 0
    overhead_rounds: int = 10
    overhead_max_rounds: int = 300
    overhead_budget_s: float = 10.0
    overhead_texts: int = 32
    min_time_s: float = 0.03
    cache_corpus: int = 1000
    cache_lookup_texts: int = 256
    cache_rounds: int = 7
    search_docs: int = 100_000
    search_rounds: int = 7
    search_course_subset: int | None = None
    run_notebooks: bool = True

    @classmethod
    def full(cls, command: str) -> Config:
        """The configuration of ``python -m benchmarks.run`` (about 10 minutes)."""
        return cls(smoke=False, command=command)

    @classmethod
    def smoke_test(cls, command: str) -> Config:
        """Tiny sizes and one repeat: proves every code path runs, measures nothing."""
        return cls(
            smoke=True,
            command=command,
            overhead_rounds=1,
            overhead_max_rounds=1,
            overhead_budget_s=0.0,
            overhead_texts=4,
            min_time_s=0.0,
            cache_corpus=100,
            cache_lookup_texts=16,
            cache_rounds=1,
            search_docs=2_000,
            search_rounds=1,
            search_course_subset=40,
            run_notebooks=False,
        )


@dataclass
class Section:
    """One figure of RESULTS.md: a title, Markdown body, and its numbers (for tests)."""

    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def markdown(self) -> str:
        """The section as Markdown, with the time it took to measure."""
        return f"## {self.title}\n\n{self.body.strip()}\n\n_Measured in {self.seconds:.0f} s._\n"


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Summary:
    """Median and spread of repeated measurements."""

    median: float
    q1: float
    q3: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        """Summarise a non-empty list of numbers."""
        arr = np.asarray(values, dtype=np.float64)
        q1, med, q3 = np.percentile(arr, [25, 50, 75])
        return cls(float(med), float(q1), float(q3), float(arr.min()), float(arr.max()), len(arr))

    def fmt(self, scale: float = 1.0, digits: int = 3) -> str:
        """``median [IQR q1–q3; min–max lo–hi] (n)`` with every value times ``scale``."""

        def f(x: float) -> str:
            return f"{x * scale:.{digits}g}"

        return (
            f"{f(self.median)} [IQR {f(self.q1)}–{f(self.q3)}; "
            f"range {f(self.low)}–{f(self.high)}; n={self.n}]"
        )


# --------------------------------------------------------------------------- timing


def time_once(fn: Callable[[], Any], inner: int = 1) -> float:
    """Seconds per call of ``fn``, averaged over ``inner`` back-to-back calls.

    The garbage collector is paused while timing (as :mod:`timeit` does) and never forced
    between timings: with torch and transformers loaded a full ``gc.collect()`` takes
    about 0.3 s here, far longer than most calls timed.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - start) / inner
    finally:
        if gc_was_enabled:
            gc.enable()


def calibrate_inner(fn: Callable[[], Any], min_time_s: float) -> int:
    """How many back-to-back calls make one timing last at least ``min_time_s``."""
    if min_time_s <= 0:
        return 1
    one = max(time_once(fn), 1e-7)
    return max(1, int(np.ceil(min_time_s / one)))


@dataclass(frozen=True)
class Comparison:
    """Interleaved timings of two code paths, ``a`` and ``b``, and the per-round ratio a/b."""

    a: Summary
    b: Summary
    ratio: Summary
    inner: int


def interleaved(
    a: Callable[[], Any],
    b: Callable[[], Any],
    *,
    rounds: int,
    max_rounds: int | None = None,
    budget_s: float = 0.0,
    min_time_s: float = 0.0,
    warmup: int = 1,
    seed: int = 0,
) -> Comparison:
    """Time ``a`` and ``b`` in alternation and return both timings and the ratio ``a / b``.

    Both are warmed up first. Each round times both sides once (each side ``inner`` calls
    back to back, enough to last ``min_time_s``), in a random order drawn from ``seed``, and
    the ratio of the two is kept: load that comes and goes slows both sides of a round
    alike, so the median ratio is far steadier than the ratio of two separate medians.
    After ``rounds`` rounds, more are run (up to ``max_rounds``) while less than
    ``budget_s`` seconds have passed: cheap calls get many rounds, expensive ones few.
    """
    for _ in range(warmup):
        a()
        b()
    inner = max(calibrate_inner(a, min_time_s), calibrate_inner(b, min_time_s))
    rng = random.Random(seed)
    times_a: list[float] = []
    times_b: list[float] = []
    start = time.perf_counter()
    while len(times_a) < rounds or (
        len(times_a) < (max_rounds or rounds) and time.perf_counter() - start < budget_s
    ):
        if rng.random() < 0.5:
            ta = time_once(a, inner)
            tb = time_once(b, inner)
        else:
            tb = time_once(b, inner)
            ta = time_once(a, inner)
        times_a.append(ta)
        times_b.append(tb)
    ratios = [x / y for x, y in zip(times_a, times_b, strict=True)]
    return Comparison(Summary.of(times_a), Summary.of(times_b), Summary.of(ratios), inner)


def round_robin(
    fns: dict[str, Callable[[], Any]], *, rounds: int, seed: int = 0, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of every function, all timed once per round in a shuffled order.

    The many-sided version of :func:`interleaved`: ``times[name][r]`` and
    ``times[other][r]`` come from the same round, so their ratio is a fair comparison.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    rng = random.Random(seed)
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            times[name].append(time_once(fns[name]))
    return times


def repeat(fn: Callable[[], Any], rounds: int, warmup: int = 1) -> Summary:
    """Seconds per call of ``fn`` over ``rounds`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        times.append(time_once(fn))
    return Summary.of(times)


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(torch_threads: int, default_threads: int) -> dict[str, str]:
    """CPU, cores, device, torch threads and library versions, as display strings."""
    import embedlab

    info = embedlab.device_info()
    device = f"{info['device']} ({info['device_name']})"
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "CPU": cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "load average at start (1/5/15 min)": (
            " / ".join(f"{x:.1f}" for x in load) if load else "unknown"
        ),
        "torch threads (figures 1-3)": f"{torch_threads} (also BLAS and faiss; the default "
        f"here is {default_threads}: see `--threads`)",
        "device": device,
        "OS / Python": f"{platform.platform()} / Python {platform.python_version()}",
        "torch": _version("torch"),
        "sentence-transformers": _version("sentence-transformers"),
        "faiss-cpu": _version("faiss-cpu"),
        "numpy": _version("numpy"),
        "embedlab": _version("embedlab"),
    }


# --------------------------------------------------------------------------- Markdown


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    """Seconds as milliseconds with 3 significant digits."""
    return f"{seconds * 1000:.3g} ms"


def human_bytes(n: float) -> str:
    """Decimal units: ``153_600_000 -> '153.6 MB'``."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.4g} {unit}"
        n /= 1000
    return f"{n:.4g} GB"  # pragma: no cover
