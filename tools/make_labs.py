"""Generate the learner notebooks in ``labs/`` from the worked solutions in ``solutions/``.

The solution notebooks are the single source of truth.  For every ``solutions/<name>.ipynb``
this script writes ``labs/<name>.ipynb``:

* all outputs, execution counts and transient metadata (widget state, execution timings,
  Colab cell state, collapsed/scrolled flags) are removed;
* solution regions in code cells are replaced by a stub, keeping the BEGIN marker's
  indentation::

      # BEGIN SOLUTION                     ->  # TODO: your code here
      ...                                      (``pass  # TODO: your code here`` when the
      # END SOLUTION                            region is the whole body of a block)

      # BEGIN SOLUTION: result = None      ->  result = None  # TODO: replace with your code
      ...
      # END SOLUTION

  Any number of regions per cell; regions cannot be nested;
* in markdown cells, ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` becomes
  ``*Write your answer here.*`` (or the text given as ``<!-- BEGIN SOLUTION: text -->``);
* cells tagged ``solution-only`` are dropped;
* nbval comment markers (``# NBVAL_IGNORE_OUTPUT``, ``# NBVAL_SKIP``, ``# NBVAL_CHECK_OUTPUT``)
  and the matching ``nbval-*`` cell tags are removed (``NBVAL_RAISES_EXCEPTION`` and
  ``raises-exception`` are kept: they describe the cell, and executing a lab needs them);
* links to ``solutions/<name>.ipynb`` (e.g. an "Open in Colab" badge) in markdown cells point
  at ``labs/<name>.ipynb`` instead;
* the notebook metadata gets ``{"embedlab": {"generated_from": "solutions/<name>.ipynb",
  "do_not_edit": true}}``.

Cell ids are those of the solution (or derived from the notebook name and cell position when
the solution has none), and the JSON is written by nbformat with sorted keys, so regenerating
is byte-identical.

Usage::

    python tools/make_labs.py            # (re)write labs/*.ipynb
    python tools/make_labs.py --check    # exit 1 if any lab is stale, missing, extra or leaky
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
LABS_DIR = REPO_ROOT / "labs"

CODE_STUB = "# TODO: your code here"
BLOCK_STUB = "pass  # TODO: your code here"
REPLACEMENT_SUFFIX = "  # TODO: replace with your code"
MARKDOWN_STUB = "*Write your answer here.*"
SOLUTION_ONLY_TAG = "solution-only"

# "# BEGIN SOLUTION" or "# BEGIN SOLUTION: <replacement code>" on a line of its own.
BEGIN_RE = re.compile(
    r"^(?P<indent>[ \t]*)#[ \t]*BEGIN SOLUTION(?:[ \t]*:[ \t]*(?P<replacement>.*?))?[ \t]*$"
)
END_RE = re.compile(r"^[ \t]*#[ \t]*END SOLUTION[ \t]*$")
# A comment that looks like a marker but is not one of the two forms above (typo, trailing code).
LOOSE_MARKER_RE = re.compile(r"#[ \t]*(BEGIN|END)[ _-]?SOLUTION", re.IGNORECASE)
# Marker text that must never appear in a lab, in any cell type.
LAB_LEAK_RE = re.compile(r"(BEGIN|END)[ _]SOLUTION")
MARKDOWN_MARKER_RE = re.compile(
    r"<!--[ \t]*(?P<kind>BEGIN|END)[ \t]+SOLUTION[ \t]*(?::(?P<replacement>.*?))?-->",
    re.DOTALL | re.IGNORECASE,
)

NBVAL_COMMENT_MARKERS = frozenset(
    {"NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "NBVAL_CHECK_OUTPUT", "PYTEST_VALIDATE_IGNORE_OUTPUT"}
)
NBVAL_TAGS = frozenset({"nbval-ignore-output", "nbval-skip", "nbval-check-output"})

# Notebook- and cell-level metadata that records a particular run or UI state.
NOTEBOOK_TRANSIENT_METADATA = ("widgets", "papermill", "execution", "varInspector")
CELL_TRANSIENT_METADATA = (
    "execution",  # JupyterLab "record timing"
    "ExecuteTime",  # classic nbextension
    "collapsed",
    "scrolled",
    "colab",
    "outputId",
    "executionInfo",
    "papermill",
    "widgets",
    "pycharm",
)


class MarkerError(ValueError):
    """A solution notebook has unbalanced, nested or malformed solution markers."""


@dataclass(frozen=True)
class CellRef:
    """Where a cell lives, for error messages."""

    notebook: str
    index: int
    cell_id: str | None

    def __str__(self) -> str:
        ident = f", id {self.cell_id!r}" if self.cell_id else ""
        return f"{self.notebook}: cell {self.index} (0-based{ident})"


# --------------------------------------------------------------------------------------------
# Cell transformations
# --------------------------------------------------------------------------------------------


def _indent_width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def _is_code_line(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _opens_block(line: str) -> bool:
    code = re.sub(r"\s+#[^'\"]*$", "", line).rstrip()
    return code.endswith(":")


def _python_parses(source: str) -> bool:
    """True if the cell is valid (IPython-flavoured) Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except ImportError:  # pragma: no cover - IPython is always there with ipykernel
        source = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")
        )
    except Exception:  # noqa: BLE001 - a transformer failure means "not plain Python"
        return False
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def stub_code_source(source: str, where: CellRef | str = "<cell>") -> str:
    """Replace every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region of a code cell."""
    out: list[str] = []
    comment_stubs: list[int] = []  # positions in `out` of plain "# TODO" stubs
    open_line = None  # (line number, indent, replacement) of the open region
    for lineno, line in enumerate(source.split("\n"), start=1):
        begin = BEGIN_RE.match(line)
        if begin:
            if open_line is not None:
                raise MarkerError(
                    f"{where}, line {lineno}: nested '# BEGIN SOLUTION' (the region opened at "
                    f"line {open_line[0]} has no '# END SOLUTION' yet)"
                )
            open_line = (lineno, begin["indent"], (begin["replacement"] or "").strip())
            continue
        if END_RE.match(line):
            if open_line is None:
                raise MarkerError(
                    f"{where}, line {lineno}: '# END SOLUTION' without a matching "
                    "'# BEGIN SOLUTION'"
                )
            _, indent, replacement = open_line
            if replacement:
                out.append(f"{indent}{replacement}{REPLACEMENT_SUFFIX}")
            else:
                comment_stubs.append(len(out))
                out.append(f"{indent}{CODE_STUB}")
            open_line = None
            continue
        if LOOSE_MARKER_RE.search(line):
            raise MarkerError(
                f"{where}, line {lineno}: malformed solution marker {line.strip()!r}; markers "
                "must be alone on their line: '# BEGIN SOLUTION', "
                "'# BEGIN SOLUTION: <replacement>' or '# END SOLUTION'"
            )
        if open_line is None:
            out.append(line)
    if open_line is not None:
        raise MarkerError(
            f"{where}, line {open_line[0]}: '# BEGIN SOLUTION' without a matching '# END SOLUTION'"
        )

    # A comment alone is not a valid block body: `def f():\n    # TODO` is a syntax error.
    # Where the region was the whole body of a block, use `pass  # TODO: ...` instead.
    for pos in comment_stubs:
        width = _indent_width(out[pos])
        before = [line for line in out[:pos] if _is_code_line(line)]
        after = [line for line in out[pos + 1 :] if _is_code_line(line)]
        if (
            before
            and _opens_block(before[-1])
            and _indent_width(before[-1]) < width
            and (not after or _indent_width(after[0]) < width)
        ):
            indent = out[pos][: len(out[pos]) - len(out[pos].lstrip())]
            out[pos] = f"{indent}{BLOCK_STUB}"

    result = "\n".join(out)
    if comment_stubs and _python_parses(source) and not _python_parses(result):
        raise MarkerError(
            f"{where}: the lab version of this cell is not valid Python after stubbing; give "
            "the region an explicit replacement, e.g. '# BEGIN SOLUTION: result = None'"
        )
    return result


