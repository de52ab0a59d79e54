"""The benchmark runner: ``--smoke`` runs every code path and writes a well-formed file that
names the functions it timed and holds measured numbers.

The smoke run is in-process (``benchmarks.run.main``) so it shares this session's imports;
it uses tiny sizes and a synthetic notebook, so it takes seconds. It must never touch the
committed ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import re
import time

import pytest

# `benchmarks` is a top-level folder of the repository, importable because pytest's
# `pythonpath = ["."]` (pyproject.toml) puts the repository root on the path.
from benchmarks import run as bench
from benchmarks.common import Summary, ratio, round_robin
from benchmarks.notebooks import NotebookRun, cell_label

SECTIONS = (
    "## Machine",
    "## Summary",
    "## 1. Helper overhead",
    "## 2. Embedding cache",
    "## 3. Quantized search",
    "## 4. Notebooks",
)
MEDIAN = r"\d[\d.,e+-]* \[IQR [^\]]*; n=\d+\]"  # Summary.fmt of a measured number


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory, static_model, minilm) -> tuple[str, int, float]:
    """(text of the results file, exit code, mtime of the real RESULTS.md or -1)."""
    real = bench.RESULTS
    before = real.stat().st_mtime if real.exists() else -1.0
    out = tmp_path_factory.mktemp("bench") / "RESULTS.md"
    code = bench.main(["--smoke", "--out", str(out)])
    return out.read_text(encoding="utf-8"), code, before


def rows(text: str, section: str) -> list[str]:
    """The table rows (no headers, no rules) of one section."""
    lines = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0].splitlines()
    return [
        ln
        for ln, nxt in zip(lines, [*lines[1:], ""], strict=True)
        if ln.startswith("|") and not ln.startswith("|---") and not nxt.startswith("|---")
    ]


def test_smoke_run_succeeds(smoke_results):
    text, code, _ = smoke_results
    assert code == 0, text
    assert "FAILED" not in text and "nan" not in text


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
    for key in ("| CPU |", "| cores", "| load average at start", "| load average at end",
                "| torch threads", "| device |", "| torch |", "| sentence-transformers |",
                "| faiss-cpu |", "| date |"):  # fmt: skip
        assert key in text, key
    assert text.count("Command: `python -m benchmarks.run --smoke") == 4


def test_overhead_names_both_calls_and_measures_every_case(smoke_results):
    text = smoke_results[0]
    assert "`embedlab.embed(model, texts)`" in text
    assert (
        "`model.encode_document(texts, normalize_embeddings=True, convert_to_numpy=True)`" in text
    )
    cases = [r for r in rows(text, "1. Helper overhead") if "µs =" in r]
    assert len(cases) == 4  # two models x (1 text, several)
    for row in cases:
        assert re.search(MEDIAN, row), row  # the raw call's time
        assert len(re.findall(r"[+-]\d+\.\d\d% \(95% CI ", row)) == 2, row  # overhead and A/A
        assert re.search(r"\d+\.\d µs = \d+\.\d\d%", row), row  # the wrapper cost
    assert text.count("(goal ≤ 2%), **") == 2  # one verdict per model in the summary


def test_cache_figure_times_cached_encode_and_checks_the_update(smoke_results):
    text = smoke_results[0]
    assert '`cached_encode(model, texts, kind="document", cache=cache)`' in text
    assert "`IncrementalIndex.update` after editing exactly 1%" in text
    assert re.search(r"\*\*Goal \(≥ 100×\)\*\*: (met|\*\*not met\*\*)", text)
    assert re.search(rf"warm \| {MEDIAN} \| \*\*{MEDIAN}×\*\*", text)
    assert "**`UpdateReport.embedded` == documents edited, in every round: PASS**" in text


def test_search_figure_times_the_course_functions(smoke_results):
    text = smoke_results[0]
    timed = [r for r in rows(text, "3. Quantized search") if "embedlab." in r]
    assert [r.split("|")[1].strip() for r in timed] == [
        "float32", "int8", "int8+rescore", "binary", "binary+rescore",
    ]  # fmt: skip
    assert "`embedlab.search(q, docs, qids, dids, k=10)`" in timed[0]
    for row in timed[1:]:
        assert "`embedlab.quantized_search(" in row
    for row in timed:
        assert len(re.findall(MEDIAN, row)) == 2, row  # the call, and the prebuilt index
    assert "nDCG@10" in text and "retention" in text


def test_notebook_figure_labels_the_slowest_cell_and_counts_misses(smoke_results):
    text = smoke_results[0]
    (row,) = rows(text, "4. Notebooks")
    cells = row.split("|")
    # which cell is slowest depends on the machine's load: any of the synthetic notebook's
    # code cells, labelled by its first line of code, with its measured seconds
    labels = {"cell 1: `import numpy as np`", "cell 2: `class Tiny:`", "cell 3: `import time`"}
    labels |= {"cell 4: `total = 1 + 1`"}
    for cell in cells[6:8]:
        label, seconds = re.fullmatch(r" (cell \d+: `[^`]*`) \((\d+\.\d+) s\) ", cell).groups()
        assert label in labels and float(seconds) >= 0, cell
    assert cells[4].strip() == "2 / 0"  # two texts embedded cold, none warm
    assert re.fullmatch(r" \d[\d,]* MiB / \d[\d,]* MiB ", cells[5])
    assert "not measured here" in text  # the CI wall time is never typed in


def test_no_typed_in_figures():
    with pytest.raises(SystemExit):
        bench.parse_args(["--ci-wall-time", "264"])


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


def test_cell_label_names_the_first_line_of_code():
    source = "# NBVAL_IGNORE_OUTPUT\n%%time\n  # load the models\n\nmodel = load()\nx = 1"
    assert cell_label(7, source) == "cell 7: `model = load()`"
    assert cell_label(0, "# only a comment") == "cell 0: `(no code)`"


def test_round_robin_ratio_of_identical_work_is_near_one():
    def work() -> int:
        return sum(range(50_000))

    times = round_robin({"a": work, "b": work}, rounds=25, clock=time.process_time)
    r = ratio(times, "a", "b")
    assert r.n == 25 and len(times["a"]) == 25
    assert 0.5 < r.median < 2.0


def test_summary_statistics():
    s = Summary.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (s.median, s.low, s.high, s.n) == (3.0, 1.0, 100.0, 5)
    assert s.q1 == 2.0 and s.q3 == 4.0
    assert s.fmt().startswith("3 [IQR 2–4; range 1–100; n=5]")
    assert Summary.of([6000.0, 7000.0, 8000.0]).fmt().startswith("7,000 [IQR 6,500–7,500;")
    assert Summary.of([1.01, 1.02, 1.03]).percent().startswith("+2.00% (95% CI +1.0…+3.0) [IQR")
    big = Summary.of(list(range(1, 101)))  # the median's 95% CI from order statistics
    assert (big.ci_low, big.ci_high) == (41.0, 60.0)


def test_the_slowest_cell_is_the_one_with_the_most_seconds():
    cells = [("cell 1: `a`", 0.2), ("cell 3: `b`", 0.5), ("cell 4", 0.1)]
    run = NotebookRun(1.0, 10.0, 0, 0, cells)
    assert run.slowest() == ("cell 3: `b`", 0.5)
    assert run.cell_seconds == pytest.approx(0.8)
    assert NotebookRun(1.0, 10.0, 0, 0).slowest() == ("–", 0.0)
