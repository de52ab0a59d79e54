"""Build the slide decks into ``outputs/slides/``: the module deck and one demo deck per lab.

- ``module.slides.html`` (and ``module.ipynb``): from ``docs/slides/module.md``, markdown in
  which a line ``---`` starts a slide, ``--`` a vertical sub-slide, and a line starting with
  ``Note:`` begins the speaker notes of that (sub-)slide. ``![alt](solution:<stem>/<cell-id>)``
  is the PNG stored in that cell's outputs in ``solutions/<stem>.ipynb``: the figures are what
  the class sees when it runs the solution. A missing notebook, cell or PNG fails the build,
  unless the link ends in ``?optional`` (then the image is left out and a line says so).
  A line ``{{ labs }}`` becomes a table of the labs, read from the solutions.
- ``<stem>.slides.html`` and ``<stem>.ipynb`` for every ``solutions/*.ipynb``: the solution
  with its outputs and RISE/nbconvert slide metadata (``cell.metadata.slideshow``): every
  ``#``/``##`` heading starts a slide, every ``###`` heading, code cell (with its outputs) and
  the text after a code cell a sub-slide below it. The Colab setup cell is skipped, badges
  (web images) and nbval markers are dropped. Present the ``.ipynb`` live with RISE.

The HTML comes from nbconvert's SlidesExporter (reveal.js) with a small template extension
(``docs/slides/templates/offline_reveal``) that loads reveal.js and KaTeX from ``vendor/``
next to the decks, copied from ``docs/slides/vendor/``: nothing is fetched from the web.

Usage::

    python tools/make_slides.py                  # everything, into outputs/slides/
    python tools/make_slides.py --out DIR        # somewhere else
    python tools/make_slides.py --solutions DIR  # from other copies of the solutions
"""

from __future__ import annotations

import argparse
import base64
import copy
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

try:  # run as a script, or imported as tools.make_slides (tests)
    from tools import course
except ImportError:
    import course

ROOT = Path(__file__).resolve().parent.parent
SLIDES_SRC = ROOT / "docs" / "slides"
MODULE_SOURCE = SLIDES_SRC / "module.md"
VENDOR = SLIDES_SRC / "vendor"
TEMPLATES = SLIDES_SRC / "templates"
SOLUTIONS = ROOT / "solutions"
OUT = ROOT / "outputs" / "slides"
RISE_CSS = SLIDES_SRC / "rise.css"
VENDOR_URL = "vendor"  # where the decks find the vendored files, relative to themselves
# RISE's settings, in each notebook (RISE reads metadata.rise over its own defaults): its
# default theme ("simple") loads web fonts; "white" is bundled. Long slides scroll.
RISE_SETTINGS = {"theme": "white", "transition": "none", "scroll": True}
WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_TEXT = "(An interactive control: run this cell in JupyterLab to use it.)"

FIGURE = re.compile(
    r"!\[(?P<alt>[^\]]*)\]\(solution:(?P<stem>[\w.-]+)/(?P<cell>[\w-]+)(?P<opt>\?optional)?\)"
)
LABS_DIRECTIVE = "{{ labs }}"
HEADING = re.compile(r"^(#{1,6}) ")
BADGE = re.compile(r"^\s*\[!\[[^\]]*\]\(https?://[^)]*\)\]\([^)]*\)\s*$")
NBVAL_MARKER = re.compile(r"^\s*# NBVAL_\w+\s*$")
TIME_LINE = re.compile(r"^\*(?P<text>\d+ min[^*]*)\*\s*$", re.MULTILINE)


class SlideBuildError(RuntimeError):
    """A deck cannot be built as its source asks (a figure that is not there, a bad source)."""


# ----------------------------------------------------------------------------------------------
# the module deck: markdown -> slides -> notebook
# ----------------------------------------------------------------------------------------------


@dataclass
class Slide:
    """One reveal.js slide: ``slide`` (horizontal) or ``subslide`` (below the previous one)."""

    kind: str
    body: str
    notes: str = ""
    figures: list[str] = field(default_factory=list)  # "stem/cell-id" as written


