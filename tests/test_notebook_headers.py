"""Every notebook opens with a Colab badge and a Colab-only setup cell built from the one
repository name in pyproject.toml, and stays small."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent

NOTEBOOKS = sorted(ROOT.glob("solutions/*.ipynb")) + sorted(ROOT.glob("labs/*.ipynb"))


def _repo() -> str:
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["embedlab"]["repository"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_badge_and_setup_cell(path: Path):
    nb = nbformat.read(path, as_version=4)
    first, setup = nb.cells[0], nb.cells[1]
    repo = _repo()
    url = f"https://colab.research.google.com/github/{repo}/blob/main/{path.parent.name}/{path.name}"
    assert first.cell_type == "markdown" and url in first.source, f"badge must link to {url}"
    assert setup.cell_type == "code"
    assert '"google.colab" in sys.modules' in setup.source
    assert f"git+https://github.com/{repo}.git" in setup.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_stay_small(path: Path):
    assert path.stat().st_size < 400_000, f"{path.name} is {path.stat().st_size / 1e3:.0f} kB"
