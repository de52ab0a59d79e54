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
    url = (
        f"https://colab.research.google.com/github/{repo}/blob/main/{path.parent.name}/{path.name}"
    )
    assert first.cell_type == "markdown" and url in first.source, f"badge must link to {url}"
    assert setup.cell_type == "code"
    assert '"google.colab" in sys.modules' in setup.source
    assert f"git+https://github.com/{repo}.git" in setup.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_stay_small(path: Path):
    assert path.stat().st_size < 400_000, f"{path.name} is {path.stat().st_size / 1e3:.0f} kB"


SOLUTIONS = sorted(ROOT.glob("solutions/*.ipynb"))
IGNORE_MARKERS = ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_most_solution_outputs_are_compared(path: Path):
    """nbval compares at least two thirds of the solution cells that have output."""
    nb = nbformat.read(path, as_version=4)
    with_output = [c for c in nb.cells if c.cell_type == "code" and c.outputs]
    ignored = [c for c in with_output if c.source.lstrip().startswith(IGNORE_MARKERS)]
    assert with_output, f"{path.name} has no stored outputs for nbval to compare"
    compared = 1 - len(ignored) / len(with_output)
    assert compared >= 2 / 3, f"only {compared:.0%} of {path.name}'s output cells are compared"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_compared_cells_have_no_stderr_or_errors(path: Path):
    """Warnings and progress bars (stderr) must not leak into outputs nbval compares."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.source.lstrip().startswith(IGNORE_MARKERS):
            continue
        for out in cell.outputs:
            assert out.output_type != "error", f"cell {i} stored an error"
            assert not (out.output_type == "stream" and out.name == "stderr"), (
                f"cell {i} of {path.name} writes to stderr: {out.text[:200]!r}"
            )