def _lines_outside_fences(text: str) -> list[tuple[str, bool]]:
    """Each line with whether it is outside a fenced code block."""
    result, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            result.append((line, False))
        else:
            result.append((line, not fenced))
    return result


def parse_slides(text: str) -> list[Slide]:
    """Split deck markdown into slides: ``---`` a new slide, ``--`` a sub-slide, ``Note:`` notes.

    Example:
        >>> [(s.kind, s.body, s.notes) for s in parse_slides("# A\\n---\\nB\\n--\\nC\\nNote: n")]
        [('slide', '# A', ''), ('slide', 'B', ''), ('subslide', 'C', 'n')]
    """
    chunks: list[tuple[str, list[tuple[str, bool]]]] = [("slide", [])]
    for line, outside in _lines_outside_fences(text):
        if outside and line.strip() in ("---", "--"):
            chunks.append(("slide" if line.strip() == "---" else "subslide", []))
        else:
            chunks[-1][1].append((line, outside))
    slides = []
    for number, (kind, lines) in enumerate(chunks, start=1):
        cut = next((i for i, (ln, out) in enumerate(lines) if out and ln.startswith("Note:")), None)
        body = "\n".join(ln for ln, _ in lines[:cut]).strip()
        notes = (
            "\n".join(ln for ln, _ in lines[cut:]).removeprefix("Note:").strip()
            if cut is not None
            else ""
        )
        if not body:
            if number == 1 and not notes:
                continue  # the source starts with a separator
            raise SlideBuildError(f"slide {number} of the source has no content")
        figures = [f"{m['stem']}/{m['cell']}" for m in FIGURE.finditer(body)]
        slides.append(Slide(kind, body, notes, figures))
    return slides


def solution_png(stem: str, cell_id: str, solutions: Path = SOLUTIONS) -> bytes:
    """The PNG stored in the outputs of cell ``cell_id`` of ``solutions/<stem>.ipynb``.

    Raises ``SlideBuildError`` naming the notebook and cell when there is no such notebook,
    no cell with that id, or no PNG in its outputs.
    """
    path = solutions / f"{stem}.ipynb"
    where = f"figure solution:{stem}/{cell_id}"
    if not path.exists():
        found = sorted(p.stem for p in solutions.glob("*.ipynb"))
        raise SlideBuildError(f"{where}: no notebook {path} (the solutions are {found})")
    nb = nbformat.read(path, as_version=4)
    cell = next((c for c in nb.cells if c.get("id") == cell_id), None)
    if cell is None:
        with_png = [c.id for c in nb.cells if _pngs(c)]
        raise SlideBuildError(
            f"{where}: {path.name} has no cell with id {cell_id!r} "
            f"(cells with a PNG output: {with_png})"
        )
    pngs = _pngs(cell)
    if not pngs:
        raise SlideBuildError(
            f"{where}: cell {cell_id!r} of {path.name} has no image/png output "
            "(run the solution and save it with its outputs: `make solutions`)"
        )
    return base64.b64decode(pngs[0])


def _pngs(cell: NotebookNode) -> list[str]:
    """The base64 PNGs in a cell's outputs, in order."""
    return [
        o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})
    ]


def lab_table(solutions: Path = SOLUTIONS) -> str:
    """A markdown table of the labs: each solution's title and its time line, in file order."""
    rows = ["| lab | time |", "|---|---|"]
    for path in sorted(solutions.glob("*.ipynb")):
        first = nbformat.read(path, as_version=4).cells[0].source
        title = next(
            (ln[2:].strip() for ln in first.splitlines() if ln.startswith("# ")), path.stem
        )
        time = TIME_LINE.search(first)
        rows.append(f"| {title} | {time['text'] if time else ''} |")
    return "\n".join(rows)