def remove_nbval_markers(source: str) -> str:
    """Drop nbval comment-marker lines (``# NBVAL_SKIP`` etc.) from a code cell."""
    lines = source.split("\n")
    kept = [
        line
        for line in lines
        if not (
            line.strip().startswith("#")
            and line.strip().lstrip("#").strip() in NBVAL_COMMENT_MARKERS
        )
    ]
    if len(kept) == len(lines):
        return source
    # The markers sit at the top of the cell; do not leave the cell starting with a blank line.
    while kept and not kept[0].strip():
        kept.pop(0)
    return "\n".join(kept)


def stub_markdown_source(source: str, where: CellRef | str = "<cell>") -> str:
    """Replace ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` blocks."""
    pieces: list[str] = []
    pos = 0
    open_marker = None
    for marker in MARKDOWN_MARKER_RE.finditer(source):
        lineno = source.count("\n", 0, marker.start()) + 1
        if marker["kind"].upper() == "BEGIN":
            if open_marker is not None:
                raise MarkerError(
                    f"{where}, line {lineno}: nested '<!-- BEGIN SOLUTION -->' (the block "
                    f"opened at line {open_marker[0]} has no '<!-- END SOLUTION -->' yet)"
                )
            pieces.append(source[pos : marker.start()])
            open_marker = (lineno, (marker["replacement"] or "").strip() or MARKDOWN_STUB)
        else:
            if open_marker is None:
                raise MarkerError(
                    f"{where}, line {lineno}: '<!-- END SOLUTION -->' without a matching "
                    "'<!-- BEGIN SOLUTION -->'"
                )
            pieces.append(open_marker[1])
            open_marker = None
        pos = marker.end()
    if open_marker is not None:
        raise MarkerError(
            f"{where}, line {open_marker[0]}: '<!-- BEGIN SOLUTION -->' without a matching "
            "'<!-- END SOLUTION -->'"
        )
    pieces.append(source[pos:])
    return "".join(pieces)


