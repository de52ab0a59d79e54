"""``make demo``: a scratch copy of the solutions for presenting, so class never touches them.

The committed ``solutions/`` hold the outputs nbval checks; an instructor who runs and saves a
notebook in class must not change them. This copies each ``solutions/*.ipynb`` into
``outputs/demo/`` (git-ignored) with its outputs kept, so the class first sees what the
solution shows, and running a cell replaces them in the copy only. What a notebook writes (the
decision record, for one) lands under ``outputs/demo/`` too.

A copy the instructor has saved since it was made is kept (live edits survive a restart of
``make demo``; nothing is lost); an unedited copy is refreshed when its solution changed
(after ``git pull``). Delete ``outputs/demo/`` for fresh copies of everything.

Usage::

    python tools/demo.py            # prepare outputs/demo/ and print what it did
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "outputs" / "demo"
STAMP = DEMO / ".copied.json"  # {notebook: mtime_ns of the copy when it was made}


def prepare(root: Path = ROOT, demo: Path | None = None) -> dict[str, str]:
    """Copy the solutions into ``demo``; returns ``{notebook: what happened}``."""
    demo = demo or root / "outputs" / "demo"
    demo.mkdir(parents=True, exist_ok=True)
    stamp = demo / STAMP.name
    made = json.loads(stamp.read_text()) if stamp.is_file() else {}
    done = {}
    for solution in sorted((root / "solutions").glob("*.ipynb")):
        copy = demo / solution.name
        if copy.is_file():
            edited = copy.stat().st_mtime_ns != made.get(solution.name)
            changed = solution.stat().st_mtime_ns != made.get(solution.name)
            if edited:
                note = f"; solutions/{solution.name} changed since: delete the copy" * changed
                done[solution.name] = f"kept (edited in class{note})"
                continue
            if not changed:
                done[solution.name] = "kept"
                continue
        shutil.copy2(solution, copy)  # keeps the solution's mtime: the copy's "unedited" mark
        made[solution.name] = copy.stat().st_mtime_ns
        done[solution.name] = "copied"
    stamp.write_text(json.dumps(made, indent=1))
    return done


def main() -> int:
    for name, what in prepare().items():
        print(f"outputs/demo/{name}: {what}")
    print("Presenting from outputs/demo/ (a scratch copy; solutions/ stay as committed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
