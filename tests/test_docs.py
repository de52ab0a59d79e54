"""The README and the instructor guide say what is true: the snippet's output is the real one,
every command it names is a Makefile target, every lab (found, not listed) has its README row
and guide section, each plan adds up to the lab's stated time, and every cell the guide points
at exists and shows what the guide says it shows (read from the stored solution outputs)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest

from tools import course

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
GUIDE = (ROOT / "docs" / "instructor_guide.md").read_text(encoding="utf-8")
LABS = {lab.name: lab for lab in course.labs(ROOT)}
CELL_MENTION = re.compile(r"cell `([a-z0-9-]+)`")


def section(lab: course.LabInfo, guide: str = GUIDE) -> str:
    """The guide's section of a lab: from its heading to the next ``## ``."""
    parts = guide.split(f"\n## {lab.title} (")
    assert len(parts) == 2, f"the guide needs one section headed '## {lab.title} (...)'"
    return parts[1].split("\n## ")[0]


def cell_text(cell) -> str:
    """What a stored code cell shows as text: streams, plain text, markdown."""
    out = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            out.append(o.text)
        for kind in ("text/plain", "text/markdown"):
            if kind in o.get("data", {}):
                out.append(o.data[kind])
    return "\n".join(out)


def where_to_point(text: str) -> list[tuple[str, str, list[str]]]:
    """The rows of a section's "Where to point" table: (cell id, what it shows, fragments)."""
    table = text.split("**Where to point**", 1)[1].split("\n\n**", 1)[0]
    rows = []
    for line in table.splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) == 3 and cols[0].startswith("`"):
            rows.append((cols[0].strip("`"), cols[1], re.findall(r"`([^`]+)`", cols[2])))
    return rows


def check_claims(lab: course.LabInfo, text: str) -> list[str]:
    """Every problem with the cells a guide section names, against the stored solution."""
    nb = nbformat.read(lab.solution, as_version=4)
    cells = {c.get("id"): c for c in nb.cells}
    problems = []
    rows = where_to_point(text)
    if not rows:
        problems.append(f"{lab.name}: the section has no 'Where to point' table")
    for cid, shows, fragments in rows:
        cell = cells.get(cid)
        if cell is None:
            problems.append(f"{lab.name}: cell `{cid}` ({shows}) is not in {lab.solution.name}")
            continue
        if not fragments:
            problems.append(f"{lab.name}: cell `{cid}`: say what to look for")
        for fragment in fragments:
            if fragment == "figure":
                ok = any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
            elif fragment == "markdown":
                ok = cell.cell_type == "markdown"
            else:
                ok = fragment in cell_text(cell)
            if not ok:
                problems.append(f"{lab.name}: cell `{cid}` ({shows}) does not show {fragment!r}")
    for cid in CELL_MENTION.findall(text):
        if cid not in cells:
            problems.append(f"{lab.name}: the guide names cell `{cid}`, which does not exist")
        elif cid not in {r[0] for r in rows}:
            problems.append(f"{lab.name}: cell `{cid}` is named but not in 'Where to point'")
    return problems


def test_the_readme_snippet_prints_what_the_readme_shows():
    code, shown = re.search(
        r"## One snippet\s+```python\n(.*?)```\s*```\n(.*?)```", README, re.S
    ).groups()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README snippet", "exec"), {})
    assert out.getvalue() == shown


def test_every_make_command_in_the_readme_is_a_documented_target():
    targets = set(re.findall(r"^([a-z-]+):.*## ", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([a-z-]+)", README)) | set(
        re.findall(r"^make ([a-z-]+)", README, re.M)
    )
    assert {"lab", "test", "warm", "demo", "setup"} <= named
    assert named <= targets, f"the README names make targets that do not exist: {named - targets}"


@pytest.mark.parametrize("name", LABS)
def test_the_readme_links_the_guide_and_every_lab_with_its_badges(name):
    lab = LABS[name]
    assert "docs/instructor_guide.md" in README
    assert f"labs/{lab.lab.name}" in README
    assert f"urlpath=lab/tree/labs/{lab.lab.name}" in README
    row = next(ln for ln in README.splitlines() if ln.startswith(f"| [{lab.title}]("))
    assert f"| {lab.minutes} min |" in row, f"the README states another time for {name}: {row}"


@pytest.mark.parametrize("name", LABS)
def test_each_plan_adds_up_to_the_time_the_lab_states(name):
    lab = LABS[name]
    text = section(lab)
    plan = text.split("**Plan**")[1].split("\n\n**", 1)[0]
    minutes = [int(m) for m in re.findall(r"^\|\s*(\d+)\s*\|", plan, re.M)]
    total = int(re.search(r"^\|\s*\*\*(\d+)\*\*\s*\|", plan, re.M)[1])
    assert sum(minutes) == total == lab.minutes, f"{name}: plan {minutes}, stated {lab.minutes}"
    for part in (
        "**Objectives.**",
        "**Where to point**",
        "**Talking points**",
        "**Mistakes the checks catch",
        "**Discussion questions, with answers**",
        "**If the class runs late**",
    ):
        assert part in text, f"{name}: the guide lacks {part}"
    block = text.split("**Discussion questions, with answers**")[1].split("\n\n**", 1)[0]
    questions = re.split(r"^\d\. ", block, flags=re.M)[1:]
    assert 3 <= len(questions) <= 6, f"{name}: 3 to 6 discussion questions"
    assert all("*Answer:*" in q for q in questions), f"{name}: every question has its answer"


@pytest.mark.parametrize("name", LABS)
def test_every_cell_the_guide_names_shows_what_the_guide_says(name):
    assert check_claims(LABS[name], section(LABS[name])) == []


def test_a_broken_claim_fails():
    """The claim check itself: a missing cell, a missing fragment, an unlisted mention."""
    lab = LABS[next(iter(LABS))]
    text = section(lab)
    cid, shows, fragments = where_to_point(text)[0]
    broken = text.replace(f"| `{cid}` |", "| `no-such-cell` |", 1)
    assert any("`no-such-cell`" in p for p in check_claims(lab, broken))
    row = next(ln for ln in text.splitlines() if ln.startswith(f"| `{cid}` |"))
    wrong = text.replace(row, row.rsplit("|", 2)[0] + "| `a fragment no output holds` |")
    assert any("a fragment no output holds" in p for p in check_claims(lab, wrong))
    assert any("does not exist" in p for p in check_claims(lab, text + "\ncell `ghost-cell`"))
