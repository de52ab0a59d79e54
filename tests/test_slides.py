"""The slide decks (``make slides``): their parts, and the decks in a browser.

Unit tests: deck markdown -> slides, figures looked up by cell id (and the message when one is
missing), the slide metadata of the demo decks, the decks load nothing from the web, the
build is deterministic, the vendored files are small and licensed.

Browser tests (``ui`` marker, need Chromium like ``tests/test_ui_jupyterlab.py``): every deck,
served from 127.0.0.1, is walked slide by slide with the space bar in Chromium: the number of
steps must match reveal.js's slide count and the deck's notebook, with no broken image, no
console or page error, and no request that leaves the machine. Three module-deck slides are
kept as screenshots in ``outputs/ui/``. Then a demo notebook is opened in JupyterLab and shown
with RISE (``RISE:preview``): its slides are counted and walked the same way.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import html.parser
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tools import make_slides
from tools.make_slides import SlideBuildError, parse_slides

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
SCREENSHOTS = ROOT / "outputs" / "ui"
SOLUTION_STEMS = sorted(p.stem for p in SOLUTIONS.glob("*.ipynb"))
DECKS = ["module", *SOLUTION_STEMS]

# a 1x1 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


# ----------------------------------------------------------------------------------------------
# deck markdown -> slides
# ----------------------------------------------------------------------------------------------


def test_parse_slides_separators_subslides_and_notes():
    text = (
        "# Title\nintro\n---\n## Two\nbody\nNote: say this\nand this\n"
        "--\n## Two, below\n---\n## Three"
    )
    slides = parse_slides(text)
    assert [s.kind for s in slides] == ["slide", "slide", "subslide", "slide"]
    assert slides[0].body == "# Title\nintro"
    assert slides[1].body == "## Two\nbody"
    assert slides[1].notes == "say this\nand this"
    assert slides[2].body == "## Two, below" and slides[2].notes == ""


def test_parse_slides_ignores_separators_in_code_fences():
    text = "## Code\n```yaml\n---\nkey: 1\n--\n```\n---\n## Next"
    slides = parse_slides(text)
    assert len(slides) == 2
    assert "key: 1" in slides[0].body and slides[0].body.count("---") == 1


def test_parse_slides_lists_the_figures_of_each_slide():
    slides = parse_slides("![a](solution:lab9_x/fig-1)\n---\n![b](solution:lab9_x/fig-2?optional)")
    assert [s.figures for s in slides] == [["lab9_x/fig-1"], ["lab9_x/fig-2"]]


def test_parse_slides_rejects_an_empty_slide():
    with pytest.raises(SlideBuildError, match="slide 2 of the source has no content"):
        parse_slides("# One\n---\n\n---\n## Three")


# ----------------------------------------------------------------------------------------------
# figures by cell id
# ----------------------------------------------------------------------------------------------


def _solution(folder: Path, stem: str, cells: list[nbformat.NotebookNode]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


def _figure_cell(cell_id: str, png: bytes | None = PNG) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("plot()", id=cell_id)
    data = {"text/plain": "<Figure>"}
    if png is not None:
        data["image/png"] = base64.b64encode(png).decode()
    cell.outputs = [nbformat.v4.new_output("display_data", data=data)]
    return cell


@pytest.fixture
def fake_solutions(tmp_path: Path) -> Path:
    folder = tmp_path / "solutions"
    _solution(
        folder,
        "lab9_demo",
        [
            nbformat.v4.new_markdown_cell("# Lab 9 · Demo\n\n*15 min · beginner*", id="title"),
            _figure_cell("the-plot"),
            _figure_cell("no-plot", png=None),
        ],
    )
    return folder


def test_solution_png_returns_the_cells_png(fake_solutions):
    assert make_slides.solution_png("lab9_demo", "the-plot", fake_solutions) == PNG


def test_solution_png_names_a_missing_notebook(fake_solutions):
    with pytest.raises(
        SlideBuildError, match=r"solution:lab8_gone/the-plot: no notebook .*lab8_gone"
    ):
        make_slides.solution_png("lab8_gone", "the-plot", fake_solutions)


def test_solution_png_names_a_missing_cell_and_lists_the_cells_with_a_png(fake_solutions):
    with pytest.raises(SlideBuildError) as err:
        make_slides.solution_png("lab9_demo", "tsne-map", fake_solutions)
    message = str(err.value)
    assert "lab9_demo.ipynb has no cell with id 'tsne-map'" in message
    assert "['the-plot']" in message


def test_solution_png_names_a_cell_without_a_png(fake_solutions):
    with pytest.raises(SlideBuildError, match="cell 'no-plot' of lab9_demo.ipynb has no image/png"):
        make_slides.solution_png("lab9_demo", "no-plot", fake_solutions)


def test_figures_become_attachments_and_optional_ones_may_be_missing(fake_solutions, capsys):
    body = (
        "![plot](solution:lab9_demo/the-plot)\n"
        "![later](solution:lab9_demo/not-yet?optional)\n"
        "text after"
    )
    text, attachments = make_slides.attach_figures(body, fake_solutions)
    assert text == "![plot](attachment:lab9_demo--the-plot.png)\n\ntext after"
    assert base64.b64decode(attachments["lab9_demo--the-plot.png"]["image/png"]) == PNG
    assert "optional figure left out" in capsys.readouterr().err
    with pytest.raises(SlideBuildError, match="not-yet"):
        make_slides.attach_figures("![later](solution:lab9_demo/not-yet)", fake_solutions)


def test_module_notebook_has_slide_metadata_notes_and_the_lab_table(fake_solutions):
    text = (
        "# Course\n---\n## A figure\n![p](solution:lab9_demo/the-plot)\nNote: point at it\n"
        "--\n## Labs\n{{ labs }}"
    )
    nb = make_slides.module_notebook(text, fake_solutions)
    nbformat.validate(nb)
    kinds = [c.metadata.slideshow.slide_type for c in nb.cells]
    assert kinds == ["slide", "slide", "notes", "subslide"]
    assert "lab9_demo--the-plot.png" in nb.cells[1].attachments
    assert nb.cells[2].source == "point at it"
    assert "| Lab 9 · Demo | 15 min · beginner |" in nb.cells[3].source
    assert make_slides.slide_count(nb) == 3
    assert nb.metadata.rise["theme"] == "white"  # RISE's default theme loads web fonts


def test_the_module_source_covers_the_sections_and_the_four_mistakes():
    text = make_slides.MODULE_SOURCE.read_text(encoding="utf-8")
    headings = [s.body.splitlines()[0] for s in parse_slides(text)]
    for section in (
        "## Objectives",
        "## Why it matters",
        "## How an embedding model works",
        "## Comparing models",
        "## Optimisation: embed less",
        "## Common mistakes",
        "## The labs",
        "## Takeaways",
    ):
        assert section in headings, f"{section!r} missing from {make_slides.MODULE_SOURCE}"
    mistakes = [h for h in headings if re.match(r"## [1-4]\. ", h)]
    assert len(mistakes) == 4, mistakes


def test_every_figure_of_the_module_deck_is_in_the_solutions():
    """The build fails on the first missing figure; this lists all of them."""
    text = make_slides.MODULE_SOURCE.read_text(encoding="utf-8")
    problems = []
    for match in make_slides.FIGURE.finditer(text):
        if match["opt"]:
            continue
        try:
            make_slides.solution_png(match["stem"], match["cell"])
        except SlideBuildError as e:
            problems.append(str(e))
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------------------------
# the demo decks: slide metadata
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", SOLUTION_STEMS)
def test_demo_deck_slide_metadata(stem):
    solution = nbformat.read(SOLUTIONS / f"{stem}.ipynb", as_version=4)
    nb = make_slides.demo_notebook(solution)
    nbformat.validate(nb)
    kinds = {c.id: c.metadata.slideshow.slide_type for c in nb.cells}
    setup = make_slides.course.setup_source().strip()
    assert nb.cells[0].metadata.slideshow.slide_type == "slide"
    for cell in nb.cells[1:]:
        kind = kinds[cell.id]
        heading = re.match(r"(#+) ", cell.source) if cell.cell_type == "markdown" else None
        if cell.cell_type == "code" and cell.source.strip() == setup:
            assert kind == "skip"
        elif heading and len(heading[1]) <= 2:
            assert kind == "slide", f"{cell.id}: {cell.source[:40]!r}"
        elif heading or cell.cell_type == "code":
            assert kind == "subslide", f"{cell.id}: {cell.source[:40]!r}"
        else:
            assert kind in ("-", "subslide"), f"{cell.id}: {cell.source[:40]!r}"
        if cell.cell_type == "markdown":  # every ## heading starts its own slide
            assert not re.search(r"\n##? ", cell.source), f"{cell.id} hides a heading"
    assert list(kinds.values()).count("skip") == 1, "the Colab setup cell is not skipped"
    assert make_slides.slide_count(nb) == sum(k in ("slide", "subslide") for k in kinds.values())
    assert nb.metadata.rise["theme"] == "white"
    sources = "\n".join(c.source for c in nb.cells)
    web_images = re.findall(
        r"!\[[^\]]*\]\((?:https?:)?//[^)]*\)|<img[^>]+src=.(?:https?:)?//", sources
    )
    assert not web_images, f"images from the web (they break offline): {web_images}"
    assert "# NBVAL_" not in sources


@pytest.mark.parametrize("stem", SOLUTION_STEMS)
def test_demo_deck_keeps_the_outputs(stem):
    solution = nbformat.read(SOLUTIONS / f"{stem}.ipynb", as_version=4)
    before = json.dumps(solution, sort_keys=True)
    nb = make_slides.demo_notebook(solution)
    assert json.dumps(solution, sort_keys=True) == before, "the solution given was modified"
    by_id = {c.id: c for c in nb.cells}
    for cell in solution.cells:
        if cell.cell_type != "code":
            continue
        kept = by_id[cell.id]
        assert [o.output_type for o in kept.outputs] == [o.output_type for o in cell.outputs]
        for before, after in zip(cell.outputs, kept.outputs, strict=True):
            for mime, value in before.get("data", {}).items():
                if mime != "text/plain" or make_slides.WIDGET not in before.data:
                    assert after.data[mime] == value, f"{cell.id}: {mime} changed"
                else:
                    assert after.data[mime] == make_slides.WIDGET_TEXT


def test_demo_deck_splits_cells_at_headings_and_drops_badges():
    solution = nbformat.v4.new_notebook()
    solution.cells = [
        nbformat.v4.new_markdown_cell(
            "# Lab 9\n\n[![Open In Colab](https://colab.example/b.svg)](https://colab.example/nb)"
            "\n\n*5 min*",
            id="top",
        ),
        nbformat.v4.new_code_cell(make_slides.course.setup_source(), id="setup"),
        nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nx = 1", id="code"),
        nbformat.v4.new_markdown_cell(
            "Reading it.\n\n## Next part\ntext\n### Exercise\ndo", id="mix"
        ),
        nbformat.v4.new_markdown_cell("more text", id="more"),
    ]
    nb = make_slides.demo_notebook(solution)
    got = [(c.id, c.metadata.slideshow.slide_type, c.source.splitlines()[0]) for c in nb.cells]
    assert got == [
        ("top", "slide", "# Lab 9"),
        ("setup", "skip", make_slides.course.setup_source().splitlines()[0]),
        ("code", "subslide", "x = 1"),
        ("mix", "subslide", "Reading it."),
        ("mix-2", "slide", "## Next part"),
        ("mix-3", "subslide", "### Exercise"),
        ("more", "-", "more text"),
    ]
    assert "colab" not in nb.cells[0].source and "*5 min*" in nb.cells[0].source
    assert make_slides.slide_count(nb) == 5


# ----------------------------------------------------------------------------------------------
# the built decks: offline, deterministic, small
# ----------------------------------------------------------------------------------------------


class _References(html.parser.HTMLParser):
    """Every URL a page would load: src/href of scripts, styles, images, frames; CSS url()."""

    LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "link": "href"}

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = self.LOADS.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)
        self._style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._style = False

    def handle_data(self, data: str) -> None:
        if self._style:
            self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", data)
            self.urls += re.findall(r"@import\s+['\"]([^'\"]+)", data)


def _page_loads(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    # module scripts import by URL (nbconvert's default template imports mermaid so)
    return parser.urls + re.findall(r"\bimport\b[^;]*?from\s+['\"]([^'\"]+)", page)


def _is_remote(url: str) -> bool:
    return bool(re.match(r"^(https?:)?//", url.strip(), re.IGNORECASE))


def test_reference_finder_sees_remote_loads():
    """The offline check below would pass vacuously if the finder missed these."""
    page = (
        '<link rel="stylesheet" href="https://unpkg.com/reveal.js/dist/reveal.css">'
        '<script src="//cdn.example/require.js"></script><img src="http://x.example/b.svg">'
        "<style>@import url(https://fonts.example/f.css);</style>"
        "<script type=module>import mermaid from 'https://cdn.example/m.mjs';</script>"
        '<a href="https://colab.example/">a plain link is fine</a>'
    )
    assert [u for u in _page_loads(page) if _is_remote(u)] == [
        "https://unpkg.com/reveal.js/dist/reveal.css",
        "//cdn.example/require.js",
        "http://x.example/b.svg",
        "https://fonts.example/f.css",
        "https://cdn.example/m.mjs",
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, list[make_slides.Deck]]:
    out = tmp_path_factory.mktemp("slides")
    return out, make_slides.build(out)


def test_build_writes_every_deck(built):
    out, decks = built
    assert sorted(d.html.name for d in decks) == sorted(f"{n}.slides.html" for n in DECKS)
    assert sorted(d.notebook.name for d in decks) == sorted(f"{n}.ipynb" for n in DECKS)
    for deck in decks:
        assert deck.html.parent == out and deck.slides > 1
        nb = nbformat.read(deck.notebook, as_version=4)
        assert make_slides.slide_count(nb) == deck.slides
    assert (out / "rise.css").exists()


def test_decks_load_nothing_from_the_web_and_every_local_file_exists(built):
    out, decks = built
    for deck in decks:
        urls = _page_loads(deck.html.read_text(encoding="utf-8"))
        remote = [u for u in urls if _is_remote(u)]
        assert not remote, f"{deck.html.name} loads from the web: {remote}"
        local = [u for u in urls if not u.startswith(("data:", "#"))]
        assert any("reveal.js" in u for u in local), f"{deck.html.name}: no reveal.js? {local}"
        missing = [u for u in local if not (out / urllib.parse.urlparse(u).path).is_file()]
        assert not missing, f"{deck.html.name} refers to files that are not there: {missing}"
    for css in (out / "vendor").rglob("*.css"):
        for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text(encoding="utf-8")):
            assert not _is_remote(ref), f"{css}: {ref}"


def test_build_is_deterministic(built, tmp_path):
    out, _ = built
    make_slides.build(tmp_path)

    def digests(folder: Path) -> dict[str, str]:
        return {
            str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    assert digests(tmp_path) == digests(out)


def test_vendored_files_are_small_and_licensed():
    files = [p for p in make_slides.VENDOR.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    assert size < 1.5e6, f"docs/slides/vendor holds {size / 1e6:.2f} MB"
    for package in ("reveal.js", "katex"):
        licence = make_slides.VENDOR / package / "LICENSE"
        assert "Permission is hereby granted" in licence.read_text(), licence


def test_cli_reports_a_missing_figure(tmp_path, fake_solutions, capsys):
    code = make_slides.main(["--out", str(tmp_path / "out"), "--solutions", str(fake_solutions)])
    err = capsys.readouterr().err
    assert code == 1
    assert re.search(r"make_slides: figure solution:\w+/[\w-]+: no notebook", err), err


# ----------------------------------------------------------------------------------------------
# in a browser (ui)
# ----------------------------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_S = 10  # one key press: the next slide is shown within this (it takes milliseconds)
PAGE_S = 60
LAB_START_S = 120
RISE_S = 90


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium; skip without it (fail in CI)."""
    path = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = ""
    if not path or not os.access(path, os.X_OK):
        reason = f"no Chromium at {path or '?'} or no Playwright: `apt-get install chromium`"
        if _in_ci():
            pytest.fail(f"{reason} (CI is set, so the UI tests may not be skipped)")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def deck_dir(tmp_path_factory) -> Path:
    """The decks, written by the command `make slides` runs, into a temporary folder."""
    out = tmp_path_factory.mktemp("decks")
    cmd = [sys.executable, "tools/make_slides.py", "--out", str(out)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"{' '.join(cmd)} failed:\n{run.stdout}\n{run.stderr}"
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def deck_server(deck_dir) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(deck_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Watch:
    """What a page did that a deck must not: console errors, page errors, failed or remote loads."""

    def __init__(self, page, allowed_host: str) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("request", lambda r: self._request(r.url, allowed_host))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url[:120]}"))
        page.on(
            "response",
            lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url[:120]}"),
        )

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text[:300]} ({msg.location.get('url')})")

    def _request(self, url: str, allowed_host: str) -> None:
        parts = urllib.parse.urlparse(url)
        if parts.scheme not in ("data", "blob") and parts.hostname != allowed_host:
            self.problems.append(f"request off the machine: {url[:120]}")


