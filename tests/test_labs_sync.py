"""Labs are generated from solutions by tools/make_labs.py; these tests keep them honest.

(a) unit tests of the transformation on small in-memory notebooks;
(b) CLI tests on throw-away copies under tmp_path (a tampered lab must be detected);
(c) repo tests: every committed lab is exactly what its solution generates, has no outputs
    and leaks no solution code, and labs/ and solutions/ hold the same notebook names.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
LABS = ROOT / "labs"
SCRIPT = ROOT / "tools" / "make_labs.py"


def _load_make_labs():
    spec = importlib.util.spec_from_file_location("make_labs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_labs"] = module
    spec.loader.exec_module(module)
    return module


make_labs = _load_make_labs()


def notebook(*cells, **metadata) -> nbformat.NotebookNode:
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            **metadata,
        }
    )
    nb.cells = list(cells)
    return nb


def lab_of(*cells, name="lab_test.ipynb", **metadata) -> nbformat.NotebookNode:
    return make_labs.make_lab(notebook(*cells, **metadata), name)


def lab_source(source: str) -> str:
    """The lab version of a single code cell."""
    return lab_of(new_code_cell(source)).cells[0].source


# ----------------------------------------------------------------------------------------------
# (a) the transformation
# ----------------------------------------------------------------------------------------------


def test_region_replaced_by_todo_keeping_indentation():
    src = (
        "for text in texts:\n"
        "    vec = model.encode(text)\n"
        "    # BEGIN SOLUTION\n"
        "    vec = vec / np.linalg.norm(vec)\n"
        "    vectors.append(vec)\n"
        "    # END SOLUTION\n"
        "print(len(vectors))"
    )
    assert lab_source(src) == (
        "for text in texts:\n"
        "    vec = model.encode(text)\n"
        "    # TODO: your code here\n"
        "print(len(vectors))"
    )


def test_replacement_on_begin_line_is_used():
    src = "# BEGIN SOLUTION: scores = None\nscores = a @ b.T\n# END SOLUTION\ncheck(scores)"
    assert lab_source(src) == "scores = None  # TODO: replace with your code\ncheck(scores)"


def test_replacement_keeps_indentation():
    src = "def f(x):\n    # BEGIN SOLUTION: return None\n    return x * 2\n    # END SOLUTION\n"
    assert lab_source(src) == "def f(x):\n    return None  # TODO: replace with your code\n"


def test_multiple_regions_per_cell():
    src = (
        "# BEGIN SOLUTION: a = None\n"
        "a = 1\n"
        "# END SOLUTION\n"
        "b = 2\n"
        "# BEGIN SOLUTION\n"
        "c = a + b\n"
        "# END SOLUTION\n"
        "if b:\n"
        "    # BEGIN SOLUTION\n"
        "    print(c)\n"
        "    # END SOLUTION\n"
        "    print(b)"
    )
    assert lab_source(src) == (
        "a = None  # TODO: replace with your code\n"
        "b = 2\n"
        "# TODO: your code here\n"
        "if b:\n"
        "    # TODO: your code here\n"
        "    print(b)"
    )


def test_region_that_is_a_whole_block_body_becomes_pass():
    # A lone comment is not a valid function body, so the stub must stay valid Python.
    src = (
        "def normalize(v):\n"
        '    """Unit-length copy of v."""\n'
        "    # BEGIN SOLUTION\n"
        "    return v / np.linalg.norm(v)\n"
        "    # END SOLUTION\n"
        "\n"
        "\n"
        "def other():\n"
        "    # BEGIN SOLUTION\n"
        "    return 1\n"
        "    # END SOLUTION"
    )
    out = lab_source(src)
    assert out == (
        "def normalize(v):\n"
        '    """Unit-length copy of v."""\n'
        "    # TODO: your code here\n"
        "\n"
        "\n"
        "def other():\n"
        "    pass  # TODO: your code here"
    )
    compile(out, "<lab>", "exec")


def test_ipython_magics_are_left_alone():
    src = "%%time\n# BEGIN SOLUTION: emb = None\nemb = model.encode(texts)\n# END SOLUTION"
    assert lab_source(src) == "%%time\nemb = None  # TODO: replace with your code"


def test_markdown_block_replaced():
    md = (
        "**Q1.** Which model is best?\n\n"
        "<!-- BEGIN SOLUTION -->\n"
        "MiniLM, because it is fast.\n"
        "<!-- END SOLUTION -->\n\n"
        "**Q2.** Why?\n\n"
        "<!-- BEGIN SOLUTION: *Your reasoning.* -->\nBecause.\n<!-- END SOLUTION -->"
    )
    out = lab_of(new_markdown_cell(md)).cells[0].source
    assert out == (
        "**Q1.** Which model is best?\n\n"
        "*Write your answer here.*\n\n"
        "**Q2.** Why?\n\n"
        "*Your reasoning.*"
    )


def test_solution_only_cells_dropped_and_other_cells_kept_in_order():
    lab = lab_of(
        new_markdown_cell("# Title"),
        new_markdown_cell("## Discussion of the answer", metadata={"tags": ["solution-only"]}),
        new_code_cell("print('hidden')", metadata={"tags": ["solution-only", "x"]}),
        new_code_cell("x = 1"),
    )
    assert [c.source for c in lab.cells] == ["# Title", "x = 1"]


def test_outputs_execution_counts_and_transient_metadata_stripped():
    cell = new_code_cell(
        "print(1)",
        execution_count=7,
        outputs=[
            new_output("stream", name="stdout", text="1\n"),
            new_output("execute_result", data={"text/plain": "1"}, execution_count=7),
        ],
        metadata={
            "execution": {"iopub.execute_input": "2025-01-01T00:00:00Z"},
            "collapsed": False,
            "scrolled": True,
            "colab": {"base_uri": "https://localhost:8080/"},
            "jupyter": {"outputs_hidden": True, "source_hidden": True},
            "tags": ["keep-me"],
        },
    )
    lab = lab_of(cell, widgets={"application/vnd.jupyter.widget-state+json": {"state": {}}})
    (out,) = lab.cells
    assert out.outputs == []
    assert out.execution_count is None
    assert out.metadata == {"jupyter": {"source_hidden": True}, "tags": ["keep-me"]}
    assert "widgets" not in lab.metadata
    assert lab.metadata["kernelspec"]["name"] == "python3"


def test_nbval_markers_and_tags_removed():
    lab = lab_of(
        new_code_cell("# NBVAL_IGNORE_OUTPUT\nimport time\n\nprint(time.time())"),
        new_code_cell("# NBVAL_SKIP\n# NBVAL_CHECK_OUTPUT\nx = 1"),
        new_code_cell("y = 2", metadata={"tags": ["nbval-ignore-output", "nbval-skip", "mine"]}),
        new_code_cell("# NBVAL_RAISES_EXCEPTION\nraise ValueError('on purpose')"),
    )
    sources = [c.source for c in lab.cells]
    assert sources[:3] == ["import time\n\nprint(time.time())", "x = 1", "y = 2"]
    assert lab.cells[2].metadata == {"tags": ["mine"]}
    # Deliberately raising cells keep their marker: it describes the cell, not the test.
    assert sources[3].startswith("# NBVAL_RAISES_EXCEPTION")


def test_self_links_rewritten_other_links_untouched():
    md = (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/o/r/blob/main/solutions/lab_test.ipynb)\n"
        "Next: [lab 2](https://github.com/o/r/blob/main/solutions/lab2.ipynb), "
        "[local](../solutions/lab_test.ipynb)"
    )
    out = lab_of(new_markdown_cell(md)).cells[0].source
    assert "blob/main/labs/lab_test.ipynb)" in out
    assert "(../labs/lab_test.ipynb)" in out
    assert "solutions/lab2.ipynb" in out  # another notebook: not ours to rewrite
    assert "solutions/lab_test.ipynb" not in out


def test_generated_metadata_banner():
    lab = lab_of(new_markdown_cell("# T"), name="lab9_x.ipynb")
    assert lab.metadata["embedlab"] == {
        "generated_from": "solutions/lab9_x.ipynb",
        "do_not_edit": True,
    }


def test_cell_ids_kept_and_output_deterministic():
    sol = notebook(
        new_markdown_cell("# T"), new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION")
    )
    ids = [c.id for c in sol.cells]
    first = make_labs.render(make_labs.make_lab(sol, "a.ipynb"))
    second = make_labs.render(
        make_labs.make_lab(nbformat.reads(nbformat.writes(sol), 4), "a.ipynb")
    )
    assert first == second
    assert [c["id"] for c in json.loads(first)["cells"]] == ids
    assert first.endswith("}\n")
    nbformat.validate(nbformat.reads(first, as_version=4))


def test_missing_cell_ids_are_derived_deterministically():
    sol = notebook(new_markdown_cell("# T"), new_code_cell("x = 1"))
    sol.nbformat_minor = 4
    for cell in sol.cells:
        del cell["id"]
    a = make_labs.make_lab(sol, "a.ipynb")
    b = make_labs.make_lab(sol, "a.ipynb")
    assert [c.id for c in a.cells] == [c.id for c in b.cells]
    assert len({c.id for c in a.cells}) == 2
    assert a.nbformat_minor >= 5
    nbformat.validate(a)


def test_solution_notebook_is_not_modified():
    sol = notebook(new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", execution_count=1))
    before = nbformat.writes(sol)
    make_labs.make_lab(sol, "a.ipynb")
    assert nbformat.writes(sol) == before


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n# BEGIN SOLUTION\ny = 2", r"line 2: '# BEGIN SOLUTION' without a matching"),
        ("y = 2\n# END SOLUTION", r"line 2: '# END SOLUTION' without a matching"),
        (
            "# BEGIN SOLUTION\na = 1\n# BEGIN SOLUTION\nb = 2\n# END SOLUTION",
            r"line 3: nested '# BEGIN SOLUTION' \(the region opened at line 1",
        ),
        ("x = 1  # BEGIN SOLUTION\n# END SOLUTION", r"line 1: malformed solution marker"),
        ("# Begin Solution\nx = 1\n# END SOLUTION", r"line 1: malformed solution marker"),
    ],
)
def test_unbalanced_code_markers_name_notebook_and_cell(source, message):
    sol = notebook(new_markdown_cell("# T"), new_code_cell(source))
    cell_id = sol.cells[1].id
    with pytest.raises(make_labs.MarkerError, match=message) as info:
        make_labs.make_lab(sol, "lab_bad.ipynb")
    assert f"solutions/lab_bad.ipynb: cell 1 (0-based, id '{cell_id}')" in str(info.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("Q?\n<!-- BEGIN SOLUTION -->\nA", "without a matching '<!-- END SOLUTION -->'"),
        ("A\n<!-- END SOLUTION -->", "without a matching '<!-- BEGIN SOLUTION -->'"),
        ("<!-- BEGIN SOLUTION -->\n<!-- BEGIN SOLUTION -->\n<!-- END SOLUTION -->", "nested"),
    ],
)
def test_unbalanced_markdown_markers_raise(source, message):
    with pytest.raises(make_labs.MarkerError, match=re.escape(message)) as info:
        make_labs.make_lab(notebook(new_markdown_cell(source)), "lab_md.ipynb")
    assert "solutions/lab_md.ipynb: cell 0" in str(info.value)


def test_all_marker_errors_of_a_notebook_are_reported():
    sol = notebook(
        new_code_cell("# BEGIN SOLUTION\nx = 1"),
        new_code_cell("ok = 1"),
        new_code_cell("# END SOLUTION"),
    )
    errors = make_labs.find_marker_errors(sol, "lab_x.ipynb")
    assert len(errors) == 2
    assert "cell 0" in errors[0] and "cell 2" in errors[1]
    assert make_labs.find_marker_errors(notebook(new_code_cell("x = 1")), "ok.ipynb") == []


def test_lint_lab_flags_leaks():
    nb = notebook(
        new_code_cell("x = 1", execution_count=3, outputs=[new_output("stream", text="1\n")]),
        new_code_cell("# BEGIN SOLUTION\nx = 2"),
        new_markdown_cell("answer", metadata={"tags": ["solution-only"]}),
        new_code_cell("# NBVAL_SKIP\nx = 3"),
    )
    problems = "\n".join(make_labs.lint_lab(nb, "labs/l.ipynb"))
    for expected in (
        "cell 0 (0-based, id",
        "has outputs",
        "has an execution count",
        "cell 1 (0-based",
        "contains a solution marker",
        "is tagged 'solution-only'",
        "contains an nbval marker",
    ):
        assert expected in problems
    assert make_labs.lint_lab(lab_of(new_code_cell("x = 1")), "labs/l.ipynb") == []


# ----------------------------------------------------------------------------------------------
# (b) the command line, on copies under tmp_path
# ----------------------------------------------------------------------------------------------


def fixture_solution() -> nbformat.NotebookNode:
    return notebook(
        new_markdown_cell(
            "# Lab 0: fixture\n\n"
            "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            "(https://colab.research.google.com/github/o/r/blob/main/solutions/lab0_fixture.ipynb)"
        ),
        new_code_cell(
            "# NBVAL_IGNORE_OUTPUT\nimport math\n\nprint(math.pi)",
            execution_count=1,
            outputs=[new_output("stream", name="stdout", text="3.14159\n")],
        ),
        new_code_cell(
            "def norm(v):\n"
            "    # BEGIN SOLUTION\n"
            "    return math.sqrt(sum(x * x for x in v))\n"
            "    # END SOLUTION\n"
            "\n"
            "\n"
            "# BEGIN SOLUTION: length = None\n"
            "length = norm([3, 4])\n"
            "# END SOLUTION\n"
            "print(length)",
            execution_count=2,
            outputs=[new_output("stream", name="stdout", text="5.0\n")],
        ),
        new_markdown_cell(
            "Why?\n\n<!-- BEGIN SOLUTION -->\nPythagoras.\n<!-- END SOLUTION -->",
        ),
        new_markdown_cell("Discussion: 3-4-5.", metadata={"tags": ["solution-only"]}),
    )


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli_args(root: Path, *args: str) -> list[str]:
    return [*args, "--solutions-dir", str(root / "solutions"), "--labs-dir", str(root / "labs")]


@pytest.fixture
def run_cli(capsys):
    """Run make_labs.main() in-process (a subprocess costs seconds of imports per call)."""

    def run(root: Path, *args: str) -> Result:
        capsys.readouterr()
        code = make_labs.main(cli_args(root, *args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def course(tmp_path, run_cli):
    """A tiny course tree with one solution and its freshly generated lab."""
    (tmp_path / "solutions").mkdir()
    nbformat.write(fixture_solution(), tmp_path / "solutions" / "lab0_fixture.ipynb")
    result = run_cli(tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_script_runs_as_a_command(course):
    """The real `python tools/make_labs.py --check` entry point, including its exit status."""
    lab_path = course / "labs" / "lab0_fixture.ipynb"
    command = [sys.executable, str(SCRIPT), *cli_args(course, "--check")]
    ok = subprocess.run(command, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    lab_path.write_text(lab_path.read_text(encoding="utf-8").replace("Lab 0", "Lab 00"))
    stale = subprocess.run(command, capture_output=True, text=True, check=False)
    assert stale.returncode == 1
    assert "lab0_fixture.ipynb: out of sync" in stale.stderr


def test_cli_generates_and_check_passes(course, run_cli):
    lab_path = course / "labs" / "lab0_fixture.ipynb"
    lab = nbformat.read(lab_path, as_version=4)
    assert len(lab.cells) == 4
    assert "labs/lab0_fixture.ipynb" in lab.cells[0].source
    assert "pass  # TODO: your code here" in lab.cells[2].source
    assert "length = None  # TODO: replace with your code" in lab.cells[2].source
    assert "Pythagoras" not in lab_path.read_text(encoding="utf-8")
    result = run_cli(course, "--check")
    assert result.returncode == 0, result.stderr
    assert "in sync with 1 solution" in result.stdout


def test_regeneration_is_byte_identical_and_leaves_file_alone(course, run_cli):
    lab_path = course / "labs" / "lab0_fixture.ipynb"
    before, mtime = lab_path.read_bytes(), lab_path.stat().st_mtime_ns
    result = run_cli(course)
    assert result.returncode == 0, result.stderr
    assert "0 written" in result.stdout
    assert lab_path.read_bytes() == before
    assert lab_path.stat().st_mtime_ns == mtime


def test_check_detects_tampered_lab(course, run_cli):
    lab_path = course / "labs" / "lab0_fixture.ipynb"
    lab = nbformat.read(lab_path, as_version=4)
    lab.cells[2].source = lab.cells[2].source.replace("length = None", "length = 5.0")
    nbformat.write(lab, lab_path)
    result = run_cli(course, "--check")
    assert result.returncode == 1
    assert "lab0_fixture.ipynb: out of sync with" in result.stderr
    assert "first difference in cell 2" in result.stderr
    assert "+length = 5.0" in result.stderr
    # ...and regenerating repairs it.
    assert run_cli(course).returncode == 0
    assert run_cli(course, "--check").returncode == 0


def test_check_detects_reformatted_lab(course, run_cli):
    lab_path = course / "labs" / "lab0_fixture.ipynb"
    data = json.loads(lab_path.read_text(encoding="utf-8"))
    lab_path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    result = run_cli(course, "--check")
    assert result.returncode == 1
    assert "JSON formatting differs" in result.stderr


def test_check_detects_outputs_in_lab(course, run_cli):
    lab_path = course / "labs" / "lab0_fixture.ipynb"
    lab = nbformat.read(lab_path, as_version=4)
    lab.cells[1].outputs = [new_output("stream", name="stdout", text="3.14159\n")]
    lab.cells[1].execution_count = 1
    nbformat.write(lab, lab_path)
    result = run_cli(course, "--check")
    assert result.returncode == 1
    assert "has outputs" in result.stderr
    assert "has an execution count" in result.stderr


def test_check_detects_missing_and_extra_labs(course, run_cli):
    (course / "labs" / "lab0_fixture.ipynb").rename(course / "labs" / "lab_orphan.ipynb")
    result = run_cli(course, "--check")
    assert result.returncode == 1
    assert "lab0_fixture.ipynb: missing" in result.stderr
    assert "lab_orphan.ipynb: no solution" in result.stderr
    # Generating writes the missing lab; the orphan is reported until pruned.
    assert run_cli(course).returncode == 1
    assert run_cli(course, "--prune").returncode == 0
    assert not (course / "labs" / "lab_orphan.ipynb").exists()
    assert run_cli(course, "--check").returncode == 0


def test_check_and_generate_fail_on_marker_error_in_solution(course, run_cli):
    sol_path = course / "solutions" / "lab0_fixture.ipynb"
    sol = nbformat.read(sol_path, as_version=4)
    sol.cells[2].source = sol.cells[2].source.replace("    # END SOLUTION\n", "", 1)
    nbformat.write(sol, sol_path)
    for args in (("--check",), ()):
        result = run_cli(course, *args)
        assert result.returncode == 1
        assert "solutions/lab0_fixture.ipynb: cell 2 (0-based" in result.stderr
        assert "nested '# BEGIN SOLUTION'" in result.stderr


def test_generated_lab_passes_ruff(course):
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(course)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------------------------------------------
# (c) the committed notebooks
# ----------------------------------------------------------------------------------------------

SOLUTION_NAMES = sorted(p.name for p in SOLUTIONS.glob("*.ipynb"))
NO_SOLUTIONS = pytest.mark.skip(reason="no solution notebooks in solutions/ yet")
per_solution = pytest.mark.parametrize(
    "name", SOLUTION_NAMES or [pytest.param(None, marks=NO_SOLUTIONS)]
)

CODE_BEGIN = re.compile(r"^\s*#\s*BEGIN SOLUTION")
CODE_END = re.compile(r"^\s*#\s*END SOLUTION")
MD_BEGIN = re.compile(r"<!--\s*BEGIN SOLUTION")
MD_END = re.compile(r"END SOLUTION\s*-->")


def split_regions(source: str, cell_type: str) -> tuple[set[str], set[str]]:
    """(stripped lines inside solution regions, stripped lines outside them), independently of
    make_labs.py."""
    begin, end = (CODE_BEGIN, CODE_END) if cell_type == "code" else (MD_BEGIN, MD_END)
    inside, outside, depth = set(), set(), 0
    for line in source.splitlines():
        if begin.search(line):
            depth += 1
        elif end.search(line):
            depth -= 1
        else:
            (inside if depth else outside).add(line.strip())
    return inside - {""}, outside


@per_solution
def test_committed_lab_matches_solution(name):
    lab_path = LABS / name
    assert lab_path.exists(), f"labs/{name} is missing; run: python tools/make_labs.py"
    expected = make_labs.render_lab(SOLUTIONS / name)
    actual = lab_path.read_text(encoding="utf-8").replace("\r\n", "\n")
    assert actual == expected, f"labs/{name} is out of sync; run: python tools/make_labs.py"


@per_solution
def test_committed_lab_has_no_outputs_and_no_solution_code(name):
    assert (LABS / name).exists(), f"labs/{name} is missing; run: python tools/make_labs.py"
    solution = nbformat.read(SOLUTIONS / name, as_version=4)
    lab = nbformat.read(LABS / name, as_version=4)
    assert make_labs.lint_lab(lab, f"labs/{name}") == []
    lab_cells = {cell.id: cell for cell in lab.cells}
    for index, cell in enumerate(solution.cells):
        if "solution-only" in cell.metadata.get("tags", []):
            assert cell.get("id") not in lab_cells, f"solution-only cell {index} is in the lab"
            continue
        if cell.cell_type not in ("code", "markdown") or cell.get("id") not in lab_cells:
            continue
        inside, outside = split_regions(cell.source, cell.cell_type)
        lab_lines = {line.strip() for line in lab_cells[cell.id].source.splitlines()}
        leaked = sorted((inside - outside) & lab_lines)
        assert not leaked, f"labs/{name} cell {cell.id!r} contains solution lines: {leaked}"
    for cell in lab.cells:
        assert not cell.get("outputs") and cell.get("execution_count") is None


def test_every_lab_has_a_solution_and_vice_versa():
    labs = {p.name for p in LABS.glob("*.ipynb")}
    solutions = set(SOLUTION_NAMES)
    assert not labs - solutions, f"labs without a solution: {sorted(labs - solutions)}"
    assert not solutions - labs, f"solutions without a lab: {sorted(solutions - labs)}"


def test_make_labs_check_passes_on_repo(capsys):
    code = make_labs.main(["--check"])
    assert code == 0, capsys.readouterr().err
