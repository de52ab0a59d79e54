"""The README and the instructor guide say what is true: the snippet's output is the real one,
every command it names is a Makefile target, and each lab's plan adds up to its stated time."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
GUIDE = (ROOT / "docs" / "instructor_guide.md").read_text(encoding="utf-8")
LABS = {
    "Lab 1": "lab1_generate_and_compare",
    "Lab 2": "lab2_model_selection",
    "Lab 2x": "lab2x_optimise_for_production",
}


def _stated_minutes(name: str) -> int:
    first = nbformat.read(ROOT / "labs" / f"{name}.ipynb", as_version=4).cells[0].source
    return int(re.search(r"\*(\d+)\s*min", first)[1])


def test_the_readme_snippet_prints_what_the_readme_shows():
    code, shown = re.search(
        r"## One snippet\s+```python\n(.*?)```\s*```\n(.*?)```", README, re.S
    ).groups()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README snippet", "exec"), {})
    assert out.getvalue() == shown


def test_every_make_command_in_the_readme_is_a_documented_target():
    targets = set(re.findall(r"^([a-z-]+):.*## ", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([a-z-]+)", README)) | set(
        re.findall(r"^make ([a-z-]+)", README, re.M)
    )
    assert {"lab", "test", "warm", "demo", "setup"} <= named
    assert named <= targets, f"the README names make targets that do not exist: {named - targets}"


def test_the_readme_links_the_guide_every_lab_and_binder():
    assert "docs/instructor_guide.md" in README
    for name in LABS.values():
        assert f"labs/{name}.ipynb" in README
        assert "mybinder.org/v2/gh/" in README and f"urlpath=lab/tree/labs/{name}.ipynb" in README


@pytest.mark.parametrize("lab", LABS)
def test_each_plan_adds_up_to_the_time_the_lab_states(lab):
    section = GUIDE.split(f"## {lab} ·")[1].split("\n## ")[0]
    plan = section.split("**Plan**")[1].split("**Talking points**")[0]
    minutes = [int(m) for m in re.findall(r"^\|\s*(\d+)\s*\|", plan, re.M)]
    total = int(re.search(r"^\|\s*\*\*(\d+)\*\*\s*\|", plan, re.M)[1])
    stated = _stated_minutes(LABS[lab])
    assert sum(minutes) == total == stated, (
        f"{lab}: plan {minutes} = {sum(minutes)}, stated {stated}"
    )
    for part in (
        "**Objectives.**",
        "**Talking points**",
        "**Mistakes the checks catch",
        "**Discussion questions**",
    ):
        assert part in section, f"{lab}: the guide lacks {part}"
    questions = re.findall(r"^\d\. ", section.split("**Discussion questions**")[1], re.M)
    assert 3 <= len(questions) <= 5