# Every <img> of the current slide has loaded and has a size.
_BROKEN_IMAGES_JS = """() => Array.from(Reveal.getCurrentSlide().querySelectorAll('img'))
    .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src.slice(0, 80))"""
_STATE_JS = """() => { const i = Reveal.getIndices();
    return {key: `${i.h}/${i.v}/${i.f}`, past: Reveal.getSlidePastCount(),
            last: Reveal.isLastSlide() && !Reveal.availableFragments().next}; }"""
MODULE_SHOTS = {  # screenshot name -> which module slide
    "slides-01-title": lambda state, slide: state["past"] == 0,
    "slides-02-figure": lambda state, slide: slide["images"] > 0,
    "slides-03-mistakes": lambda state, slide: slide["heading"] == "Common mistakes",
}
_SLIDE_JS = """() => { const s = Reveal.getCurrentSlide(); const h = s.querySelector('h1, h2');
    return {images: s.querySelectorAll('img').length,
            heading: h ? h.textContent.replace(/¶$/, '').trim() : ''}; }"""


@pytest.mark.ui
@pytest.mark.parametrize("name", DECKS)
def test_deck_walks_every_slide_in_chromium(name, browser, deck_dir, deck_server, capsys):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    expected = make_slides.slide_count(nbformat.read(deck_dir / f"{name}.ipynb", as_version=4))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch = _Watch(page, "127.0.0.1")
    shots: dict[str, Path] = {}
    try:
        page.goto(f"{deck_server}/{name}.slides.html", timeout=PAGE_S * 1000)
        page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=PAGE_S * 1000)
        total = page.evaluate("Reveal.getTotalSlides()")
        assert total == expected, f"reveal.js counts {total} slides, the notebook {expected}"
        broken: list[str] = []
        seen = 1
        state = page.evaluate(_STATE_JS)
        while True:
            with contextlib.suppress(PlaywrightTimeout):  # a broken image never loads
                page.wait_for_function(
                    f"({_BROKEN_IMAGES_JS})().length === 0", timeout=STEP_S * 1000
                )
            broken += [f"slide {seen}: {src}" for src in page.evaluate(_BROKEN_IMAGES_JS)]
            if name == "module":
                slide = page.evaluate(_SLIDE_JS)
                for shot, wanted in MODULE_SHOTS.items():
                    if shot not in shots and wanted(state, slide):
                        shots[shot] = SCREENSHOTS / f"{shot}.png"
                        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(shots[shot]))
            if state["last"]:
                break
            assert seen <= total, f"still walking after {total} slides"
            page.keyboard.press("Space")
            page.wait_for_function(
                "key => { const i = Reveal.getIndices(); return `${i.h}/${i.v}/${i.f}` !== key; }",
                arg=state["key"],
                timeout=STEP_S * 1000,
            )
            previous, state = state, page.evaluate(_STATE_JS)
            if state["past"] != previous["past"]:
                assert state["past"] == previous["past"] + 1, f"skipped a slide after {seen}"
                seen += 1
    finally:
        context.close()
    with capsys.disabled():
        print(f"\n[slides] {name}: walked {seen} of {total} slides", flush=True)
    assert seen == total == expected, f"walked {seen} slides, reveal.js counts {total}"
    assert not broken, f"broken images: {broken}"
    assert not watch.problems, "\n".join(watch.problems)
    if name == "module":
        assert sorted(shots) == sorted(MODULE_SHOTS), f"screenshots taken: {sorted(shots)}"


