"""The labs: one module per lab, with its checks, hints, review questions and lab-only helpers.

A notebook imports its own lab: ``from embedlab.labs import lab1``, then ``lab1.check_a(...)``,
``lab1.hint("a")``, ``lab1.answer("a")``, ``lab1.review({...})``. The list of labs is never
written down: :func:`names` finds the modules here, and the tools pair each with its
solution notebook (``solutions/lab1_*.ipynb`` belongs to ``lab1``).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

__all__ = ["load", "module_of", "names"]


def names() -> list[str]:
    """The lab modules in this package, in course order (``lab1``, ``lab2``, ``lab2x``, ...).

    >>> names()[:2]
    ['lab1', 'lab2']
    """
    found = [m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("lab")]
    return sorted(found, key=lambda n: (len(n.rstrip("abcdefghijklmnopqrstuvwxyz")), n))


def load(name: str) -> ModuleType:
    """The lab module ``name`` (``"lab1"``)."""
    if name not in names():
        raise KeyError(f"no lab module {name!r}; the labs are {names()}")
    return importlib.import_module(f"embedlab.labs.{name}")


def module_of(notebook: str | Path) -> str:
    """The lab module of a notebook: ``lab2x_optimise_for_production.ipynb`` -> ``lab2x``."""
    return Path(notebook).stem.split("_", 1)[0]
