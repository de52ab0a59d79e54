"""Prepare a machine for class: build every offline model, fill the embedding cache for the
labs (each lab module's ``warm(load)``: no list of labs or texts here), then run each
solution once and say how long the labs take now.

Usage::

    python tools/warm.py              # `make warm`
    python tools/warm.py --no-run     # models and cache only (what Binder's postBuild needs)
    python tools/warm.py --no-run --if-needed   # the same, unless it was done for these labs
    python tools/warm.py --count      # how many vectors the embedding cache holds

It exits 1 if a solution still embeds a text after warming (its cache misses are counted in
the kernel), because then the class would wait on it. The report, with each notebook's
compute time, peak memory (RSS) and cache misses, goes to outputs/warm.json.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `tools` is importable from the root
    sys.path.insert(0, str(ROOT))
# The kernel's own peak memory: VmHWM (Linux); ru_maxrss would include the parent's peak.
PROBE = """
import json, re, resource
from embedlab.cache import default_cache
try:
    peak = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # macOS: bytes
print("EMBEDLAB_PROBE", json.dumps({**default_cache().stats(), "peak_rss_mb": peak}))
"""


def state() -> str:
    """What the filled cache depends on: the lab modules (their ``warm``), the data and the
    package's version. ``fill`` stores it; ``--if-needed`` skips the work while it holds."""
    import hashlib

    import embedlab

    package = Path(embedlab.__file__).parent
    files = sorted((package / "labs").glob("*.py")) + sorted((package / "data").rglob("*.*"))
    digest = hashlib.sha256(embedlab.__version__.encode())
    for path in files:
        digest.update(path.relative_to(package).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def _stamp() -> Path:
    from embedlab.models import cache_dir

    return cache_dir() / "warm-state.txt"  # beside the cache: deleting one deletes both


def ready() -> bool:
    """True when ``fill`` ran for this state of the labs and data, and its cache is there."""
    from embedlab.cache import default_cache

    stamp = _stamp()
    return (
        stamp.is_file() and stamp.read_text() == state() and default_cache().stats()["entries"] > 0
    )


def fill(names: Sequence[str] | None = None, load: Callable | None = None) -> dict[str, float]:
    """Build the models and cache every embedding the labs read through the cache: each lab
    module's ``warm(load)`` (all labs, or those in ``names``); seconds per lab.

    ``load`` defaults to ``embedlab.load_model``, each model loaded once; a ``load`` that
    returns ``None`` for a model makes the labs skip it."""
    from tqdm.auto import tqdm

    import embedlab
    from tools import course

    load = functools.cache(load or embedlab.load_model)
    labs = [lab for lab in course.labs() if names is None or lab.name in names]
    seconds: dict[str, float] = {}
    with tqdm(total=len(labs), desc="warming", unit="lab") as bar:
        for lab in labs:
            bar.set_postfix_str(lab.name)
            if not callable(getattr(lab.module, "warm", None)):
                raise SystemExit(f"embedlab.labs.{lab.name} has no warm(load): see CONTRIBUTING.md")
            start = time.perf_counter()
            lab.module.warm(load)
            seconds[lab.name] = time.perf_counter() - start
            bar.update()
    return seconds


def run(notebook: Path) -> dict[str, float]:
    """Execute a notebook in a fresh kernel; its compute time, peak RSS and cache counts."""
    import nbclient
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    start = time.perf_counter()
    nbclient.NotebookClient(
        nb, timeout=900, resources={"metadata": {"path": str(notebook.parent)}}
    ).execute()
    seconds = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    probe = json.loads(text.split("EMBEDLAB_PROBE", 1)[1])
    return {"compute_s": round(seconds, 1), **probe}


def main(argv: list[str]) -> int:
    if "--count" in argv:  # the vectors in the embedding cache now (make test records it)
        from embedlab.cache import default_cache

        print(default_cache().stats()["entries"])
        return 0
    if "--if-needed" in argv and "--no-run" in argv and ready():
        print("models and embedding cache are ready for these labs: nothing to do.")
        return 0
    start = time.perf_counter()
    report: dict = {"fill_s": {k: round(v, 1) for k, v in fill().items()}}
    _stamp().write_text(state())
    print(
        "models built and embedding cache filled in",
        f"{time.perf_counter() - start:.0f} s",
    )
    if "--no-run" not in argv:
        report["notebooks"] = {}
        for nb in sorted((ROOT / "solutions").glob("*.ipynb")):
            print(f"running {nb.name} ...", flush=True)
            report["notebooks"][nb.name] = run(nb)
        print(f"\n{'solution':40s} {'compute':>8s} {'peak RSS':>9s} {'embedded':>9s}")
        for name, r in report["notebooks"].items():
            print(f"{name:40s} {r['compute_s']:7.0f}s {r['peak_rss_mb']:6.0f} MB {r['misses']:9d}")
        print("(compute here, with models and cache warm; reading and exercises come on top)")
    out = ROOT / "outputs" / "warm.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    cold = [n for n, r in report.get("notebooks", {}).items() if r["misses"]]
    if cold:
        print(f"NOT WARM: {cold} still embedded texts after warming; the fill step misses them.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
