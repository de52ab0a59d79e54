"""tools/make_labs.py: labs and reference answers generated from the solutions, and the check
that keeps them in sync. Small synthetic notebooks only (the real ones are tested elsewhere);
the command line runs on a copy of the script in a throw-away course tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools import make_labs
from tools.make_labs import MarkerError, build, check, lint_lab, make_lab, split_regions

SCRIPT = Path(make_labs.__file__)
NAME = "lab9_demo.ipynb"

EXERCISE = """\
def norm(v):
    # BEGIN SOLUTION: return None
    return math.sqrt(sum(x * x for x in v))
    # END SOLUTION


# BEGIN SOLUTION: length = None
length = norm([3, 4])
# END SOLUTION
lab9.check_a(length)"""

EXERCISE_LAB = """\
def norm(v):
    return None  # TODO: replace with your code


length = None  # TODO: replace with your code
lab9.check_a(length)"""

REVIEW = """\
# BEGIN SOLUTION: answers = {1: None, 2: None}
answers = {1: "b", 2: "a"}
# END SOLUTION
lab9.review(answers)"""

ANSWERS = {
    "a": (
        "# replaces: return None\nreturn math.sqrt(sum(x * x for x in v))\n"
        "# replaces: length = None\nlength = norm([3, 4])"
    ),
    "review": '# replaces: answers = {1: None, 2: None}\nanswers = {1: "b", 2: "a"}',
}


def notebook(*cells, **metadata) -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    nb.metadata.update(metadata)
    nb.cells = list(cells)
    return nb


def solution() -> nbformat.NotebookNode:
    """A small solution notebook with everything make_labs handles."""
    return notebook(
        new_markdown_cell(
            "# Lab 9\n\n*5 min · beginner*\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/o/r/blob/main/solutions/{NAME})\n"
            f"Run [this notebook](solutions/{NAME}); compare solutions/lab9_other.ipynb and "
            f"mysolutions/{NAME}."
        ),
        new_code_cell(
            "# NBVAL_IGNORE_OUTPUT\n\nimport math\nprint(math.pi)",
            execution_count=1,
            outputs=[new_output("stream", name="stdout", text="3.14159\n")],
            metadata={
                "execution": {"iopub.execute_input": "2026"},
                "scrolled": True,
                "tags": ["x"],
            },
        ),
        new_code_cell(
            EXERCISE,
            execution_count=2,
            outputs=[
                new_output("execute_result", data={"text/plain": "[PASSED]"}, execution_count=2)
            ],
        ),
        new_code_cell(REVIEW, execution_count=3),
        new_code_cell("lab9.needs('a')\nprint(length)  # NBVAL_SKIP stays: not alone"),
        metadata={"colab": {"provenance": []}, "widgets": {"state": {}}},
    )


def lab_source(source: str) -> str:
    """The lab version of one code cell (with a check call, so regions are allowed)."""
    lab, _ = make_lab(notebook(new_code_cell(source + "\nlab9.check_z(x)")), NAME)
    return lab.cells[0].source.removesuffix("\nlab9.check_z(x)")


# --------------------------------------------------------------------------- stubs


def test_a_region_becomes_its_stub_with_the_markers_indentation():
    assert lab_source("# BEGIN SOLUTION: x = None\nx = 42\n# END SOLUTION") == (
        "x = None  # TODO: replace with your code"
    )
    assert lab_source(
        "if ok:\n    # BEGIN SOLUTION: pass\n    x = 1\n    y = 2\n    # END SOLUTION"
    ) == ("if ok:\n    pass  # TODO: replace with your code")


def test_every_region_of_a_cell_is_stubbed_and_the_rest_kept():
    lab, answers = make_lab(notebook(new_code_cell(EXERCISE)), NAME)
    assert lab.cells[0].source == EXERCISE_LAB
    assert answers == {"a": ANSWERS["a"]}


def test_split_regions_returns_the_solution_code_dedented():
    source, regions = split_regions(
        "    # BEGIN SOLUTION: y = None\n    y = [\n        1,\n    ]\n    # END SOLUTION", "w"
    )
    assert source == "    y = None  # TODO: replace with your code"
    assert regions == [("y = None", "y = [\n    1,\n]")]
    assert split_regions("x = 1\n\nprint(x)", "w") == ("x = 1\n\nprint(x)", [])


# --------------------------------------------------------------------------- marker errors


@pytest.mark.parametrize(
    "source, says",
    [
        ("# BEGIN SOLUTION: a = None\n# BEGIN SOLUTION: b = None\n# END SOLUTION\n# END SOLUTION",
         "line 2: nested '# BEGIN SOLUTION'"),
        ("x = 1\n# END SOLUTION", "line 2: '# END SOLUTION' without a BEGIN"),
        ("# BEGIN SOLUTION: x = None\nx = 1", "'# BEGIN SOLUTION' without an '# END SOLUTION'"),
        ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "line 1: malformed marker '# BEGIN SOLUTION'"),
        ("# BEGIN SOLUTION:\nx = 1\n# END SOLUTION", "line 1: malformed marker"),
        ("# Begin Solution: x = None\nx = 1\n# END SOLUTION", "line 1: malformed marker"),
        ("x = 1  # BEGIN SOLUTION: x = None\n# END SOLUTION", "line 1: malformed marker"),
        ("# BEGIN SOLUTION: x = None\nx = 1\n# END-SOLUTION", "line 3: malformed marker"),
        ("# BEGIN SOLUTION: x = None\nx = 1\n# END SOLUTION here", "line 3: malformed marker"),
    ],
)  # fmt: skip
def test_bad_markers_raise_marker_error_naming_notebook_cell_and_line(source, says):
    nb = notebook(new_markdown_cell("# T"), new_code_cell(source + "\nlab9.check_a(x)"))
    with pytest.raises(MarkerError) as err:
        make_lab(nb, NAME)
    message = str(err.value)
    assert message.startswith(f"solutions/{NAME}: cell 1"), message
    assert says in message, message


def test_every_marker_error_of_a_notebook_is_reported_at_once():
    nb = notebook(
        new_code_cell("# BEGIN SOLUTION: x = None\nx = 1"),
        new_code_cell("ok = 1"),
        new_code_cell("# END SOLUTION"),
    )
    with pytest.raises(MarkerError) as err:
        make_lab(nb, NAME)
    lines = str(err.value).split("\n")
    assert len(lines) == 2
    assert lines[0].startswith(f"solutions/{NAME}: cell 0") and lines[1].startswith(
        f"solutions/{NAME}: cell 2, line 1"
    )


@pytest.mark.parametrize(
    "calls, ok",
    [
        ("", False),
        ("lab9.check_a(x)\nlab9.check_b(x)", False),
        ("lab9.check_a(x)\nlab8.check_a(x)", False),
        ("lab9.check_a(x)\nlab9.review(answers)", False),
        ("lab9.check_a(x)\nif not lab9.check_a(x):\n    pass", True),
        ("lab9.needs('b')\nlab9.check_a(x)", True),  # needs() is not a check
    ],
)
def test_a_cell_with_regions_calls_exactly_one_check(calls, ok):
    nb = notebook(new_code_cell(f"# BEGIN SOLUTION: x = None\nx = 1\n# END SOLUTION\n{calls}"))
    if ok:
        assert make_lab(nb, NAME)[1] == {"a": "# replaces: x = None\nx = 1"}
    else:
        with pytest.raises(MarkerError, match="a cell with solution regions calls one check, not"):
            make_lab(nb, NAME)


# --------------------------------------------------------------------------- the lab notebook


def test_make_lab_strips_what_a_learner_must_not_see():
    sol = solution()
    before = nbformat.writes(sol)
    lab, answers = make_lab(sol, NAME)
    assert nbformat.writes(sol) == before, "the solution must not be modified"
    assert answers == ANSWERS
    assert len(lab.cells) == len(sol.cells) and [c.id for c in lab.cells] == [
        c.id for c in sol.cells
    ]
    for cell in lab.cells:
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None
    assert lab.cells[1].source == "import math\nprint(math.pi)"  # marker and blank line gone
    assert lab.cells[1].metadata == {"tags": ["x"]}  # transient metadata gone, tags kept
    assert lab.cells[2].source == EXERCISE_LAB
    stub = "answers = {1: None, 2: None}  # TODO: replace with your code"
    assert lab.cells[3].source == f"{stub}\nlab9.review(answers)"
    assert lab.cells[4].source == sol.cells[4].source  # an inline mention is not a marker line
    assert "colab" not in lab.metadata and "widgets" not in lab.metadata
    assert lab.metadata["embedlab"] == {"generated_from": f"solutions/{NAME}", "do_not_edit": True}
    assert lint_lab(lab, "labs/x") == []
    nbformat.validate(lab)


def test_links_to_the_solution_point_at_the_lab():
    lab, _ = make_lab(solution(), NAME)
    text = lab.cells[0].source
    assert f"/blob/main/labs/{NAME})" in text  # the Colab badge
    assert f"[this notebook](labs/{NAME})" in text
    assert "solutions/lab9_other.ipynb" in text  # another notebook's link is kept
    assert f"mysolutions/{NAME}" in text  # not a link to solutions/
    assert f"solutions/{NAME}" not in text.replace(f"mysolutions/{NAME}", "")


def test_the_lab_is_deterministic():
    sol = solution()
    first = make_labs.render(make_lab(sol, NAME)[0])
    assert first == make_labs.render(make_lab(sol, NAME)[0]) and first.endswith("\n")


def test_lint_lab_flags_leaks():
    nb = notebook(
        new_code_cell("x = 1", execution_count=3, outputs=[new_output("stream", text="1\n")]),
        new_markdown_cell("<!-- BEGIN SOLUTION --> the answer"),
        new_code_cell("# NBVAL_SKIP\nx = 3"),
    )
    assert lint_lab(nb, "labs/l.ipynb") == [
        "labs/l.ipynb: cell 0 has outputs",
        "labs/l.ipynb: cell 1 contains a solution marker",
        "labs/l.ipynb: cell 2 contains an nbval marker",
    ]


# --------------------------------------------------------------------------- build and check


LAB9 = """\
from embedlab.labs.base import Lab

