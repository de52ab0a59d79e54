"""The benchmark runner: ``--smoke`` runs every code path and writes a well-formed file.

The smoke run is in-process (``benchmarks.run.main``) so it shares this session's imports;
it uses tiny sizes and skips the notebooks, so it takes seconds. It must never touch the
committed ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import re

import pytest

# `benchmarks` is a top-level folder of the repository, importable because pytest's
# `pythonpath = ["."]` (pyproject.toml) puts the repository root on the path.
from benchmarks import run as bench
from benchmarks.common import Summary, interleaved

SECTIONS = (
    "## Machine",
    "## Summary",
    "## 1. Helper overhead",
    "## 2. Embedding cache",
    "## 3. Quantized search",
    "## 4. Notebooks and CI",
)


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory, static_model) -> tuple[str, int, float]:
    """(text of the results file, exit code, mtime of the real RESULTS.md or -1)."""
    real = bench.RESULTS
    before = real.stat().st_mtime if real.exists() else -1.0
    out = tmp_path_factory.mktemp("bench") / "RESULTS.md"
    code = bench.main(["--smoke", "--out", str(out), "--ci-wall-time", "123"])
    return out.read_text(encoding="utf-8"), code, before


def test_smoke_run_succeeds(smoke_results):
    text, code, _ = smoke_results
    assert code == 0, text
    assert "FAILED" not in text


def test_results_file_has_every_section_in_order(smoke_results):
    text = smoke_results[0]
    positions = [text.find(heading) for heading in SECTIONS]
    assert all(p >= 0 for p in positions), [
        h for h, p in zip(SECTIONS, positions, strict=True) if p < 0
    ]
    assert positions == sorted(positions)
    assert text.startswith("# Benchmarks\n")
    assert "SMOKE RUN" in text


def test_results_file_describes_machine_and_command(smoke_results):
    text = smoke_results[0]
    for key in ("| CPU |", "| cores", "| torch threads", "| device |", "| torch |",
                "| sentence-transformers |", "| faiss-cpu |", "| numpy |", "| date |"):  # fmt: skip
        assert key in text, key
    assert text.count("Command: `python -m benchmarks.run --smoke") == 4


def test_results_file_reports_goals_and_checks(smoke_results):
    text = smoke_results[0]
    assert re.search(r"overhead \(median\)", text)
    assert re.search(r"\*\*Goal \(≥ 100×\)\*\*: (met|\*\*not met\*\*)", text)
    assert "**embedded == number of changed docs: PASS**" in text
    assert "nDCG@10" in text and "retention" in text
    assert "Not run (`--smoke`)." in text
    assert "123 s" in text  # --ci-wall-time is reported


def test_tables_are_well_formed(smoke_results):
    """Every Markdown table row has as many cells as its header."""
    lines = smoke_results[0].splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|---"):
            width = lines[i - 1].count("|")
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert lines[j].count("|") == width, lines[j]
                j += 1


def test_smoke_never_writes_the_committed_results(smoke_results):
    before = smoke_results[2]
    after = bench.RESULTS.stat().st_mtime if bench.RESULTS.exists() else -1.0
    assert after == before
    with pytest.raises(SystemExit):
        bench.output_path(bench.parse_args(["--smoke", "--out", str(bench.RESULTS)]))
    assert bench.output_path(bench.parse_args(["--smoke"])) != bench.RESULTS


def test_interleaved_ratio_of_identical_work_is_near_one():
    def work() -> int:
        return sum(range(2000))

    c = interleaved(work, work, rounds=9, min_time_s=0.002)
    assert c.ratio.n == 9
    assert 0.5 < c.ratio.median < 2.0


def test_summary_statistics():
    s = Summary.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (s.median, s.low, s.high, s.n) == (3.0, 1.0, 100.0, 5)
    assert s.q1 == 2.0 and s.q3 == 4.0
    assert s.fmt().startswith("3 [IQR 2–4; range 1–100; n=5]")