def rewrite_self_links(source: str, name: str) -> str:
    """Point links/badges at ``solutions/<name>`` to ``labs/<name>`` (other notebooks untouched)."""
    pattern = rf"(?<![\w.-])solutions/{re.escape(name)}(?![\w.-])"
    return re.sub(pattern, f"labs/{name}", source)


def _clean_cell_metadata(metadata: dict) -> None:
    for key in CELL_TRANSIENT_METADATA:
        metadata.pop(key, None)
    jupyter = metadata.get("jupyter")
    if isinstance(jupyter, dict):
        jupyter.pop("outputs_hidden", None)
        if not jupyter:
            del metadata["jupyter"]
    tags = metadata.get("tags")
    if isinstance(tags, list):
        tags = [t for t in tags if t not in NBVAL_TAGS and t != SOLUTION_ONLY_TAG]
        if tags:
            metadata["tags"] = tags
        else:
            del metadata["tags"]


def _derived_cell_id(name: str, index: int, taken: set[str]) -> str:
    salt = 0
    while True:
        digest = hashlib.sha1(f"{name}:{index}:{salt}".encode()).hexdigest()[:8]
        if digest not in taken:
            return digest
        salt += 1


def _cell_tags(cell) -> list:
    tags = cell.get("metadata", {}).get("tags", [])
    return tags if isinstance(tags, list) else []


# --------------------------------------------------------------------------------------------
# Notebook level
# --------------------------------------------------------------------------------------------