TITLE, MINUTES, LEVEL = "Lab 9 · Demo", 5, "beginner"
LAB = Lab("lab9", {"a": "a hint"}, [])
"""


def tree(tmp_path: Path, *solutions: tuple[str, nbformat.NotebookNode]) -> Path:
    """A throw-away course tree with copies of the tools and the package, so that their ROOT
    is this tree; its lab modules are lab9 and those the solutions name."""
    root = tmp_path / "course"
    (root / "tools").mkdir(parents=True)
    for tool in ("make_labs.py", "course.py"):
        shutil.copy(SCRIPT.parent / tool, root / "tools" / tool)
    shutil.copytree(
        SCRIPT.parent.parent / "shared" / "embedlab",
        root / "shared" / "embedlab",
        ignore=shutil.ignore_patterns(
            "__pycache__", "*.jsonl", "*.csv", "lab1*.py", "lab2*.py", "lab3*.py"
        ),
    )
    (root / "pyproject.toml").write_text('[tool.embedlab]\nrepository = "o/r"\n')
    (root / "solutions").mkdir()
    for name, nb in solutions or [(NAME, solution())]:
        nbformat.write(nb, root / "solutions" / name)
        module = root / "shared" / "embedlab" / "labs" / f"{name.split('_')[0]}.py"
        module.write_text(LAB9.replace("lab9", name.split("_")[0]))
    return root


def paths(root: Path) -> tuple[Path, Path, Path]:
    return root / "solutions", root / "labs", root / "shared" / "embedlab" / "labs" / "answers.json"


def generate(root: Path) -> None:
    """What `python tools/make_labs.py` writes, done in-process (a subprocess costs seconds)."""
    solutions, labs_dir, answers_file = paths(root)
    labs, answers = build(solutions)
    labs_dir.mkdir(exist_ok=True)
    for name, text in labs.items():
        (labs_dir / name).write_text(text, encoding="utf-8")
    answers_file.write_text(answers, encoding="utf-8")


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    """The script in the tree, importing the tree's own package (its shared/ first)."""
    return subprocess.run(
        [sys.executable, str(root / "tools" / "make_labs.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(root / "shared")},
    )


def test_build_writes_one_answers_file_for_every_lab(tmp_path):
    other = notebook(
        new_code_cell("# BEGIN SOLUTION: y = None\ny = 2\n# END SOLUTION\nlab8.check_c(y)")
    )
    root = tree(tmp_path, (NAME, solution()), ("lab8_b.ipynb", other), ("lab7_c.ipynb", notebook()))
    labs, answers = build(root / "solutions")
    assert sorted(labs) == ["lab7_c.ipynb", "lab8_b.ipynb", NAME]
    expected = {"lab8": {"c": "# replaces: y = None\ny = 2"}, "lab9": ANSWERS}
    assert answers == json.dumps(expected, indent=1, sort_keys=True) + "\n"


def test_the_command_line(tmp_path):
    """`python tools/make_labs.py [--check]`: what it writes, prints and exits with."""
    root = tree(tmp_path)
    solutions, labs, answers = paths(root)
    result = cli(root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"updated solutions/{NAME}: header, setup cell\n"
        f"wrote labs/{NAME}\nwrote shared/embedlab/labs/answers.json\n"
    )
    assert json.loads(answers.read_text()) == {"lab9": ANSWERS}
    written = nbformat.read(solutions / NAME, as_version=4)
    assert (labs / NAME).read_text() == make_labs.render(make_lab(written, NAME)[0])
    ok = cli(root, "--check")
    assert (ok.returncode, ok.stdout) == (0, ""), ok.stdout + ok.stderr

    _edit_lab(root, lambda nb: setattr(nb.cells[2], "source", "length = 5.0"))
    answers.write_text("{}\n")
    stale = cli(root, "--check")
    assert stale.returncode == 1
    assert stale.stdout.split("\n") == [
        f"labs/{NAME} is out of date with solutions/{NAME}",
        "shared/embedlab/labs/answers.json is out of date with the solutions",
        "Fix: edit solutions/ and the lab modules only, then run `python tools/make_labs.py` "
        "(or `make labs`).",
        "",
    ]

    broken = solution()
    broken.cells[2].source = broken.cells[2].source.replace("    # END SOLUTION\n", "", 1)
    nbformat.write(broken, solutions / NAME)
    failed = cli(root)
    assert failed.returncode == 1 and "MarkerError" in failed.stderr
    assert f"solutions/{NAME}: cell 2, line 6: nested '# BEGIN SOLUTION'" in failed.stderr


@pytest.fixture
def generated(tmp_path) -> Path:
    root = tree(tmp_path)
    generate(root)
    assert check(*paths(root)) == []
    return root


def _edit_lab(root: Path, edit) -> None:
    path = root / "labs" / NAME
    nb = nbformat.read(path, as_version=4)
    edit(nb)
    nbformat.write(nb, path)


def test_check_detects_a_stale_lab(generated):
    _edit_lab(generated, lambda nb: setattr(nb.cells[2], "source", "length = 5.0"))
    assert check(*paths(generated)) == [f"labs/{NAME} is out of date with solutions/{NAME}"]
    generate(generated)
    assert check(*paths(generated)) == []  # regenerating repairs it


def test_check_detects_a_lab_with_outputs(generated):
    def add_outputs(nb):
        nb.cells[1].outputs = [new_output("stream", name="stdout", text="3.14159\n")]
        nb.cells[1].execution_count = 1

    _edit_lab(generated, add_outputs)
    assert check(*paths(generated)) == [f"labs/{NAME} is out of date with solutions/{NAME}"]


def test_check_detects_a_marker_leaked_into_a_lab(tmp_path):
    leaky = solution()
    leaky.cells.append(new_markdown_cell("Answer: <!-- BEGIN SOLUTION --> 5 <!-- END SOLUTION -->"))
    root = tree(tmp_path, (NAME, leaky))
    generate(root)  # generated as written...
    assert check(*paths(root)) == [f"labs/{NAME}: cell 5 contains a solution marker"]  # ...caught


def test_check_detects_an_extra_and_a_missing_lab(generated):
    (generated / "labs" / NAME).rename(generated / "labs" / "lab0_orphan.ipynb")
    assert check(*paths(generated)) == [
        f"labs/{NAME} is missing",
        "labs/lab0_orphan.ipynb has no solution",
    ]


def test_check_detects_a_stale_answers_file(generated):
    solutions, labs, answers = paths(generated)
    answers.write_text(json.dumps({"lab9": {"a": "old answer"}}, indent=1) + "\n")
    # in-process, the tree is outside this repository: the file is named in full
    assert check(solutions, labs, answers) == [f"{answers} is out of date with the solutions"]
    answers.unlink()
    assert check(solutions, labs, answers) == [f"{answers} is out of date with the solutions"]


def test_check_reports_marker_errors_in_a_solution(generated):
    broken = solution()
    broken.cells[2].source = broken.cells[2].source.replace("    # END SOLUTION\n", "", 1)
    nbformat.write(broken, generated / "solutions" / NAME)
    assert check(*paths(generated)) == [
        f"solutions/{NAME}: cell 2, line 6: nested '# BEGIN SOLUTION'"
    ]
