"""Shared pieces: configuration, interleaved timing, summaries, the machine, Markdown."""

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
    """Sizes and repeats of one run: the defaults are the full run, :meth:`smoke_test` the
    tiny one that proves every code path runs."""

    command: str = COMMAND
    smoke: bool = False
    seed: int = 0
    # figure 1: each case runs >= overhead_rounds rounds, more while within the budget
    overhead_rounds: int = 25
    overhead_max_rounds: int = 20_000
    overhead_budget_s: float = 20.0
    overhead_texts: int = 32
    wrapper_rounds: int = 15
    # figure 2
    cache_corpus: int = 1000
    cache_lookup_texts: int = 256
    cache_rounds: int = 7
    # figure 3
    search_docs: int = 100_000
    search_rounds: int = 7
    search_course_subset: int | None = None
    # figure 4: None = solutions/*.ipynb with the course models built first
    notebooks: tuple[Path, ...] | None = None

    @classmethod
    def smoke_test(cls, command: str = COMMAND) -> Config:
        """Tiny sizes and one or two repeats: the numbers mean nothing."""
        return cls(
            command=command,
            smoke=True,
            overhead_rounds=2,
            overhead_max_rounds=2,
            overhead_budget_s=0.0,
            overhead_texts=4,
            wrapper_rounds=2,
            cache_corpus=100,
            cache_lookup_texts=16,
            cache_rounds=2,
            search_docs=2_000,
            search_rounds=2,
            search_course_subset=40,
            notebooks=(),  # figure 4 runs a synthetic notebook instead
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
    ci_low: float  # a 95% confidence interval of the median (order statistics,
    ci_high: float  # no assumption on the distribution); the whole range for tiny n

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        """Summarise a non-empty list of numbers."""
        arr = np.sort(np.asarray(values, dtype=np.float64))
        n = len(arr)
        q1, med, q3 = np.percentile(arr, [25, 50, 75])
        k = max(0, int(np.floor((n - 1.96 * np.sqrt(n)) / 2)))  # normal approx. to binomial
        return cls(
            float(med), float(q1), float(q3), float(arr[0]), float(arr[-1]), n,
            float(arr[k]), float(arr[n - 1 - k]),
        )  # fmt: skip

    def fmt(self, scale: float = 1.0, digits: int = 3) -> str:
        """``median [IQR q1–q3; range lo–hi; n=N]`` with every value times ``scale``."""

        def f(x: float) -> str:
            x *= scale
            return f"{x:,.0f}" if abs(x) >= 10**digits else f"{x:.{digits}g}"

        return (
            f"{f(self.median)} [IQR {f(self.q1)}–{f(self.q3)}; "
            f"range {f(self.low)}–{f(self.high)}; n={self.n}]"
        )

    def percent(self) -> str:
        """A ratio as a change: ``+1.20% (95% CI +0.9…+1.5) [IQR -0.3…+2.5; range -9…+14; n]``."""

        def p(x: float) -> str:
            return f"{(x - 1) * 100:+.1f}"

        return (
            f"{(self.median - 1) * 100:+.2f}% (95% CI {p(self.ci_low)}…{p(self.ci_high)}) "
            f"[IQR {p(self.q1)}…{p(self.q3)}; range {p(self.low)}…{p(self.high)}; n={self.n}]"
        )


# --------------------------------------------------------------------------- timing


def time_once(fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds one call of ``fn`` takes by ``clock``.

    The garbage collector is paused while timing (as :mod:`timeit` does) and never forced
    between timings: with torch loaded a full ``gc.collect()`` takes longer than most calls.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        fn()
        return clock() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds it took)``, the garbage collector paused as in :func:`time_once`."""
    out: list[Any] = []
    seconds = time_once(lambda: out.append(fn()))
    return out[0], seconds


def round_robin(
    fns: dict[str, Callable[[], Any]],
    *,
    rounds: int,
    max_rounds: int | None = None,
    budget_s: float = 0.0,
    seed: int = 0,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds per call of every function, all timed once per round in a shuffled order.

    ``times[a][r]`` and ``times[b][r]`` come from the same round, so load from other
    processes that comes and goes hits both alike: compare with :func:`ratio`. Each timing
    is one call, so a sub-millisecond call is rarely interrupted and an interruption spoils
    one round only. After ``rounds`` rounds, more run (up to ``max_rounds``) while
    less than ``budget_s`` seconds have passed: cheap calls get many rounds. ``clock`` may
    be ``time.process_time`` (CPU time: it stops while another process holds the core).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    rng = random.Random(seed)
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    done = 0
    while done < rounds or (
        done < (max_rounds or rounds) and time.perf_counter() - start < budget_s
    ):
        rng.shuffle(names)
        for name in names:
            times[name].append(time_once(fns[name], clock=clock))
        done += 1
    return times


def ratio(times: dict[str, list[float]], a: str, b: str) -> Summary:
    """Summary of the per-round ratios ``a / b`` of a :func:`round_robin`."""
    return Summary.of([x / y for x, y in zip(times[a], times[b], strict=True)])


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


def load_average() -> str:
    """``os.getloadavg()`` (1 / 5 / 15 min) as text."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return " / ".join(f"{x:.1f}" for x in load) if load else "unknown"


def machine_info(torch_threads: int, default_threads: int) -> dict[str, str]:
    """CPU, cores, load, device, torch threads and library versions, as display strings."""
    import embedlab

    info = embedlab.device_info()
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "CPU": cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "load average at start (1/5/15 min)": load_average(),
        "torch threads (figures 1-3)": f"{torch_threads} (also BLAS and faiss; the default "
        f"here is {default_threads}: see `--threads`)",
        "device": f"{info['device']} ({info['device_name']})",
        "OS / Python": f"{platform.platform()} / Python {platform.python_version()}",
        **{
            name: _version(name)
            for name in ("torch", "sentence-transformers", "faiss-cpu", "numpy", "embedlab")
        },
    }


# --------------------------------------------------------------------------- Markdown


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def human_bytes(n: float) -> str:
    """Decimal units: ``153_600_000 -> '153.6 MB'``."""
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.4g} {unit}"
        n /= 1000
    return f"{n:.4g} GB"
