"""The machinery of the browser tests (tests/test_ui_jupyterlab.py, tests/test_ui_solutions.py):
the labs in a real JupyterLab, in a real browser.

JupyterLab is started exactly the way a learner starts it, ``make lab`` (with headless
``LAB_ARGS``), and Debian's Chromium is driven through Playwright for Python. For every
notebook found by glob:

- ``labs/<name>.ipynb``: it opens and renders, its kernel starts (and is the venv's Python),
  and its first code cells (setup and imports) run with no error output. The rest of a learner
  notebook is exercises (TODO stubs), so it is not run; the file itself is never saved.
- ``solutions/<name>.ipynb``: a copy with every output cleared (stale outputs cannot make a run
  look green) is opened, run with "Run All Cells" and saved; the saved file must have no error
  output, every code cell must have run, and every cell with a figure in the committed solution
  must have a figure again. Where the solution has a playground, it is used as a presenter
  would: a query typed into Lab 1's search box gives a table of each model's top 5; a click on
  Lab 2x's index control changes the nDCG@10 and memory line.

``make lab`` serves ``labs/`` (it is the folder argument), so the cleared copies live in
``labs/outputs/ui-<worker>/`` while the tests run (one folder per pytest-xdist worker).
Afterwards the solved copies move to ``outputs/ui/`` (git-ignored), next to one screenshot per
notebook, and the scratch folder is removed: a learner's ``make lab`` never shows solved
notebooks.

Needs Chromium (``apt-get install chromium``; another binary: ``CHROMIUM=/path``). Without it
the tests are skipped, or fail when ``$CI`` is set. Run only these: ``make test-ui``.
The test files import the fixtures they use from here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs"
SOLUTIONS = ROOT / "solutions"
SCREENSHOTS = ROOT / "outputs" / "ui"
# The server's root is labs/ (`make lab` passes it), so the copies must live below it; one
# folder per pytest-xdist worker (each runs its own server), so no worker removes another's.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
SCRATCH = LABS / "outputs" / f"ui-{WORKER}"
SCRATCH_URL_DIR = f"outputs/ui-{WORKER}"

LAB_NAMES = sorted(p.stem for p in LABS.glob("*.ipynb"))
SOLUTION_NAMES = sorted(p.stem for p in SOLUTIONS.glob("*.ipynb"))

SETUP_CODE_CELLS = 1  # learner notebooks: the Colab setup cell (the solutions' run covers the rest)
SERVER_START_S = 120
PAGE_LOAD_S = 90
KERNEL_IDLE_S = 120
# Running cells: warm, a whole solution takes 20-70 s here (2 cores); a cold cache (models built
# on first use) or a busy machine takes several times that. So a run fails when no cell has
# finished for CELL_TIMEOUT_S (a hang), or when it exceeds RUN_TIMEOUT_S in all.
CELL_TIMEOUT_S = float(os.environ.get("EMBEDLAB_UI_CELL_TIMEOUT", "600"))
RUN_TIMEOUT_S = float(os.environ.get("EMBEDLAB_UI_RUN_TIMEOUT", "1800"))

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Lab settings for an unattended browser: every cell in the DOM (no windowing), no autosave
# (the learner notebooks are run but must never be written), no news or update toasts, no
# extension manager (it would query PyPI).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    """Skip locally; fail in CI, where the UI test must run."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so the UI test may not be skipped)", pytrace=False)
    pytest.skip(reason)