def attach_figures(body: str, solutions: Path = SOLUTIONS) -> tuple[str, dict[str, dict]]:
    """Replace each ``solution:`` figure link with a cell attachment; return both.

    An optional figure (``?optional``) that cannot be found is left out with a line on stderr;
    any other raises ``SlideBuildError``.
    """
    attachments: dict[str, dict] = {}

    def attach(match: re.Match[str]) -> str:
        stem, cell_id = match["stem"], match["cell"]
        try:
            png = solution_png(stem, cell_id, solutions)
        except SlideBuildError as e:
            if not match["opt"]:
                raise
            print(f"make_slides: optional figure left out: {e}", file=sys.stderr)
            return ""
        name = f"{stem}--{cell_id}.png"
        attachments[name] = {"image/png": base64.b64encode(png).decode()}
        return f"![{match['alt']}](attachment:{name})"

    return FIGURE.sub(attach, body), attachments


def module_notebook(text: str, solutions: Path = SOLUTIONS) -> NotebookNode:
    """The module deck as a notebook of markdown cells with slide metadata and figures attached."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["title"] = "Embeddings Deep Dive"
    nb.metadata["rise"] = dict(RISE_SETTINGS)
    for number, slide in enumerate(parse_slides(text), start=1):
        body, attachments = attach_figures(slide.body, solutions)
        if LABS_DIRECTIVE in body:
            body = body.replace(LABS_DIRECTIVE, lab_table(solutions))
        cell = nbformat.v4.new_markdown_cell(body, id=f"slide-{number:02d}")
        cell.metadata["slideshow"] = {"slide_type": slide.kind}
        if attachments:
            cell["attachments"] = attachments
        nb.cells.append(cell)
        if slide.notes:
            note = nbformat.v4.new_markdown_cell(slide.notes, id=f"slide-{number:02d}-notes")
            note.metadata["slideshow"] = {"slide_type": "notes"}
            nb.cells.append(note)
    return nb


# ----------------------------------------------------------------------------------------------
# the demo decks: a solution notebook with slide metadata
# ----------------------------------------------------------------------------------------------


def _split_at_headings(source: str) -> list[str]:
    """A markdown cell's text cut before every heading of level 1-3 (outside code fences)."""
    parts: list[list[str]] = [[]]
    for line, outside in _lines_outside_fences(source):
        m = HEADING.match(line) if outside else None
        if m and len(m[1]) <= 3 and any(s.strip() for s in parts[-1]):
            parts.append([])
        parts[-1].append(line)
    return ["\n".join(p).strip() for p in parts if "\n".join(p).strip()]


def _slide_type(cell: NotebookNode, previous: NotebookNode | None) -> str:
    """RISE's slide type of one cell of a demo deck (see the module docstring)."""
    if previous is None:
        return "slide"
    if cell.cell_type == "code":
        return "subslide"
    m = HEADING.match(cell.source)
    if m:
        return "slide" if len(m[1]) <= 2 else "subslide"
    return "subslide" if previous.cell_type == "code" else "-"


def demo_notebook(solution: NotebookNode) -> NotebookNode:
    """A solution notebook ready to present: slide metadata on every cell, outputs kept."""
    nb = copy.deepcopy(solution)
    nb.metadata["rise"] = dict(RISE_SETTINGS)
    setup = course.setup_source()
    cells: list[NotebookNode] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            kept = [ln for ln in cell.source.splitlines() if not BADGE.match(ln)]
            pieces = _split_at_headings(re.sub(r"\n{3,}", "\n\n", "\n".join(kept)))
            for i, piece in enumerate(pieces):
                part = copy.deepcopy(cell)
                part.source = piece
                if i:
                    part.id = f"{cell.id}-{i + 1}"
                if "attachment:" not in piece:
                    part.pop("attachments", None)
                cells.append(part)
            continue
        if cell.cell_type == "code":
            if cell.source.strip() == setup.strip():
                cell.metadata["slideshow"] = {"slide_type": "skip"}
            cell.source = "\n".join(
                ln for ln in cell.source.splitlines() if not NBVAL_MARKER.match(ln)
            )
            for output in cell.outputs:  # a widget's text stand-in reads "VBox(children=..."
                if WIDGET in output.get("data", {}):
                    output["data"]["text/plain"] = WIDGET_TEXT
        cells.append(cell)
    previous = None
    for cell in cells:
        if cell.metadata.get("slideshow", {}).get("slide_type") == "skip":
            continue
        cell.metadata["slideshow"] = {"slide_type": _slide_type(cell, previous)}
        previous = cell
    nb.cells = cells
    return nb


