"""Generate the learner notebooks in ``labs/`` from the worked solutions in ``solutions/``.

The solutions are the single source. For every ``solutions/<name>.ipynb`` this writes
``labs/<name>.ipynb``: outputs, execution counts and transient metadata removed; nbval
markers (``# NBVAL_IGNORE_OUTPUT``...) dropped; links to the solution pointed at the lab; and
every solution region of a code cell replaced by its stub::

    # BEGIN SOLUTION: result = None     ->   result = None  # TODO: replace with your code
    result = compute()
    # END SOLUTION

It also writes ``shared/embedlab/labs/answers.json``: each exercise's reference answer
(the regions of the cell that calls ``<lab>.check_<x>(...)`` or ``<lab>.review(...)``),
which ``<lab>.answer("<x>")`` prints.

Before that, it writes the parts every solution shares from the lab's module
(``embedlab.labs.<lab>``, see ``tools/course.py``): the title, badges and time line at the top
of the first cell, the Colab setup cell, and the review questions (the markdown cell with id
``review``). So a lab's title, minutes and questions have one source.

Usage::

    python tools/make_labs.py            # write labs/*.ipynb and answers.json
    python tools/make_labs.py --check    # exit 1 if any of them is stale, or a lab leaks
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import nbformat

try:  # run as a script, or imported as tools.make_labs (tests)
    from tools import course
except ImportError:
    import course

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, LABS = ROOT / "solutions", ROOT / "labs"
ANSWERS = ROOT / "shared" / "embedlab" / "labs" / "answers.json"
SUFFIX = "  # TODO: replace with your code"
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION: (?P<stub>\S.*?)[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
ANY_MARKER = re.compile(r"(BEGIN|END)[ _-]?SOLUTION", re.IGNORECASE)
CHECK_CALL = re.compile(r"\b(?P<lab>lab\w*)\.(?:check_(?P<step>\w+)|(?P<review>review))\(")
TIME_LINE = re.compile(r"^\*\d+\s*min\b.*\*$", re.M)
NBVAL = {
    "NBVAL_IGNORE_OUTPUT",
    "NBVAL_SKIP",
    "NBVAL_CHECK_OUTPUT",
    "NBVAL_RAISES_EXCEPTION",
}
TRANSIENT = ("execution", "collapsed", "scrolled", "ExecuteTime", "colab", "widgets")


class MarkerError(ValueError):
    """Unbalanced, nested or malformed solution markers."""


def split_regions(source: str, where: str) -> tuple[str, list[tuple[str, str]]]:
    """The lab source of a code cell, and its regions as ``(stub, solution code)`` pairs."""
    out, regions, region = [], [], None
    for n, line in enumerate(source.split("\n"), start=1):
        if begin := BEGIN.match(line):
            if region is not None:
                raise MarkerError(f"{where}, line {n}: nested '# BEGIN SOLUTION'")
            region = (begin["indent"], begin["stub"], [])
        elif END.match(line):
            if region is None:
                raise MarkerError(f"{where}, line {n}: '# END SOLUTION' without a BEGIN")
            indent, stub, body = region
            out.append(f"{indent}{stub}{SUFFIX}")
            width = len(indent)
            regions.append((stub, "\n".join(b[width:] if b[:width].isspace() else b for b in body)))
            region = None
        elif ANY_MARKER.search(line):
            raise MarkerError(
                f"{where}, line {n}: malformed marker {line.strip()!r}; use "
                "'# BEGIN SOLUTION: <stub code>' and '# END SOLUTION', each alone on its line"
            )
        elif region is not None:
            region[2].append(line)
        else:
            out.append(line)
    if region is not None:
        raise MarkerError(f"{where}: '# BEGIN SOLUTION' without an '# END SOLUTION'")
    return "\n".join(out), regions


def _drop_nbval(source: str) -> str:
    lines = [ln for ln in source.split("\n") if ln.strip().lstrip("# ").strip() not in NBVAL]
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def make_lab(solution: nbformat.NotebookNode, name: str) -> tuple[nbformat.NotebookNode, dict]:
    """The lab notebook of a solution, and the solution's answers ``{step: code}``."""
    nb, answers, errors = copy.deepcopy(solution), {}, []
    for i, cell in enumerate(nb.cells):
        where = f"solutions/{name}: cell {i}"
        for key in TRANSIENT:
            cell.metadata.pop(key, None)
        cell.metadata.get("jupyter", {}).pop("outputs_hidden", None)
        if not cell.metadata.get("jupyter", True):
            del cell.metadata["jupyter"]
        if cell.cell_type == "markdown":
            cell.source = re.sub(
                rf"(?<![\w.-])solutions/{re.escape(name)}", f"labs/{name}", cell.source
            )
            continue
        if cell.cell_type != "code":
            continue
        try:
            source, regions = split_regions(cell.source, where)
        except MarkerError as exc:
            errors.append(str(exc))
            continue
        if regions:
            calls = {(m["lab"], m["step"] or "review") for m in CHECK_CALL.finditer(cell.source)}
            if len(calls) != 1:
                found = sorted(calls)
                errors.append(f"{where}: a cell with solution regions calls one check, not {found}")
                continue
            ((_, step),) = calls
            answers[step] = "\n".join(f"# replaces: {stub}\n{code}" for stub, code in regions)
        cell.source = _drop_nbval(source)
        cell.outputs, cell.execution_count = [], None
    if errors:
        raise MarkerError("\n".join(errors))
    for key in ("widgets", "colab"):
        nb.metadata.pop(key, None)
    nb.metadata["embedlab"] = {
        "generated_from": f"solutions/{name}",
        "do_not_edit": True,
    }
    nbformat.validate(nb)
    return nb, answers


