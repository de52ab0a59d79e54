"""Scaffold a new lab: its module, its solution notebook, a guide section, a README row and a
catalogue test file, each a small working example to edit (CONTRIBUTING.md, step 1).

Usage::

    python tools/new_lab.py lab4 my_topic "Lab 4 · My topic" --minutes 20 --level intermediate

Then ``python tools/make_labs.py`` writes the header, setup cell, review questions, the learner
notebook and the reference answers; every tool and test finds the lab from its two files.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `tools` is importable from the root
    sys.path.insert(0, str(ROOT))

from tools import course  # noqa: E402

MODULE = '''"""Checks, hints and review questions for {title} (see CONTRIBUTING.md)."""

from __future__ import annotations

from embedlab.labs.base import Lab, Mistake, Question, as_number

__all__ = ["answer", "check_a", "hint", "needs", "review", "warm"]

TITLE, MINUTES, LEVEL = {title!r}, {minutes}, {level!r}
HINTS = {{"a": "Add the two numbers with +."}}
QUESTIONS = [
    Question(
        "What does 2 + 2 give?",
        {{"a": "3", "b": "4"}},
        "b",
        {{"a": "Count again: two and two.", "b": "Right: two and two make four."}},
    )
]
LAB = Lab({name!r}, HINTS, QUESTIONS)
hint, answer, review, needs = LAB.hint, LAB.answer, LAB.review, LAB.needs


@LAB.check("a")
def check_a(total: object) -> str:
    """``total`` is 2 + 2 (any real number type)."""
    if as_number(total, "total") != 4:
        raise Mistake("total is not the sum of the two numbers.")
    return "the sum is right."


def warm(load) -> None:
    """Fill the embedding cache with what the notebook reads through it (nothing yet)."""
'''

GUIDE = """
## {title} ({minutes} min, {level})

**Objectives.** After this lab a learner can: (write the objectives).

**Plan**

| min | step | you do |
|---:|---|---|
| {minutes} | The whole lab | (split into steps) |
| **{minutes}** | | |

**Where to point** (a test checks that each cell shows this)

| cell | shows | look for |
|---|---|---|
| `sum-check` | exercise a's check | `Step a` |

**Talking points**
- (what to say at each step, naming cells by id)

**Mistakes the checks catch most often**
- (the typical wrong answers and how to discuss them)

**Discussion questions, with answers**
1. (a question) *Answer:* (its answer).
2. (a question) *Answer:* (its answer).
3. (a question) *Answer:* (its answer).

**If the class runs late**
- (what to skip, minute by minute)
"""

CATALOGUE = '''"""Learner answers to {title}'s exercises (tests/learner_answers.py)."""

from __future__ import annotations

import pytest
from learner_answers import Case, judge, params

from embedlab.labs import {name}

CASES = [
    Case("right", "a", "total = 2 + 2", True, "right"),
    Case("float", "a", "total = 4.0", True, "right"),
    Case("off-by-one", "a", "total = 5", False, "not the sum"),
    Case("text", "a", "total = '4'", False, "a string"),
    Case("not-done", "a", "total = None", False, "replace the TODO"),
]


@pytest.mark.parametrize("case", params({name!r}, CASES))
def test_learner_answers(case):
    judge(case, {{}}, lambda ns: {name}.check_a(ns["total"]))
'''


def notebook(name: str) -> nbformat.NotebookNode:
    """The solution notebook: header and setup are placeholders make_labs fills in."""
    cells = [
        new_markdown_cell(
            "# (title)\n\n*1 min · (level)*\n\nWhat the learner will do, in two lines."
        ),
        new_code_cell("# setup: written by tools/make_labs.py"),
        new_code_cell(f"from embedlab.labs import {name}"),
        new_markdown_cell("## a. A first exercise\nAdd 2 and 2: `total`."),
        new_code_cell(
            f"# BEGIN SOLUTION: total = None\ntotal = 2 + 2\n# END SOLUTION\n{name}.check_a(total)"
        ),
        new_markdown_cell("## Review"),
        new_code_cell(
            '# BEGIN SOLUTION: review_answers = {1: None}\nreview_answers = {1: "b"}\n'
            f"# END SOLUTION\n{name}.review(review_answers)"
        ),
    ]
    ids = ["intro", "setup", "imports", "a", "sum-check", "review", "answers"]
    for cell, cid in zip(cells, ids, strict=True):
        cell.id = cid
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    return nb


def scaffold(root: Path, name: str, slug: str, title: str, minutes: int, level: str) -> list[Path]:
    """Write the lab's files under ``root``; the paths written."""
    if not re.fullmatch(r"lab\d+[a-z]?", name) or not re.fullmatch(r"[a-z0-9_]+", slug):
        raise SystemExit("name must look like lab4 (or lab4x), slug like my_topic")
    module = root / "shared" / "embedlab" / "labs" / f"{name}.py"
    solution = root / "solutions" / f"{name}_{slug}.ipynb"
    catalogue = root / "tests" / f"test_learner_answers_{name}.py"
    if module.exists() or list((root / "solutions").glob(f"{name}_*.ipynb")):
        raise SystemExit(f"{name} exists already")
    fields = {"name": name, "title": title, "minutes": minutes, "level": level}
    module.write_text(MODULE.format(**fields), encoding="utf-8")
    nbformat.write(notebook(name), solution)
    catalogue.write_text(CATALOGUE.format(**fields), encoding="utf-8")
    guide = root / "docs" / "instructor_guide.md"
    guide.write_text(guide.read_text(encoding="utf-8") + GUIDE.format(**fields), encoding="utf-8")
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    repo, lab = course.repository(root), f"labs/{solution.name}"
    colab = f"https://colab.research.google.com/github/{repo}/blob/main/{lab}"
    binder = f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{lab}"
    badges = (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder})"
    )
    row = f"| [{title}]({lab}) | {badges} | {minutes} min | {level} | (what learners do) |\n"
    last = max(m.end() for m in re.finditer(r"^\| \[Lab .*\n", text, re.M))
    readme.write_text(text[:last] + row + text[last:], encoding="utf-8")
    return [module, solution, catalogue, guide, readme]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="module name, e.g. lab4")
    parser.add_argument("slug", help="notebook name after the module, e.g. my_topic")
    parser.add_argument("title", help='e.g. "Lab 4 · My topic"')
    parser.add_argument("--minutes", type=int, default=20)
    parser.add_argument("--level", default="intermediate")
    args = parser.parse_args(argv)
    for path in scaffold(ROOT, args.name, args.slug, args.title, args.minutes, args.level):
        print(f"wrote {path.relative_to(ROOT)}")
    print("next: python tools/make_labs.py, then CONTRIBUTING.md steps 2-5")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
