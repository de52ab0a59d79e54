"""Point every Colab badge and setup cell at another GitHub repository.

The repository is written once, in ``pyproject.toml`` (``[tool.embedlab] repository``).
This script replaces the old ``owner/repo`` with the new one there and in every notebook.

Usage::

    python tools/set_repo.py my-org/my-fork
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def current_repo() -> str:
    """The ``owner/repo`` recorded in pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["embedlab"]["repository"]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not re.fullmatch(r"[\w.-]+/[\w.-]+", argv[0]):
        print("usage: python tools/set_repo.py OWNER/REPO", file=sys.stderr)
        return 2
    old, new = current_repo(), argv[0]
    files = [ROOT / "pyproject.toml", ROOT / "README.md", *sorted(ROOT.glob("solutions/*.ipynb"))]
    for path in files:
        text = path.read_text()
        if old in text:
            path.write_text(text.replace(old, new))
            print(f"updated {path.relative_to(ROOT)}")
    print("now run: python tools/make_labs.py   (labs are generated from solutions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