def sync(solution: nbformat.NotebookNode, lab: course.LabInfo, root: Path = ROOT) -> list[str]:
    """Write the lab module's shared parts into ``solution`` (in place); what changed."""
    changed, cells = [], solution.cells
    first = cells[0].source
    match = TIME_LINE.search(first)
    if cells[0].cell_type != "markdown" or match is None:
        raise MarkerError(f"{lab.solution.name}: cell 0 must be markdown with a '*N min ...*' line")
    new = course.header(lab, root) + first[match.end() :]
    wanted = {0: new, 1: course.setup_source(root)}
    review = [i for i, c in enumerate(cells) if c.get("id") == "review"]
    questions = getattr(lab.module, "LAB", None)
    if questions is not None and questions.questions:
        if len(review) != 1 or cells[review[0]].cell_type != "markdown":
            raise MarkerError(f"{lab.solution.name}: needs one markdown cell with id 'review'")
        wanted[review[0]] = questions.review_markdown()
    for i, text in wanted.items():
        if cells[i].source != text:
            cells[i].source = text
            changed.append({0: "header", 1: "setup cell"}.get(i, "review questions"))
    return changed


def lint_lab(nb: nbformat.NotebookNode, label: str) -> list[str]:
    """What must never reach a learner: outputs, solution markers, nbval markers."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.get("outputs") or cell.get("execution_count") is not None:
            problems.append(f"{label}: cell {i} has outputs")
        if ANY_MARKER.search(cell.source):
            problems.append(f"{label}: cell {i} contains a solution marker")
        if cell.cell_type == "code" and _drop_nbval(cell.source) != cell.source.lstrip("\n"):
            problems.append(f"{label}: cell {i} contains an nbval marker")
    return problems


def render(nb: nbformat.NotebookNode) -> str:
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def build(solutions: Path = SOLUTIONS) -> tuple[dict[str, str], str]:
    """``{lab file name: text}`` and the answers.json text for every solution notebook."""
    labs, answers = {}, {}
    for path in sorted(solutions.glob("*.ipynb")):
        nb, lab_answers = make_lab(nbformat.read(path, as_version=4), path.name)
        labs[path.name] = render(nb)
        if lab_answers:
            lab = CHECK_CALL.search("".join(c.source for c in nb.cells))["lab"]
            answers[lab] = lab_answers
    return labs, json.dumps(answers, indent=1, sort_keys=True) + "\n"


def sync_all(root: Path = ROOT, write: bool = True) -> list[str]:
    """Bring every solution's shared parts up to date; a line per solution that was stale."""
    stale = []
    for lab in course.labs(root):
        nb = nbformat.read(lab.solution, as_version=4)
        changed = sync(nb, lab, root)
        if changed:
            stale.append(f"solutions/{lab.solution.name}: {', '.join(changed)} out of date")
            if write:
                lab.solution.write_text(render(nb), encoding="utf-8")
    return stale


def check(
    solutions: Path = SOLUTIONS, labs_dir: Path = LABS, answers_file: Path = ANSWERS
) -> list[str]:
    """Every reason the committed labs/ and answers.json differ from what the solutions give."""
    try:
        labs, answers = build(solutions)
    except MarkerError as exc:
        return str(exc).split("\n")
    problems = []
    for name, text in labs.items():
        path = labs_dir / name
        if not path.is_file():
            problems.append(f"labs/{name} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"labs/{name} is out of date with solutions/{name}")
        else:
            problems += lint_lab(nbformat.reads(text, as_version=4), f"labs/{name}")
    problems += [
        f"labs/{p.name} has no solution" for p in labs_dir.glob("*.ipynb") if p.name not in labs
    ]
    if not answers_file.is_file() or answers_file.read_text(encoding="utf-8") != answers:
        shown = (
            answers_file.relative_to(ROOT) if answers_file.is_relative_to(ROOT) else answers_file
        )
        problems.append(f"{shown} is out of date with the solutions")
    return problems


def main(argv: list[str]) -> int:
    if "--check" in argv:
        try:
            problems = sync_all(write=False) + check()
        except (LookupError, MarkerError) as exc:
            problems = [str(exc)]
        for p in problems:
            print(p)
        if problems:
            print(
                "Fix: edit solutions/ and the lab modules only, then run "
                "`python tools/make_labs.py` (or `make labs`)."
            )
        return 1 if problems else 0
    for line in sync_all():
        print(f"updated {line.replace(' out of date', '')}")
    labs, answers = build()
    LABS.mkdir(exist_ok=True)
    for name, text in labs.items():
        (LABS / name).write_text(text, encoding="utf-8")
        print(f"wrote labs/{name}")
    ANSWERS.write_text(answers, encoding="utf-8")
    print(f"wrote {ANSWERS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
