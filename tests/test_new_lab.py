"""A lab is one unit: a throw-away lab made by ``tools/new_lab.py`` (CONTRIBUTING.md, step 1)
in a copy of the repository is picked up by every pipeline, with no list edited anywhere:
labs generation and answers, its checks, warming, the docs tests, nbval, the catalogue test
and the browser test's list of notebooks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """A copy of the working tree (tracked and new files, nothing ignored) plus a new lab."""
    dest = tmp_path_factory.mktemp("course") / "repo"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for rel in filter(None, (p.decode() for p in listed)):
        source = ROOT / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    run(dest, "tools/new_lab.py", "lab9", "demo", "Lab 9 · Demo", "--minutes", "5")
    run(dest, "tools/make_labs.py")
    jupyter = [str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--inplace"]
    subprocess.run([*jupyter, "solutions/lab9_demo.ipynb"], cwd=dest, env=env(dest), check=True)
    run(dest, "tools/make_labs.py")
    return dest


def env(root: Path) -> dict[str, str]:
    """The copy's own package first on the path (for its tools, tests and kernels)."""
    return {**os.environ, "PYTHONPATH": f"{root / 'shared'}{os.pathsep}{root}"}


def run(root: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, *args], cwd=root, env=env(root), capture_output=True, text=True
    )
    assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
    return out.stdout


def pytest_in(root: Path, *args: str) -> str:
    return run(root, "-m", "pytest", "-p", "no:cacheprovider", "-v", *args)


def test_the_lab_is_generated_with_its_header_setup_review_and_answer(copy):
    run(copy, "tools/make_labs.py", "--check")
    lab = (copy / "labs" / "lab9_demo.ipynb").read_text()
    assert "total = None  # TODO: replace with your code" in lab
    assert "# Lab 9 · Demo" in lab and "*5 min · intermediate*" in lab
    assert "google.colab" in lab and "1. What does 2 + 2 give?" in lab
    assert '"lab9"' in (copy / "shared" / "embedlab" / "labs" / "answers.json").read_text()


def test_its_checks_hints_and_review_work(copy):
    code = (
        "from embedlab.labs import lab9\n"
        "print(lab9.check_a(4)); print(lab9.check_a(5)); lab9.hint('a'); lab9.review({1: 'b'})"
    )
    out = run(copy, "-c", code)
    assert "[PASSED] Step a" in out and "[NOT YET] Step a: total is not the sum" in out
    assert "Add the two numbers" in out and "1 of 1 right." in out


def test_it_is_warmed_and_listed_with_the_others(copy):
    code = (
        "from tools import course, warm\n"
        "print([lab.name for lab in course.labs()]); print(sorted(warm.fill(['lab9'])))"
    )
    labs, warmed = run(copy, "-c", code).strip().splitlines()
    assert "'lab9'" in labs and "'lab1'" in labs
    assert warmed == "['lab9']"


def test_the_docs_tests_nbval_and_its_catalogue_cover_it(copy):
    out = pytest_in(
        copy,
        "tests/test_docs.py",
        "solutions/lab9_demo.ipynb",
        "tests/test_learner_answers_lab9.py",
        "--nbval",
        "--nbval-current-env",
        "-k",
        "lab9 or Cell",
    )
    assert "[lab9] PASSED" in out and "lab9_demo::ipynb::Cell 3 PASSED" in out
    assert "test_learner_answers[learner_answers-lab9-a-off-by-one] PASSED" in out
    assert " passed" in out and "failed" not in out and "error" not in out.lower()


def test_the_browser_test_lists_it(copy):
    out = pytest_in(
        copy, "tests/test_ui_jupyterlab.py", "tests/test_ui_solutions.py", "--collect-only"
    )
    assert "test_lab_opens_and_setup_cells_run[lab9_demo]" in out
    assert "test_solution_runs_in_the_ui[lab9_demo]" in out
