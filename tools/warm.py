"""Prepare a machine for class: build every offline model, fill the embedding cache for the
labs, then run each solution once and say how long the labs take now.

Usage::

    python tools/warm.py              # `make warm`
    python tools/warm.py --no-run     # models and cache only (what Binder's postBuild needs)

It exits 1 if a solution still embeds a text after warming (its cache misses are counted in
the kernel), because then the class would wait on it. The report, with each notebook's
compute time, peak memory (RSS) and cache misses, goes to outputs/warm.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def fill(names: tuple[str, ...] | None = None) -> dict[str, float]:
    """Build the models and cache every embedding the solutions read through the cache."""
    from tqdm.auto import tqdm

    import embedlab
    from embedlab.cache import cached_encode

    sentences = embedlab.load_sentences()["text"].tolist()
    ds = embedlab.load_course_retrieval()
    seconds: dict[str, float] = {}
    names = names or embedlab.COURSE_MODELS
    with tqdm(total=3 * len(names), desc="warming", unit="step") as bar:
        for name in names:
            start = time.perf_counter()
            bar.set_postfix_str(f"loading {name}")
            model = embedlab.load_model(name)
            bar.update()
            bar.set_postfix_str(f"Lab 1 sentences, {name}")
            cached_encode(model, sentences, kind="document")
            bar.update()
            bar.set_postfix_str(f"Lab 2 queries and documents, {name}")
            embedlab.evaluate_model(model, ds)
            bar.update()
            seconds[name] = time.perf_counter() - start
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
    start = time.perf_counter()
    report: dict = {"fill_s": {k: round(v, 1) for k, v in fill().items()}}
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
