"""Every name a notebook calls from the course's helper is public and documented: reached
through ``embedlab.<name>``, ``embedlab.<module>.<name>`` or ``labN.<name>``, it resolves,
does not start with an underscore, is listed in its module's ``__all__`` where the module
has one (the package and every lab module do; a package's submodules count as public), and
has a docstring."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted(ROOT.glob("solutions/*.ipynb"))


def called_names(path: Path) -> set[tuple[str, ...]]:
    """Attribute chains on ``embedlab`` and the lab module in a notebook's code cells."""
    found: set[tuple[str, ...]] = set()
    lab = path.stem.split("_", 1)[0]
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            chain, inner = [], node
            while isinstance(inner, ast.Attribute):
                chain.insert(0, inner.attr)
                inner = inner.value
            if chain and isinstance(inner, ast.Name) and inner.id in ("embedlab", lab):
                found.add(("embedlab", *chain) if inner.id == "embedlab" else ("lab", lab, *chain))
    return found


def resolve(chain: tuple[str, ...]) -> list[tuple[object, str, object]]:
    """(owner, name, value) for each step of the chain that names a helper."""
    if chain[0] == "lab":
        owner, rest = importlib.import_module(f"embedlab.labs.{chain[1]}"), chain[2:]
    else:
        owner, rest = importlib.import_module("embedlab"), chain[1:]
    steps = []
    for name in rest:
        if not isinstance(owner, ModuleType):  # past the helper: a returned object
            break
        value = getattr(owner, name)
        steps.append((owner, name, value))
        owner = value
    return steps


def problems_in(path: Path) -> list[str]:
    """Every helper name the notebook calls that is private, unlisted or undocumented."""
    problems = []
    for chain in sorted(called_names(path)):
        for owner, name, value in resolve(chain):
            where = f"{'.'.join(chain)}: {getattr(owner, '__name__', owner)}.{name}"
            listed = isinstance(value, ModuleType) or name in getattr(owner, "__all__", [name])
            if name.startswith("_") or not listed:  # a package's submodules are public too
                problems.append(f"{where} is private or not in its module's __all__")
            elif callable(value) and not (value.__doc__ or "").strip():
                problems.append(f"{where} has no docstring")
    return problems


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_helper_name_a_notebook_calls_is_public_and_documented(path):
    assert called_names(path), f"{path.name} calls nothing from embedlab?"
    assert problems_in(path) == []


def test_the_check_finds_a_private_name(tmp_path):
    path = tmp_path / "lab9_probe.ipynb"
    cells = [nbformat.v4.new_code_cell("embedlab.models._names()\nembedlab.embed(m, t)")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    chains = called_names(path)
    assert ("embedlab", "models", "_names") in chains and ("embedlab", "embed") in chains
    ((owner, name, _),) = resolve(("embedlab", "models", "_names"))[1:]
    assert name == "_names" and owner.__name__ == "embedlab.models"
    assert problems_in(path) == [
        "embedlab.models._names: embedlab.models._names is private or not in its module's __all__"
    ]
