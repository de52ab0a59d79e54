"""The learner notebooks and ``make demo`` in a real JupyterLab in Chromium (the machinery is
in tests/ui_jupyterlab.py): each lab opens, its kernel is the venv's and its setup cells run;
the demo serves a scratch copy that a saving instructor cannot damage."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from ui_jupyterlab import (  # noqa: F401  (fixtures)
    _CELLS_JS,
    _HEADING_JS,
    _KERNEL_EXEC_JS,
    _SAVE_JS,
    LAB_NAMES,
    LABS,
    PAGE_LOAD_S,
    ROOT,
    SCREENSHOTS,
    SETUP_CODE_CELLS,
    SOLUTIONS,
    _describe_error,
    _first_line,
    _log,
    _open_notebook,
    _run_command,
    _scratch_leaves_labs_clean,
    _screenshot,
    _serve,
    browser,
    chromium_executable,
    lab_server,
    page,
)

pytestmark = pytest.mark.ui


def _git_status() -> str:
    out = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout


def test_make_demo_serves_a_scratch_copy_that_class_cannot_damage(browser, tmp_path, capsys):
    """`make demo` serves outputs/demo/ (copies of the solutions, outputs kept); a notebook
    run and saved there through the UI leaves `git status` as it was."""
    before = _git_status()
    with _serve(["demo"], tmp_path) as server:
        listed = {item["name"] for item in server.api("GET", "/api/contents")["content"]}
        wanted = {p.name for p in SOLUTIONS.glob("*.ipynb")}
        assert wanted <= listed, f"`make demo` serves {sorted(listed)}, not copies of the solutions"
        name = sorted(wanted)[0]
        committed = nbformat.read(SOLUTIONS / name, as_version=4)
        context = browser.new_context(viewport={"width": 1280, "height": 1300})
        page = context.new_page()
        page.set_default_timeout(PAGE_LOAD_S * 1000)
        try:
            _open_notebook(page, server, name, len(committed.cells), f"outputs/demo/{name}")
            first_code = next(i for i, c in enumerate(committed.cells) if c.cell_type == "code")
            _run_command(page, server, name, name, "notebook:run-cell", first_code + 1)
            assert page.evaluate(_SAVE_JS, name), f"outputs/demo/{name}: unsaved after save"
        finally:
            context.close()
            server.shutdown_sessions()
    assert (ROOT / "outputs" / "demo" / name).stat().st_mtime > (SOLUTIONS / name).stat().st_mtime
    assert _git_status() == before, "a demo session changed tracked files:\n" + _git_status()
    _log(capsys, f"make demo: {name} run and saved in outputs/demo/; git status unchanged")


@pytest.mark.parametrize("name", LAB_NAMES)
def test_lab_opens_and_setup_cells_run(name, lab_server, page, capsys):
    source = LABS / f"{name}.ipynb"
    before = source.read_bytes()
    nb = nbformat.reads(before.decode(), as_version=4)
    path = f"{name}.ipynb"  # relative to the server root, labs/
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    setup = code_cells[:SETUP_CODE_CELLS]

    label = f"labs/{path}"
    try:
        opened_s = _open_notebook(page, lab_server, path, len(nb.cells), label)
        title = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
        heading = _first_line(title).lstrip("# ").strip()
        if heading:
            shown = page.evaluate(_HEADING_JS, path)
            assert heading in shown, f"{label}: the first heading shows {shown!r}"

        prefix = page.evaluate(_KERNEL_EXEC_JS, [path, "import sys; print(sys.prefix)"]).strip()
        venv = (ROOT / os.environ.get("VENV", ".venv")).resolve()
        assert Path(prefix).resolve() == venv, f"{label}: the kernel runs in {prefix}, not {venv}"

        # run-all-above the first code cell after the setup cells (or everything, if none)
        rest = code_cells[SETUP_CODE_CELLS:]
        if rest:
            result = _run_command(page, lab_server, path, label, "notebook:run-all-above", rest[0])
        else:
            result = _run_command(page, lab_server, path, label, "notebook:run-all-cells")
        cells = page.evaluate(_CELLS_JS, path)
    finally:
        _screenshot(page, path, SCREENSHOTS / f"{name}-lab.png", cell=setup[-1] if setup else 0)
    _log(
        capsys,
        f"{name} (lab): opened with an idle kernel in {opened_s:.1f} s, "
        f"first {len(setup)} code cells ran in {result['seconds']:.1f} s",
    )

    problems = []
    for index in setup:
        cell = cells[index]
        for e in cell["errors"]:
            problems.append(
                _describe_error(index, cell["source"], e["ename"], e["evalue"], e["shown"])
            )
        if not cell["errors"] and not isinstance(cell["execution_count"], int):
            problems.append(
                f"cell {index} ({_first_line(cell['source'])!r}) did not run "
                f"(prompt {cell['prompt']!r})"
            )
    assert not problems, f"{label}, setup cells run in JupyterLab:\n" + "\n\n".join(problems)
    assert result["value"] is not False, f"{label}: the run reported a failure"
    assert source.read_bytes() == before, f"{label} was modified on disk by the UI test"