def slide_count(nb: NotebookNode) -> int:
    """How many slides reveal.js shows for a notebook: every slide and sub-slide start."""
    kinds = [c.metadata.get("slideshow", {}).get("slide_type", "-") for c in nb.cells]
    return sum(k in ("slide", "subslide") for k in kinds)


# ----------------------------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------------------------


def export_html(nb: NotebookNode, title: str) -> str:
    """reveal.js HTML for a notebook with slide metadata, loading only files under ``vendor/``."""
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    config = Config()
    config.SlidesExporter.template_name = "offline_reveal"
    config.SlidesExporter.extra_template_basedirs = [str(TEMPLATES)]
    config.SlidesExporter.reveal_url_prefix = f"{VENDOR_URL}/reveal.js"
    config.SlidesExporter.reveal_theme = "white"
    config.SlidesExporter.reveal_transition = "none"
    config.SlidesExporter.reveal_number = "c/t"
    config.SlidesExporter.exclude_input_prompt = True
    config.SlidesExporter.exclude_output_prompt = True
    exporter = SlidesExporter(config=config)
    resources = {"metadata": {"name": title}, "vendor_url_prefix": VENDOR_URL}
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    return html


def copy_vendor(out: Path) -> None:
    """Put the vendored reveal.js and KaTeX next to the decks (replacing an older copy), and
    ``rise.css``, the style sheet RISE looks for next to a notebook."""
    target = out / VENDOR_URL
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(VENDOR, target)
    shutil.copyfile(RISE_CSS, out / "rise.css")


@dataclass(frozen=True)
class Deck:
    """A deck written by :func:`build`: its HTML file, its notebook and its slide count."""

    html: Path
    notebook: Path
    slides: int


def build(out: Path = OUT, source: Path = MODULE_SOURCE, solutions: Path = SOLUTIONS) -> list[Deck]:
    """Write the module deck and one demo deck per solution into ``out``; return them."""
    out.mkdir(parents=True, exist_ok=True)
    copy_vendor(out)
    decks = []
    module = module_notebook(source.read_text(encoding="utf-8"), solutions)
    decks.append(_write(module, out, "module", "Embeddings Deep Dive"))
    for path in sorted(solutions.glob("*.ipynb")):
        nb = demo_notebook(nbformat.read(path, as_version=4))
        title = next(
            (ln[2:] for ln in nb.cells[0].source.splitlines() if ln.startswith("# ")), path.stem
        )
        decks.append(_write(nb, out, path.stem, title.strip()))
    return decks


def _write(nb: NotebookNode, out: Path, stem: str, title: str) -> Deck:
    """Write ``<stem>.ipynb`` and ``<stem>.slides.html``."""
    notebook, html = out / f"{stem}.ipynb", out / f"{stem}.slides.html"
    nbformat.validate(nb)
    nbformat.write(nb, notebook)
    html.write_text(export_html(nb, title), encoding="utf-8")
    return Deck(html, notebook, slide_count(nb))


def main(argv: list[str] | None = None) -> int:
    """Command line: build every deck, print where each is and its slide count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    parser.add_argument(
        "--solutions", type=Path, default=SOLUTIONS, help="the solution notebooks' folder"
    )
    args = parser.parse_args(argv)
    try:
        decks = build(args.out, solutions=args.solutions)
    except SlideBuildError as e:
        print(f"make_slides: {e}", file=sys.stderr)
        return 1
    for deck in decks:
        print(f"{deck.html} ({deck.slides} slides), live: {deck.notebook}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