# ----------------------------------------------------------------------------------------------
# RISE: live slides in JupyterLab
# ----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _jupyter_lab(root: Path, home: Path) -> Iterator[str]:
    """JupyterLab serving ``root`` on 127.0.0.1; yields its URL with the token."""
    settings = home / "settings"
    quiet = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
    }
    for rel, value in quiet.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={home}",
    ]
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    log = home / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LAB_START_S
        while True:
            assert proc.poll() is None, "jupyter lab exited:\n" + log.read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "no answer:\n" + log.read_text()[-3000:]
                time.sleep(0.5)  # polling the server's port, not ordering events
        yield f"{url}|{token}"
    finally:
        for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait_s)
                break


# The leaf <section>s of the RISE frame: the slides a presenter steps through.
_RISE_SLIDES_JS = """() => Array.from(document.querySelectorAll('.reveal .slides section'))
    .filter(s => !s.querySelector('section')).length"""


@pytest.mark.ui
def test_rise_preview_shows_a_demo_deck(browser, deck_dir, tmp_path, capsys):
    """RISE (jupyterlab-rise) renders a demo notebook as reveal.js slides inside JupyterLab."""
    stem = SOLUTION_STEMS[0]
    live = tmp_path / "live"
    live.mkdir()
    for item in (f"{stem}.ipynb", "rise.css"):
        shutil.copy(deck_dir / item, live / item)
    expected = make_slides.slide_count(nbformat.read(live / f"{stem}.ipynb", as_version=4))
    home = tmp_path / "home"
    home.mkdir()
    with _jupyter_lab(live, home) as server:
        url, token = server.split("|")
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        remote: list[str] = []
        page.on(
            "request",
            lambda r: (
                urllib.parse.urlparse(r.url).hostname not in (None, "127.0.0.1")
                and remote.append(r.url)
            ),
        )
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text[:120]))
        try:
            page.goto(f"{url}/lab/tree/{stem}.ipynb?token={token}", timeout=RISE_S * 1000)
            page.wait_for_function(
                """path => window.jupyterapp
                && window.jupyterapp.commands.hasCommand('RISE:preview')
                && Array.from(window.jupyterapp.shell.widgets('main'))
                    .some(w => w.context && w.context.path === path && w.context.isReady)""",
                arg=f"{stem}.ipynb",
                timeout=RISE_S * 1000,
            )
            page.evaluate("window.jupyterapp.commands.execute('RISE:preview')")
            frame_element = page.wait_for_selector(
                f"iframe[src*='/rise/{stem}.ipynb']", timeout=RISE_S * 1000
            )
            frame = frame_element.content_frame()
            assert frame is not None, "RISE's iframe has no document"
            frame.wait_for_function(
                "document.querySelectorAll('.reveal .slides section.present').length > 0",
                timeout=RISE_S * 1000,
            )
            shown = frame.evaluate(_RISE_SLIDES_JS)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "slides-rise-preview.png"))
            frame.locator(".reveal").first.focus()
            hashes = [frame.evaluate("location.hash")]
            for _ in range(shown - 1):
                page.keyboard.press("Space")
                frame.wait_for_function(
                    "h => location.hash !== h", arg=hashes[-1], timeout=STEP_S * 1000
                )
                hashes.append(frame.evaluate("location.hash"))
            images = frame.evaluate(
                """() => Array.from(document.querySelectorAll('.reveal img'))
                .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80))"""
            )
        finally:
            context.close()
    with capsys.disabled():
        print(
            f"\n[slides] RISE preview of {stem}: {shown} slides, walked {len(set(hashes))}; "
            f"{len(errors)} console errors from JupyterLab/RISE (not checked here): "
            f"{sorted(set(errors))[:4]}",
            flush=True,
        )
    assert shown == expected, f"RISE shows {shown} slides, the notebook has {expected}"
    assert len(set(hashes)) == expected, f"walked {len(set(hashes))} distinct slides: {hashes}"
    assert hashes[0] == "#/slide-0-0"
    assert not images, f"broken images in RISE: {images}"
    assert not remote, f"RISE requested: {remote}"
