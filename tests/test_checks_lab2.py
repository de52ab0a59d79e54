"""Lab 2's checks: the reference answers (as answers.json has them) pass on real data, the
made-up sweeps and tables can tell every typical mistake apart, hints and answers print,
needs() stops a cell until its check passes, and every review option is explained.
The learner-answer catalogue (tests/test_learner_answers_lab2.py) covers what learners type."""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import embedlab
from embedlab.labs import lab2
from embedlab.labs.base import ExerciseNotDone, Lab

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = json.loads((ROOT / "shared/embedlab/labs/answers.json").read_text())["lab2"]


def reference(step: str, **names) -> dict:
    """Run the solution's code for ``step`` (as answers.json has it) in ``names``."""
    code = "\n".join(ln for ln in ANSWERS[step].splitlines() if not ln.startswith("# replaces"))
    if step == "c":
        code = "def knee(rate):\n" + textwrap.indent(code, "    ")
    if step == "d":  # the learner writes ok; the notebook gives the return line
        body = code + '\nreturn ok["nDCG@10"].idxmax() if len(ok) else None'
        code = "def choose_model(table, budget_ms, margin):\n" + textwrap.indent(body, "    ")
    exec(code, names)
    return names


def test_the_reference_answers_pass_on_every_judged_query(course_minilm):
    """Exercise a's code and trec_eval agree with the check on every query with a hit."""
    ds = embedlab.load_course_retrieval()
    run, qrels, checked = course_minilm.run, ds.qrels, 0
    for qid in ds.relevant():
        relevant = {d for d, g in qrels[qid].items() if g >= 1}
        hits = [d in relevant for d in list(run[qid])[:10]]
        if not any(hits):
            continue
        ns = reference("a", hits=hits, relevant=relevant)
        assert lab2.check_a(ns["p_at_10"], ns["r_at_10"], ns["rr"], qid, run, qrels), qid
        row = course_minilm.per_query.loc[qid]
        assert lab2.check_a(row["P@10"], row["R@10"], row["MRR@10"], qid, run, qrels), qid
        checked += 1
    assert checked > 80


def test_a_query_without_a_hit_has_rr_zero(course_minilm):
    ds = embedlab.load_course_retrieval()
    run, qrels = course_minilm.run, ds.qrels
    missed = [
        q for q in ds.relevant() if not any(qrels[q].get(d, 0) >= 1 for d in list(run[q])[:10])
    ]
    if not missed:
        pytest.skip("MiniLM finds a relevant document for every query")  # data, not machine
    assert lab2.check_a(0.0, 0.0, 0.0, missed[0], run, qrels)


@pytest.fixture(scope="module")
def diff(course_minilm) -> np.ndarray:
    """MiniLM minus MiniLM cut to 32 dimensions, per query (a real, small difference)."""
    ds = embedlab.load_course_retrieval()
    vectors = (course_minilm.query_embeddings, course_minilm.doc_embeddings)
    cut = [embedlab.normalize(x[:, :32]) for x in vectors]
    small = embedlab.evaluate_run(embedlab.search(*cut, ds.query_ids, ds.doc_ids), ds.qrels)
    return (course_minilm.per_query["nDCG@10"] - small.per_query["nDCG@10"]).to_numpy()


def test_b_passes_the_reference_any_draws_and_the_helper(diff):
    idx = np.random.default_rng(0).integers(0, len(diff), size=(2000, len(diff)))
    ns = reference("b", diff=diff, idx=idx, np=np)
    assert lab2.check_b(ns["ci_low"], ns["ci_high"], diff, idx)
    for seed in range(1, 21):  # another learner's 2,000 draws pass too
        own = np.random.default_rng(seed).integers(0, len(diff), size=(2000, len(diff)))
        low, high = np.percentile(diff[own].mean(axis=1), [2.5, 97.5])
        assert lab2.check_b(low, high, diff, idx), seed
    boot = embedlab.paired_bootstrap(pd.Series(diff), pd.Series(np.zeros(len(diff))))
    assert lab2.check_b(boot["ci_low"], boot["ci_high"], diff, idx)
    result = lab2.check_b(-ns["ci_high"], -ns["ci_low"], diff, idx)
    assert result and "other way round" in result.message
    assert not lab2.check_b(ns["ci_low"] + 0.02, ns["ci_high"] + 0.02, diff, idx)


def test_c_sweeps_tell_the_knee_from_the_best_batch_size():
    sweeps = [pd.Series(s, dtype=float) for s in lab2._SWEEPS]
    knees = [lab2._knee(s) for s in sweeps]
    assert sum(k != s.idxmax() for k, s in zip(knees, sweeps, strict=True)) >= 3
    assert any(s[k] == 0.9 * s.max() for k, s in zip(knees, sweeps, strict=True))  # exactly 90%
    for s, k in zip(sweeps, knees, strict=True):
        assert not set(s.to_numpy()) & set(s.index)  # a throughput never looks like a size
        assert s.index.get_loc(k) not in s.index  # nor a position like a size
    assert lab2.check_c(reference("c")["knee"])


def test_d_tables_tell_every_wrong_rule_apart():
    tables = [(lab2._test_table(n), b) for n, b, _ in lab2._TABLES]
    right = [lab2._rule(t, b, lab2.MARGIN_D) for t, b in tables]
    assert None in right and len({r for r in right if r}) >= 3
    prints = {"right": right}
    for name, (rule, _) in lab2._WRONG_RULES.items():
        prints[name] = [rule(t, b, lab2.MARGIN_D) for t, b in tables]
    as_tuples = [tuple(v) for v in prints.values()]
    assert len(set(as_tuples)) == len(as_tuples), prints  # every message can be reached
    assert all(any(v) for v in prints.values())  # none looks like a stub returning None
    assert lab2.check_d(reference("d")["choose_model"])


@pytest.mark.parametrize("step", ["a", "b", "c", "d"])
def test_hint_and_answer(step, capsys):
    lab2.hint(step)
    assert capsys.readouterr().out.strip() == lab2.HINTS[step]
    lab2.answer(step)
    assert capsys.readouterr().out.strip() == ANSWERS[step].strip()


def test_needs_stops_until_the_check_passes():
    lab = Lab("lab2", lab2.HINTS, lab2.QUESTIONS)
    with pytest.raises(ExerciseNotDone, match="finish exercise b first"):
        lab.needs("b")


def test_a_failure_says_where_to_get_help():
    result = lab2.check_d(None)
    assert not result and "lab2.hint('d')" in result.message


def test_review_right_and_every_wrong_option():
    questions = lab2.QUESTIONS
    assert 3 <= len(questions) <= 5
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        lab2.review({i: q.answer for i, q in enumerate(questions, start=1)})
    assert f"{len(questions)} of {len(questions)} right" in out.getvalue()
    for i, q in enumerate(questions, start=1):
        assert set(q.why) == set(q.options) and q.answer in q.options
        for key in q.options:
            if key != q.answer:
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    lab2.review({i: key})
                assert f"{i}. not quite ({key}): {q.why[key]}" in out.getvalue()


def test_the_module_documents_every_public_name():
    for name in lab2.__all__:
        value = getattr(lab2, name)
        if callable(value) and not isinstance(value, type(lab2.LAB)):
            assert (value.__doc__ or "").strip(), name
