"""The course's labs, found rather than listed, and the notebook parts generated for each.

A lab is a solution notebook ``solutions/<module>_<slug>.ipynb`` plus its module
``shared/embedlab/labs/<module>.py`` (title, minutes, level, checks, hints, review questions).
Every tool and test that needs "the labs" asks :func:`labs`; nothing else lists them.

From the module, :func:`header`, :func:`setup_source` and the module's review questions give
the parts every notebook shares, which ``tools/make_labs.py`` writes into the solution:
the title with its Colab and Binder badges and time line, the Colab setup cell, and the
review questions.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
# The setup cell's extras: what every lab needs beyond the core (Colab has torch and friends).
COLAB_EXTRAS = "static,search,train"


@dataclass(frozen=True)
class LabInfo:
    """One lab: its module name, solution and learner notebooks, and its module."""

    name: str  # "lab1"
    solution: Path
    lab: Path
    module: ModuleType

    @property
    def title(self) -> str:
        return self.module.TITLE

    @property
    def minutes(self) -> int:
        return self.module.MINUTES


def repository(root: Path = ROOT) -> str:
    """The GitHub ``owner/repo`` written once in pyproject.toml."""
    with open(root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["embedlab"]["repository"]


def labs(root: Path = ROOT) -> list[LabInfo]:
    """Every lab: each solution notebook with its lab module, in course order.

    The modules are those of the importable ``embedlab`` (another checkout's, when its
    ``shared/`` is first on ``PYTHONPATH``). Raises ``LookupError`` when a solution has no
    module or a module no solution.
    """
    import embedlab.labs
    from embedlab.labs import module_of, names

    solutions = sorted((root / "solutions").glob("*.ipynb"))
    by_module = {module_of(p): p for p in solutions}
    modules = names()
    missing = sorted(set(by_module) - set(modules))
    orphans = sorted(set(modules) - set(by_module))
    if missing or orphans:
        raise LookupError(
            f"solutions without a lab module: {missing}; lab modules without a solution: "
            f"{orphans}. A lab is solutions/<module>_<slug>.ipynb plus "
            "shared/embedlab/labs/<module>.py (see CONTRIBUTING.md)."
        )
    order = {n: i for i, n in enumerate(names())}
    found = [
        LabInfo(n, p, root / "labs" / p.name, embedlab.labs.load(n)) for n, p in by_module.items()
    ]
    return sorted(found, key=lambda lab: (order.get(lab.name, len(order)), lab.name))


def header(lab: LabInfo, root: Path = ROOT) -> str:
    """The first lines of the notebook's first cell: title, badges, time and level."""
    repo, name = repository(root), lab.solution.name
    colab = f"https://colab.research.google.com/github/{repo}/blob/main/solutions/{name}"
    binder = f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/labs/{name}"
    return (
        f"# {lab.title}\n\n"
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab})\n"
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder})\n\n"
        f"*{lab.minutes} min · {lab.module.LEVEL}*"
    )


def setup_source(root: Path = ROOT) -> str:
    """The Colab setup cell: the same for every notebook."""
    url = f"embedlab[{COLAB_EXTRAS}] @ git+https://github.com/{repository(root)}.git"
    return f'''# Setup: in Colab this installs the course helper package; locally it does nothing
# (there, `pip install -e .` from the repository root has installed it already).
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    import subprocess

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "{url}",
        ],
        check=True,
    )'''