def _log(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Print past pytest's capture, so timings show in CI logs without -s."""
    with capsys.disabled():
        print(f"\n[ui] {line}", flush=True)


# ----------------------------------------------------------------------------------------------
# the server (`make lab`) and the browser
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium_executable() -> str:
    how = "install it with `apt-get install chromium` (or set CHROMIUM=/path/to/chromium)"
    if os.environ.get("CHROMIUM"):
        candidates = [os.environ["CHROMIUM"]]  # asked for: no silent fallback
    else:
        candidates = ["/usr/bin/chromium", shutil.which("chromium") or ""]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if found is None:
        tried = ", ".join(c for c in candidates if c)
        _unavailable(f"no Chromium executable found (tried {tried}): {how}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("Playwright for Python is not installed: run `make setup`")
    return found


class LabServer:
    def __init__(self, proc: subprocess.Popen, url: str, token: str, log: Path):
        self.proc, self.url, self.token, self.log = proc, url, token, log

    def api(self, method: str, path: str, timeout: float = 10):
        req = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def shutdown_sessions(self) -> None:
        """Shut every kernel down, so each notebook starts with a fresh one and none keeps
        its models in memory."""
        with contextlib.suppress(OSError, ValueError):
            for session in self.api("GET", "/api/sessions"):
                with contextlib.suppress(OSError):
                    self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is left in the process group."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
    for stat in proc_dir.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the whole process group (make and jupyter; jupyter then shuts its kernels down),
    wait until it is gone, SIGKILL whatever is left."""
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
            if proc.returncode is not None and not _group_alive(proc.pid):
                return


@contextlib.contextmanager
def _serve(target: list[str], home: Path):
    """Run `make <target>` with headless LAB_ARGS from the repo root; yield the server."""
    settings = home / "user-settings"
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    (home / "workspaces").mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    lab_args = [
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]
    env = dict(os.environ)  # EMBEDLAB_CACHE_DIR etc. as the rest of the suite sees them
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
    # The targets depend on `setup`; -o keeps a stale .installed stamp (pyproject.toml edited
    # since the last `make setup`) from reinstalling the venv in the middle of a test run.
    venv = os.environ.get("VENV", ".venv")
    cmd = ["make", "--no-print-directory", "-o", f"{venv}/.installed", *target]
    cmd.append("LAB_ARGS=" + " ".join(lab_args))
    log = home / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(proc, f"http://127.0.0.1:{port}", token, log)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"`make {' '.join(target)}` exited with {proc.returncode} before the server "
                    "answered:\n" + server.log_tail(),
                    pytrace=False,
                )
            try:
                server.api("GET", "/api/status", timeout=2)
                break
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not answer /api/status within {SERVER_START_S} s:\n"
                        + server.log_tail(),
                        pytrace=False,
                    )
                time.sleep(0.5)
        yield server
    finally:
        server.shutdown_sessions()
        _stop(proc)


@pytest.fixture(scope="module", autouse=True)
def _scratch_leaves_labs_clean():
    """Set up first, torn down last (after the server): no solved copy stays under labs/."""
    shutil.rmtree(SCRATCH, ignore_errors=True)  # a killed earlier run
    yield
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for copy in SCRATCH.glob("*.ipynb"):
        shutil.move(copy, SCREENSHOTS / f"{copy.stem}-solution.ipynb")
    shutil.rmtree(SCRATCH, ignore_errors=True)
    with contextlib.suppress(OSError):
        SCRATCH.parent.rmdir()  # labs/outputs/, when nothing else is in it


@pytest.fixture(scope="module")
def lab_server(chromium_executable, tmp_path_factory):
    with _serve(["lab"], tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(chromium_executable):
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as p:
        try:
            # launch() gives the browser a fresh, temporary user-data dir
            b = p.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        except Error as e:
            pytest.fail(f"Chromium ({chromium_executable}) did not start: {e}", pytrace=False)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, lab_server):
    context = browser.new_context(viewport={"width": 1280, "height": 1300})
    pg = context.new_page()
    pg.set_default_timeout(PAGE_LOAD_S * 1000)
    pg.page_errors = []  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.page_errors.append(str(e)))  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        context.close()
        lab_server.shutdown_sessions()


# ----------------------------------------------------------------------------------------------
# driving JupyterLab (window.jupyterapp: the app, exposed by --LabApp.expose_app_in_browser)
# ----------------------------------------------------------------------------------------------

# The notebook panel of the open document (argument: its path relative to the server root).
_PANEL = """const panel = Array.from(window.jupyterapp.shell.widgets('main'))
    .find(w => w.context && w.context.path === path && w.content && w.content.widgets);"""

_READY_JS = f"""([path, ncells]) => {{
    if (!window.jupyterapp) return false;
    {_PANEL}
    if (!panel || !panel.context.isReady) return false;
    const rendered = panel.node.querySelectorAll('.jp-Notebook .jp-Cell').length;
    return panel.content.widgets.length === ncells && rendered === ncells;
}}"""

_OPEN_DOCS_JS = """() => Array.from(window.jupyterapp.shell.widgets('main'))
    .filter(w => w.context).map(w => w.context.path)"""

_KERNEL_IDLE_JS = f"""(path) => {{
    {_PANEL}
    const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}}"""

_KERNEL_STATE_JS = f"""(path) => {{
    {_PANEL}
    const sc = panel && panel.sessionContext;
    const kernel = sc && sc.session && sc.session.kernel;
    const dialogs = Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText);
    return {{panel: !!panel, kernel: kernel ? kernel.name : null,
            status: kernel ? kernel.status : null,
            connection: kernel ? kernel.connectionStatus : null, dialogs}};
}}"""

# Runs Python in the notebook's kernel without touching the notebook; returns stdout.
_KERNEL_EXEC_JS = f"""async ([path, code]) => {{
    {_PANEL}
    const kernel = panel.sessionContext.session.kernel;
    let out = '';
    const future = kernel.requestExecute({{code, silent: false, store_history: false}});
    future.onIOPub = msg => {{ if (msg.header.msg_type === 'stream') out += msg.content.text; }};
    await future.done;
    return out;
}}"""

# Executes a command on the notebook, with a timeout: the command's promise settles when the
# cells it ran have finished.
_COMMAND_JS = f"""async ([path, command, activeCell, timeoutMs, stallMs]) => {{
    {_PANEL}
    window.jupyterapp.shell.activateById(panel.id);
    if (activeCell !== null) {{
        panel.content.activeCellIndex = activeCell;
        panel.content.deselectAll();
    }}
    const started = performance.now();
    const run = window.jupyterapp.commands.execute(command).then(
        value => ({{done: true, value: value === undefined ? null : value}}),
        error => ({{done: true, error: String(error)}}));
    let watching = true;
    const timeout = new Promise(resolve => {{
        let signature = null, changed = performance.now();
        const tick = () => {{
            if (!watching) return;
            const now = panel.content.widgets.map(c => String(c.model.executionCount)).join();
            if (now !== signature) [signature, changed] = [now, performance.now()];
            if (performance.now() - started > timeoutMs) resolve({{done: false}});
            else if (performance.now() - changed > stallMs) resolve({{done: false, stalled: true}});
            else setTimeout(tick, 1000);
        }};
        tick();
    }});
    // a kernel that dies is restarted automatically: watch for it (the run then settles
    // quietly, with the cells after the fatal one never run)
    const stopped = ['dead', 'restarting', 'autorestarting'];
    const seen = [];
    let onStatus;
    const died = new Promise(resolve => {{
        onStatus = (_, status) => {{
            seen.push(status);
            if (stopped.includes(status)) resolve({{done: false, kernel: status}});
        }};
        panel.sessionContext.statusChanged.connect(onStatus);
    }});
    const result = await Promise.race([run, timeout, died]);
    panel.sessionContext.statusChanged.disconnect(onStatus);
    watching = false;
    const restarted = seen.find(status => stopped.includes(status));
    if (result.done && restarted) Object.assign(result, {{done: false, kernel: restarted}});
    result.seconds = (performance.now() - started) / 1000;
    return result;
}}"""

# What the page shows for every cell: prompt, execution count, error outputs (from the rendered
# cell's output model, with the text the DOM shows for them), number of images.
_CELLS_JS = f"""(path) => {{
    {_PANEL}
    return panel.content.widgets.map((cell, index) => {{
        const model = cell.model;
        const info = {{index, type: model.type, source: model.sharedModel.getSource()}};
        if (model.type !== 'code') return info;
        const prompt = cell.node.querySelector('.jp-InputPrompt');
        info.prompt = prompt ? prompt.textContent.trim() : '';
        info.execution_count = model.executionCount;
        info.errors = [];
        const areas = cell.outputArea ? cell.outputArea.widgets : [];
        for (let j = 0; j < model.outputs.length; j++) {{
            const output = model.outputs.get(j);
            if (output.type !== 'error') continue;
            const json = output.toJSON();
            const shown = areas[j] ? areas[j].node.innerText : '';
            info.errors.push({{ename: json.ename, evalue: json.evalue, shown}});
        }}
        info.images = cell.node.querySelectorAll('.jp-OutputArea-output img').length;
        return info;
    }});
}}"""

_HEADING_JS = f"""(path) => {{
    {_PANEL}
    const h = panel.content.node.querySelector('.jp-MarkdownCell h1, .jp-MarkdownCell h2');
    return h ? h.innerText : '';
}}"""

_OUTPUTS_SHOWN_JS = f"""(path) => {{
    {_PANEL}
    return panel.content.node.querySelectorAll('.jp-OutputArea-output').length;
}}"""

_SAVE_JS = f"""async (path) => {{
    {_PANEL}
    window.jupyterapp.shell.activateById(panel.id);
    await window.jupyterapp.commands.execute('docmanager:save');
    return !panel.context.model.dirty;
}}"""

# For the screenshot: more room for the notebook, and scroll to what matters (the first
# element matching a selector, or a cell given by its index).
_FRAME_JS = f"""([path, selector, index]) => {{
    {_PANEL}
    window.jupyterapp.shell.collapseLeft();
    const target = selector ? panel.content.node.querySelector(selector)
        : (panel.content.widgets[index] || panel.content.widgets[0]).node;
    if (target) target.scrollIntoView({{block: 'center'}});
}}"""


def _first_line(source: str) -> str:
    """The line that names a cell in messages: its first line, past nbval markers."""
    lines = [ln.strip() for ln in source.splitlines() if ln.strip()]
    named = [ln for ln in lines if not ln.startswith("# NBVAL_")] or lines
    return (named[0] if named else "")[:100]


def _open_notebook(page, server: LabServer, path: str, ncells: int, label: str) -> float:
    """Open the notebook (``path``: relative to the server root) in the UI; wait for it to
    render and its kernel to be idle. Returns the seconds that took. ``label``: for messages."""
    t0 = time.monotonic()
    # A workspace of its own: the server would otherwise reopen the previous test's notebooks
    # (and start their kernels) from the shared default workspace.
    workspace = f"ui-{secrets.token_hex(4)}"
    url_path = urllib.parse.quote(path)
    page.goto(f"{server.url}/lab/workspaces/{workspace}/tree/{url_path}?reset&token={server.token}")
    try:
        page.wait_for_function(_READY_JS, arg=[path, ncells], timeout=PAGE_LOAD_S * 1000)
    except Exception as e:
        pytest.fail(
            f"{label} did not render its {ncells} cells within {PAGE_LOAD_S} s ({e}); "
            f"page errors: {page.page_errors}",
            pytrace=False,
        )
    docs = page.evaluate(_OPEN_DOCS_JS)
    assert docs == [path], f"{label}: the page has these documents open: {docs}"
    try:
        page.wait_for_function(_KERNEL_IDLE_JS, arg=path, timeout=KERNEL_IDLE_S * 1000)
    except Exception:
        try:
            state = page.evaluate(_KERNEL_STATE_JS, path)
        except Exception as e:
            state = f"unknown ({e})"
        pytest.fail(
            f"{label}: the kernel was not idle within {KERNEL_IDLE_S} s: {state}\n"
            f"server log:\n{server.log_tail()}",
            pytrace=False,
        )
    return time.monotonic() - t0


def _run_command(
    page, server: LabServer, path: str, label: str, command: str, active_cell: int | None = None
) -> dict:
    limits = [int(RUN_TIMEOUT_S * 1000), int(CELL_TIMEOUT_S * 1000)]
    result = page.evaluate(_COMMAND_JS, [path, command, active_cell, *limits])
    if not result["done"]:
        cells = [c for c in page.evaluate(_CELLS_JS, path) if c["type"] == "code"]
        busy = [c for c in cells if "*" in c["prompt"]]  # the one running, then those queued
        running = (
            f"cell {busy[0]['index']} ({_first_line(busy[0]['source'])!r}), "
            f"{len(busy) - 1} more queued"
            if busy
            else ""
        )
        if "kernel" in result:
            # the cell that killed it never got its execution count
            first = next((c for c in cells if c["execution_count"] is None), None)
            culprit = f"cell {first['index']} ({_first_line(first['source'])!r})" if first else "?"
            pytest.fail(
                f"{label}: the kernel stopped ({result['kernel']}) during {command}, "
                f"probably in {culprit}\nserver log:\n{server.log_tail(15)}",
                pytrace=False,
            )
        with contextlib.suppress(Exception):
            page.evaluate(
                f"(path) => {{ {_PANEL} panel.sessionContext.session.kernel.interrupt(); }}", path
            )
        pytest.fail(
            (
                f"{label}: {command}: no cell finished for {CELL_TIMEOUT_S:.0f} s"
                if result.get("stalled")
                else f"{label}: {command} did not finish within {RUN_TIMEOUT_S:.0f} s"
            )
            + " (EMBEDLAB_UI_CELL_TIMEOUT / EMBEDLAB_UI_RUN_TIMEOUT); running: "
            f"{running or 'nothing (the run never started?)'}; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            pytrace=False,
        )
    if "error" in result:
        pytest.fail(f"{label}: {command} failed in the page: {result['error']}", pytrace=False)
    return result


def _screenshot(page, path: str, file: Path, selector: str | None = None, cell: int = 0) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        page.evaluate(_FRAME_JS, [path, selector, cell])
        page.wait_for_timeout(500)
    page.screenshot(path=str(file), full_page=True)


def _describe_error(index: int, source: str, ename: str, evalue: str, text: str) -> str:
    tail = "\n".join(ANSI.sub("", text).strip().splitlines()[-6:])
    return f"cell {index} ({_first_line(source)!r}): {ename}: {evalue}\n{tail}"


# ----------------------------------------------------------------------------------------------
# the tests
# ----------------------------------------------------------------------------------------------


def _cleared_copy(name: str) -> tuple[Path, nbformat.NotebookNode]:
    """solutions/<name>.ipynb with every output and execution count removed, in SCRATCH."""
    committed = nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)
    copy = nbformat.from_dict(json.loads(json.dumps(committed)))
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    target = SCRATCH / f"{name}.ipynb"
    target.unlink(missing_ok=True)
    nbformat.write(copy, target)
    return target, committed


def _has_png(cell) -> bool:
    return any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


QUERY = "our plane could not take off because of fog"


def _use_search_box(page, name: str, capsys) -> None:
    """The Lab 1 playground, as a presenter uses it: type a query, read the table."""
    box = page.locator("input[placeholder='Type a query and press Enter']")
    box.scroll_into_view_if_needed()
    box.fill(QUERY)
    box.press("Enter")
    table = page.locator(".widget-output table, .jupyter-widgets-output-area table").first
    try:
        table.wait_for(timeout=60_000)
    except Exception:
        widget = page.locator(".widget-vbox").first.inner_html()[:3000]
        pytest.fail(f"{name}: no result table after typing a query; the widget:\n{widget}")
    _screenshot(page, "", SCREENSHOTS / f"{name}-playground.png")
    header = table.locator("thead th").all_inner_texts()
    rows = [r.locator("td").all_inner_texts() for r in table.locator("tbody tr").all()]
    models = [h for h in header if " ms)" in h]
    assert len(models) == 3 and len(rows) == 5, f"search box table: {header} {rows}"
    first = rows[0]
    assert all(re.match(r"-?\d\.\d\d\s+\S.*[.?!]$", cell) for row in rows for cell in row), rows
    assert sum("fog" in cell.lower() for cell in first) >= 2, f"rank 1 for {QUERY!r}: {first}"
    _log(capsys, f"{name} (playground): {QUERY!r} -> {first}")


def _use_index_control(page, name: str, capsys) -> None:
    """The Lab 2x control: pick another index setting, read nDCG@10 and memory change."""
    label = page.locator(".widget-label", has_text="nDCG@10").first
    label.wait_for(timeout=60_000)
    before = label.inner_text()
    page.locator(".widget-toggle-button", has_text=re.compile(r"^binary$")).click()
    page.wait_for_function(
        "t => Array.from(document.querySelectorAll('.widget-label'))"
        ".some(e => e.textContent.startsWith(t))",
        arg="binary:",
        timeout=60_000,
    )
    after = page.locator(".widget-label", has_text="binary:").first.inner_text()
    _screenshot(page, "", SCREENSHOTS / f"{name}-playground.png")
    assert before.startswith("float32: nDCG@10") and "(1x smaller)" in before, before
    assert re.search(
        r"binary: nDCG@10 0\.\d{3} \(\d+\.\d% of float32\), \d+ bytes per vector \(32x smaller\)",
        after,
    ), after
    _log(capsys, f"{name} (playground): {before!r} -> {after!r}")
