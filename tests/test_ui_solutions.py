"""Every solution run with Run All Cells in a real JupyterLab in Chromium, saved and read back
(the machinery is in tests/ui_jupyterlab.py); a playground is used as a presenter would."""

from __future__ import annotations

import nbformat
import pytest
from ui_jupyterlab import (  # noqa: F401  (fixtures)
    _OUTPUTS_SHOWN_JS,
    _SAVE_JS,
    ROOT,
    SCRATCH_URL_DIR,
    SCREENSHOTS,
    SOLUTION_NAMES,
    _cleared_copy,
    _describe_error,
    _first_line,
    _has_png,
    _log,
    _open_notebook,
    _run_command,
    _scratch_leaves_labs_clean,
    _screenshot,
    _use_index_control,
    _use_search_box,
    browser,
    chromium_executable,
    lab_server,
    page,
)

pytestmark = pytest.mark.ui


@pytest.mark.parametrize("name", SOLUTION_NAMES)
def test_solution_runs_in_the_ui(name, lab_server, page, capsys):
    target, committed = _cleared_copy(name)
    path = f"{SCRATCH_URL_DIR}/{name}.ipynb"
    label = f"solutions/{name}.ipynb (its copy {target.relative_to(ROOT)})"
    try:
        opened_s = _open_notebook(page, lab_server, path, len(committed.cells), label)
        shown = page.evaluate(_OUTPUTS_SHOWN_JS, path)
        assert shown == 0, f"{label}: the cleared copy shows {shown} outputs before running"
        result = _run_command(page, lab_server, path, label, "notebook:run-all-cells")
        assert page.evaluate(_SAVE_JS, path), f"{label}: still unsaved after docmanager:save"
    finally:
        _screenshot(page, path, SCREENSHOTS / f"{name}-solution.png", ".jp-OutputArea-output img")
    _log(
        capsys,
        f"{name} (solution): opened with an idle kernel in {opened_s:.1f} s, "
        f"Run All Cells took {result['seconds']:.1f} s",
    )

    saved = nbformat.read(target, as_version=4)
    where = f"{label}, run in JupyterLab and saved"
    assert len(saved.cells) == len(committed.cells), f"{where}: the cell count changed"
    problems, not_run, missing_png = [], [], []
    for index, (cell, ref) in enumerate(zip(saved.cells, committed.cells, strict=True)):
        if cell.cell_type != "code":
            continue
        allowed = "raises-exception" in cell.metadata.get("tags", [])
        for out in cell.outputs:
            if out.output_type == "error" and not allowed:
                problems.append(
                    _describe_error(
                        index, cell.source, out.ename, out.evalue, "\n".join(out.traceback)
                    )
                )
        if cell.execution_count is None:
            not_run.append(f"cell {index} ({_first_line(cell.source)!r})")
        if _has_png(ref) and not _has_png(cell):
            missing_png.append(f"cell {index} ({_first_line(cell.source)!r})")
    assert not problems, f"{where}: error output\n" + "\n\n".join(problems)
    assert not not_run, f"{where}: cells that never ran: {not_run}"
    assert not missing_png, f"{where}: no image/png output, unlike the committed one: {missing_png}"
    assert result["value"] is not False, f"{where}: Run All Cells reported a failure"

    sources = "\n".join(c.source for c in committed.cells if c.cell_type == "code")
    if "search_box(" in sources:
        _use_search_box(page, name, capsys)
    if "index_control(" in sources:
        _use_index_control(page, name, capsys)