def make_lab(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Return the lab notebook for ``solution`` (``name`` is the file name, e.g. 'lab1.ipynb').

    Raises MarkerError listing every marker problem in the notebook.
    """
    label = f"solutions/{name}"
    nb = copy.deepcopy(solution)
    errors: list[str] = []
    cells = []
    taken = {c.get("id") for c in nb.cells if c.get("id")}
    for index, cell in enumerate(nb.cells):
        where = CellRef(label, index, cell.get("id"))
        if SOLUTION_ONLY_TAG in _cell_tags(cell):
            continue
        try:
            if cell.cell_type == "code":
                cell.source = remove_nbval_markers(stub_code_source(cell.source, where))
                cell.outputs = []
                cell.execution_count = None
            elif cell.cell_type == "markdown":
                cell.source = rewrite_self_links(stub_markdown_source(cell.source, where), name)
        except MarkerError as exc:
            errors.append(str(exc))
            continue
        _clean_cell_metadata(cell.metadata)
        if not cell.get("id"):
            cell["id"] = _derived_cell_id(name, index, taken)
            taken.add(cell["id"])
        cells.append(cell)
    if errors:
        raise MarkerError("\n".join(errors))

    nb.cells = cells
    nb.nbformat = 4
    nb.nbformat_minor = max(int(nb.get("nbformat_minor", 0)), 5)  # cell ids need 4.5
    for key in NOTEBOOK_TRANSIENT_METADATA:
        nb.metadata.pop(key, None)
    nb.metadata["embedlab"] = {"generated_from": label, "do_not_edit": True}
    nbformat.validate(nb)
    return nb


def find_marker_errors(solution: nbformat.NotebookNode, name: str) -> list[str]:
    """All marker problems of a solution notebook, one message per problem cell ([] if none)."""
    try:
        make_lab(solution, name)
    except MarkerError as exc:
        return str(exc).split("\n")
    return []


def render(nb: nbformat.NotebookNode) -> str:
    """Serialise exactly as ``nbformat.write`` does (sorted keys, indent 1, final newline)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def read_notebook(path: Path) -> nbformat.NotebookNode:
    with open(path, encoding="utf-8") as fh:
        return nbformat.read(fh, as_version=4)


def render_lab(solution_path: Path) -> str:
    """The exact text that ``labs/<name>`` must contain for the given solution file."""
    return render(make_lab(read_notebook(solution_path), solution_path.name))


def lint_lab(nb: nbformat.NotebookNode, label: str) -> list[str]:
    """Problems that must never reach a learner, whatever the solution says."""
    problems = []
    for index, cell in enumerate(nb.cells):
        where = CellRef(label, index, cell.get("id"))
        if cell.get("outputs"):
            problems.append(f"{where}: has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"{where}: has an execution count")
        if LAB_LEAK_RE.search(cell.get("source", "")):
            problems.append(f"{where}: contains a solution marker")
        if SOLUTION_ONLY_TAG in _cell_tags(cell):
            problems.append(f"{where}: is tagged {SOLUTION_ONLY_TAG!r}")
        if cell.get("cell_type") == "code" and any(
            line.strip().lstrip("#").strip() in NBVAL_COMMENT_MARKERS
            for line in cell.get("source", "").split("\n")
            if line.strip().startswith("#")
        ):
            problems.append(f"{where}: contains an nbval marker")
    return problems


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _notebooks(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {p.name: p for p in sorted(directory.glob("*.ipynb")) if not p.name.startswith(".")}


def _show(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _describe_difference(actual: str, expected: str) -> str:
    """A short human-readable account of how a committed lab differs from the generated one."""
    try:
        lab = nbformat.reads(actual, as_version=4)
        exp = nbformat.reads(expected, as_version=4)
    except Exception as exc:  # noqa: BLE001 - unreadable lab file
        return f"the lab is not a readable notebook ({exc})"
    lab_cells, exp_cells = lab.cells, exp.cells
    hint = ""
    for index, (got, want) in enumerate(zip(lab_cells, exp_cells, strict=False)):
        if got != want:
            what = "source" if got.get("source") != want.get("source") else "cell fields"
            diff = list(
                difflib.unified_diff(
                    want.get("source", "").splitlines(),
                    got.get("source", "").splitlines(),
                    "generated",
                    "committed",
                    lineterm="",
                    n=1,
                )
            )
            hint = f"first difference in cell {index} (id {want.get('id')!r}): {what}"
            if diff:
                shown = diff[2:14] + (["    ..."] if len(diff) > 14 else [])
                hint += "\n" + "\n".join("    " + line for line in shown)
            break
    else:
        if len(lab_cells) != len(exp_cells):
            hint = f"lab has {len(lab_cells)} cells, the solution gives {len(exp_cells)}"
        elif lab.metadata != exp.metadata:
            hint = "notebook metadata differs"
        else:
            hint = "JSON formatting differs (was the lab saved from Jupyter or ruff-formatted?)"
    return hint


def check(solutions_dir: Path = SOLUTIONS_DIR, labs_dir: Path = LABS_DIR) -> list[str]:
    """Every reason the labs are not exactly what the solutions generate ([] when in sync)."""
    problems: list[str] = []
    solutions, labs = _notebooks(solutions_dir), _notebooks(labs_dir)
    for name, sol_path in solutions.items():
        lab_path = labs_dir / name
        try:
            expected = render_lab(sol_path)
        except MarkerError as exc:
            problems.extend(str(exc).split("\n"))
            continue
        if name not in labs:
            problems.append(f"{_show(lab_path)}: missing (generated from {_show(sol_path)})")
            continue
        actual = lab_path.read_text(encoding="utf-8").replace("\r\n", "\n")
        if actual != expected:
            detail = _describe_difference(actual, expected)
            problems.append(f"{_show(lab_path)}: out of sync with {_show(sol_path)}: {detail}")
    for name in sorted(labs.keys() - solutions.keys()):
        problems.append(
            f"{_show(labs[name])}: no solution {_show(solutions_dir / name)} to generate it from "
            "(delete the lab or add the solution; `make_labs.py --prune` deletes it)"
        )
    for lab_path in labs.values():
        try:
            problems.extend(lint_lab(read_notebook(lab_path), _show(lab_path)))
        except Exception as exc:  # noqa: BLE001 - report, do not crash the check
            problems.append(f"{_show(lab_path)}: cannot be read as a notebook ({exc})")
    return problems


def generate(
    solutions_dir: Path = SOLUTIONS_DIR, labs_dir: Path = LABS_DIR, prune: bool = False
) -> tuple[list[Path], list[str]]:
    """Write every lab whose content changed. Returns (written paths, problems)."""
    written: list[Path] = []
    problems: list[str] = []
    solutions, labs = _notebooks(solutions_dir), _notebooks(labs_dir)
    for name, sol_path in solutions.items():
        try:
            text = render_lab(sol_path)
        except MarkerError as exc:
            problems.extend(str(exc).split("\n"))
            continue
        lab_path = labs_dir / name
        if lab_path.exists() and lab_path.read_bytes() == text.encode("utf-8"):
            continue
        labs_dir.mkdir(parents=True, exist_ok=True)
        with open(lab_path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        written.append(lab_path)
    for name in sorted(labs.keys() - solutions.keys()):
        if prune:
            labs[name].unlink()
            print(f"deleted {_show(labs[name])} (no solution)")
        else:
            problems.append(
                f"{_show(labs[name])}: no solution {_show(solutions_dir / name)}; "
                "delete it or rerun with --prune"
            )
    return written, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate labs/*.ipynb from solutions/*.ipynb (the single source of truth).",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any lab is out of sync, missing, extra, has outputs or "
        "leaks solution code",
    )
    parser.add_argument("--prune", action="store_true", help="delete labs that have no solution")
    parser.add_argument("--solutions-dir", type=Path, default=SOLUTIONS_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--labs-dir", type=Path, default=LABS_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    n_solutions = len(_notebooks(args.solutions_dir))
    if args.check:
        problems = check(args.solutions_dir, args.labs_dir)
        if problems:
            print(f"{len(problems)} problem(s) with the generated labs:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            print(
                "Fix the solution notebooks, then run: python tools/make_labs.py", file=sys.stderr
            )
            return 1
        print(f"labs in sync with {n_solutions} solution notebook(s)")
        return 0

    written, problems = generate(args.solutions_dir, args.labs_dir, prune=args.prune)
    for path in written:
        print(f"wrote {_show(path)}")
    if problems:
        print(f"{len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"{n_solutions} lab(s) up to date ({len(written)} written)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
