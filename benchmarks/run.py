"""Run the benchmarks and write RESULTS.md.

Usage::

    python -m benchmarks.run                           # writes benchmarks/RESULTS.md
    python -m benchmarks.run --smoke                   # ~20 s, writes to a temp folder
    python -m benchmarks.run --only overhead,cache     # a subset of the figures

Every figure is measured by the run that writes it; nothing is typed in (the CI wall time
is printed by `bash .ci/run` itself).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("EMBEDLAB_QUIET", "1")

from benchmarks.common import (  # noqa: E402
    COMMAND,
    Config,
    Section,
    load_average,
    machine_info,
    table,
)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
FIGURES = ("overhead", "cache", "search", "notebooks")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument(
        "--smoke", action="store_true", help="tiny sizes, one or two repeats, a synthetic notebook"
    )
    p.add_argument("--out", type=Path, help="where to write the results (Markdown)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads (torch, BLAS, faiss) for figures 1-3 (default 1: steady on a shared "
        "machine; 0 keeps the libraries' defaults)",
    )
    p.add_argument(
        "--only", default=",".join(FIGURES), help=f"comma-separated subset of {','.join(FIGURES)}"
    )
    return p.parse_args(argv)


def command_line(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """The command as typed, for the results file."""
    return " ".join([COMMAND, *argv]) if argv else COMMAND


def output_path(args: argparse.Namespace) -> Path:
    """``--out``, else RESULTS.md, else (smoke) a temp file; smoke never writes RESULTS.md."""
    if args.out is not None:
        out = args.out.expanduser().resolve()
        if args.smoke and out == RESULTS:
            raise SystemExit("--smoke must not overwrite benchmarks/RESULTS.md: pass another --out")
        return out
    if args.smoke:
        return Path(tempfile.gettempdir()) / "embedlab-bench-smoke" / "RESULTS.md"
    return RESULTS


@contextlib.contextmanager
def thread_limit(requested: int) -> Iterator[tuple[int, int]]:
    """Apply ``--threads`` to torch, BLAS and faiss; yield (used, torch's default).

    On a machine shared with other processes, a pool of N threads that waits for all N at
    every barrier stalls whenever one core is busy elsewhere (measured here: MiniLM 5-10x
    slower and far noisier at 2 threads than at 1 while another job ran). The previous
    settings are restored on exit (the tests call :func:`main` in-process).
    """
    import torch
    from threadpoolctl import threadpool_limits

    default = torch.get_num_threads()
    if requested <= 0:
        yield default, default
        return
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is optional
        faiss = None
    faiss_default = faiss.omp_get_max_threads() if faiss else 0
    torch.set_num_threads(requested)
    if faiss:
        faiss.omp_set_num_threads(requested)
    try:
        with threadpool_limits(limits=requested):
            yield torch.get_num_threads(), default
    finally:
        torch.set_num_threads(default)
        if faiss:
            faiss.omp_set_num_threads(faiss_default)


def run_figure(name: str, fn: Callable[[], Section]) -> Section:
    """Run one figure; a failure becomes a section with the traceback (and exit code 1)."""
    print(f"[bench] {name} ...", flush=True)
    start = time.perf_counter()
    try:
        section = fn()
    except Exception:  # keep the other figures of a 10-minute run
        section = Section(
            f"{name}: FAILED",
            f"```\n{traceback.format_exc()}```",
            {"failed": True},
            time.perf_counter() - start,
        )
    print(f"[bench] {name} done in {section.seconds:.0f} s", flush=True)
    return section


def figures(cfg: Config, args: argparse.Namespace) -> dict[str, Callable[[], Section]]:
    """The selected figures, in order, as no-argument callables."""
    from benchmarks import caching, notebooks, overhead, search

    available = {
        "overhead": lambda: overhead.run(cfg),
        "cache": lambda: caching.run(cfg),
        "search": lambda: search.run(cfg),
        "notebooks": lambda: notebooks.run(cfg),
    }
    wanted = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise SystemExit(f"--only: unknown figure(s) {unknown}; choose from {FIGURES}")
    return {name: available[name] for name in FIGURES if name in wanted}


def headline(sections: dict[str, Section]) -> str:
    """One line per figure, for the top of the file."""
    lines = []
    if (s := sections.get("overhead")) and not s.data.get("failed"):
        from benchmarks.overhead import MODELS, verdict

        lines += [f"- Helper overhead (goal ≤ 2%), {verdict(s.data['results'], m)}" for m in MODELS]
    if (s := sections.get("cache")) and not s.data.get("failed"):
        speed = s.data["speedup"].median
        lines.append(
            f"- Warm `cached_encode` vs MiniLM (goal ≥ 100×): {speed:,.0f}× "
            f"({'met' if speed >= 100 else 'NOT met'}); `IncrementalIndex.update` after a 1% "
            f"edit embeds exactly the edited documents: "
            f"{'PASS' if s.data['update_pass'] else 'FAIL'}."
        )
    if (s := sections.get("search")) and not s.data.get("failed"):
        m = s.data["methods"]
        lines.append(
            "- Search, 96 queries, top-10 over the tiled corpus (median CPU time per call of "
            "`embedlab.search` / `embedlab.quantized_search`): "
            + ", ".join(f"{k} {v['call'].median * 1000:,.0f} ms" for k, v in m.items())
            + "."
        )
    if (s := sections.get("notebooks")) and not s.data.get("failed"):
        for name, nb in s.data["notebooks"].items():
            cold, warm = nb["cold"], nb["warm"]
            lines.append(
                f"- {name}: {cold.seconds:.0f} s cold, {warm.seconds:.0f} s warm; peak RSS "
                f"{max(cold.peak_rss_mb, warm.peak_rss_mb):,.0f} MiB."
            )
    return "\n".join(lines)


def render(cfg: Config, machine: dict[str, str], sections: dict[str, Section], total: float) -> str:
    """The whole results file."""
    kind = (
        "SMOKE RUN (tiny sizes, one or two repeats: the numbers mean nothing)"
        if cfg.smoke
        else "Full run"
    )
    skipped = [name for name in FIGURES if name not in sections]
    parts = [
        "# Benchmarks\n",
        f"{kind}. Produced by `{cfg.command}` in {total:.0f} s. Regenerate with `make bench`.\n",
    ]
    if skipped:
        parts.append(f"Not run this time (`--only`): {', '.join(skipped)}.\n")
    parts += [
        "## Machine\n",
        table(["", ""], list(machine.items())) + "\n",
        "Other processes share this machine's cores, so timings are noisy: every figure gives "
        "the median over repeated runs with its interquartile range (IQR) and min–max, and "
        "comparisons are interleaved in one process and reported as the median of per-round "
        "ratios.\n",
        "## Summary\n",
        headline(sections) + "\n",
    ]
    parts += [s.markdown() for s in sections.values()]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (1 if a figure failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    out = output_path(args)
    command = command_line(args, argv)
    cfg = Config.smoke_test(command) if args.smoke else Config(command=command)
    start = time.perf_counter()
    with thread_limit(args.threads) as (threads, default_threads):
        machine = machine_info(threads, default_threads)
        sections = {name: run_figure(name, fn) for name, fn in figures(cfg, args).items()}
    machine["load average at end (1/5/15 min)"] = load_average()
    text = render(cfg, machine, sections, time.perf_counter() - start)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"[bench] wrote {out} in {time.perf_counter() - start:.0f} s", flush=True)
    return 1 if any(s.data.get("failed") for s in sections.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
