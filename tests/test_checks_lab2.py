"""Lab 2's checks pass the reference answers (run from answers.json) and the helpers' answers,
and explain typical mistakes. Data: the course test set and the static model (fast)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import embedlab
from embedlab.checks import lab2
from embedlab.checks._core import Lab
from embedlab.lab2 import decision_record, model_table
from embedlab.retrieval import evaluate_run, search

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = json.loads((ROOT / "shared/embedlab/labs/answers.json").read_text())["lab2"]


def reference(step: str, **names):
    """Run the solution's code for ``step`` (as answers.json has it) in ``names``."""
    code = ANSWERS[step]
    if step == "d":  # the body of choose_model
        code = "def choose_model(table, budget_ms):\n" + textwrap.indent(code, "    ")
    exec(code, names)
    return names


@pytest.fixture(scope="module")
def ds():
    return embedlab.load_course_retrieval()


@pytest.fixture(scope="module")
def static_scores(static_model, ds):
    return embedlab.evaluate_model(static_model, ds, cache=False)


# --------------------------------------------------------------------------- a


@pytest.fixture(scope="module")
def hard_query(static_scores, ds):
    """A query with a grade-0 document in the top 10, ranked before the first relevant one."""
    for qid, docs in static_scores.run.items():
        top = list(docs)[:10]
        grades = [ds.qrels[qid].get(d) for d in top]
        if 0 in grades and any(g and g >= 1 for g in grades):
            first = next(i for i, g in enumerate(grades) if g and g >= 1)
            if grades.index(0) < first:
                return qid, top
    pytest.fail("no query with a hard negative above its first relevant document")


def test_a_accepts_reference_trec_eval_and_rounded(hard_query, static_scores, ds):
    qid, top10 = hard_query
    run, qrels = static_scores.run, ds.qrels
    ns = reference("a", QID=qid, top10=top10, qrels=qrels)
    assert lab2.step_a(ns["p_at_10"], ns["r_at_10"], ns["rr"], qid, run, qrels)
    row = static_scores.per_query.loc[qid]  # trec_eval's numbers
    assert lab2.step_a(row["P@10"], row["R@10"], row["MRR@10"], qid, run, qrels)
    assert lab2.step_a(
        *(round(float(x), 3) for x in row[["P@10", "R@10", "MRR@10"]]), qid, run, qrels
    )


def test_a_explains_mistakes(hard_query, static_scores, ds):
    qid, top10 = hard_query
    run, qrels = static_scores.run, ds.qrels
    ns = reference("a", QID=qid, top10=top10, qrels=qrels)
    p, r, rr = ns["p_at_10"], ns["r_at_10"], ns["rr"]
    judged = [d in qrels[qid] for d in top10]

    res = lab2.step_a(None, r, rr, qid, run, qrels)
    assert not res and "p_at_10 is still None" in res.message  # the variable's own name
    res = lab2.step_a(sum(judged) / 10, r, rr, qid, run, qrels)
    assert not res and "grade 0 means judged NOT relevant" in res.message
    res = lab2.step_a(p, p, rr, qid, run, qrels)
    assert not res and "r_at_10" in res.message and "You divided by 10" in res.message
    res = lab2.step_a(p, r, 1 / (judged.index(True) + 1), qid, run, qrels)
    assert not res and "The first judged document has grade 0" in res.message
    res = lab2.step_a(p, r, 1 / (1 / rr + 1), qid, run, qrels)
    assert not res and "Off by one" in res.message
    res = lab2.step_a(p, r, 0.77, qid, run, qrels)  # no typical mistake: the definition
    assert not res and "rr = 1 / the rank of the first relevant document" in res.message
    res = lab2.step_a(p, r, "0.5", qid, run, qrels)
    assert not res and "rr must be one number" in res.message
    assert "checks.lab2.hint('a')" in res.message


# --------------------------------------------------------------------------- b


@pytest.fixture(scope="module")
def paired(static_scores, ds):
    """Per-query nDCG@10 of the static model (a) and of its first 24 dimensions (b)."""
    cut = [embedlab.normalize(x[:, :24]) for x in (static_scores.query_embeddings,
                                                    static_scores.doc_embeddings)]  # fmt: skip
    worse = evaluate_run(search(*cut, ds.query_ids, ds.doc_ids), ds.qrels)
    return static_scores.per_query["nDCG@10"].to_numpy(), worse.per_query["nDCG@10"].to_numpy()


def _interval(d, percentiles=(2.5, 97.5), seed=0):
    idx = np.random.default_rng(seed).integers(0, len(d), (2000, len(d)))
    return np.percentile(d[idx].mean(axis=1), percentiles)


def test_b_accepts_reference_helper_any_seed_and_3_decimals(paired):
    a, b = paired
    ns = reference("b", a=a, b=b, rng=np.random.default_rng(0), np=np)
    assert ns["excludes_zero"]  # a clear difference, so the test below means something
    assert lab2.step_b(ns["ci_low"], ns["ci_high"], ns["excludes_zero"], a, b)
    boot = embedlab.paired_bootstrap(pd.Series(a), pd.Series(b))  # the helper's BCa interval
    assert lab2.step_b(boot["ci_low"], boot["ci_high"], True, a, b)
    for seed in range(1, 30):  # any seed's 2,000 resamples pass
        low, high = _interval(a - b, seed=seed)
        assert lab2.step_b(low, high, True, a, b), seed
    # the old bug: a correctly rounded answer was rejected
    assert lab2.step_b(round(ns["ci_low"], 3), round(ns["ci_high"], 3), np.True_, a, b)


def test_b_interval_containing_zero(paired):
    a, _ = paired
    b = a + np.random.default_rng(1).normal(0, 0.05, len(a))  # noise only
    low, high = _interval(a - b)
    assert low < 0 < high
    assert lab2.step_b(low, high, False, a, b)
    res = lab2.step_b(low, high, True, a, b)
    assert not res and "0 is inside your interval" in res.message


def test_b_explains_mistakes(paired):
    a, b = paired
    d = a - b
    low, high = _interval(d)
    cases = {
        "90% interval": (_interval(d, (5, 95)), "percentiles 5 and 95"),
        "fractions to np.percentile": (_interval(d, (0.025, 0.975)), "takes percents"),
        "percent": ((100 * low, 100 * high), "these are percent"),
        "spread of single queries": (np.percentile(d, [2.5, 97.5]), "MEANS"),
        "sign": ((-high, -low), "sign is flipped"),
    }
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(a), (2, 2000, len(a)))
    indep = np.percentile(a[i].mean(1) - b[j].mean(1), [2.5, 97.5])
    cases["independent resampling"] = (indep, "resampled independently")
    for what, ((lo, hi), words) in cases.items():
        res = lab2.step_b(lo, hi, True, a, b)
        assert not res and words in res.message, what
    res = lab2.step_b(high, low, True, a, b)
    assert not res and "lower bound comes first" in res.message
    res = lab2.step_b(low, high, "yes", a, b)
    assert not res and "True or False" in res.message
    res = lab2.step_b(low, None, True, a, b)
    assert not res and "ci_high is still None" in res.message


def test_b_asks_for_3_decimals(paired):
    a, b = paired
    right = lab2._intervals(a, b)["right"]
    two = [x / 100 for x in range(-100, 100) if 0.0065 < right[0] - x / 100 < 0.0105]
    assert two, "no 2-decimal value in range"
    res = lab2.step_b(two[0], right[1], True, a, b)
    assert not res and "Give 3 decimals" in res.message


# --------------------------------------------------------------------------- c


@pytest.fixture(scope="module")
def sweeps(minilm, static_model, ds):
    texts = ds.doc_texts()[:16]
    return {
        "static": embedlab.batch_sweep(static_model, texts, (1, 4, 16)),
        "minilm": embedlab.batch_sweep(minilm, texts[:8], (1, 4, 8)),
    }


def test_c_accepts_reference_and_helper(sweeps):
    knees = {}
    for name, sweep in sweeps.items():
        reference("c", rate=sweep["texts_per_s"], knees=knees, name=name)
    assert lab2.step_c(knees, sweeps)
    assert lab2.step_c({n: embedlab.knee(s) for n, s in sweeps.items()}, sweeps)
    assert lab2.step_c({n: float(embedlab.knee(s)) for n, s in sweeps.items()}, sweeps)


def test_c_explains_mistakes():
    sweep = pd.DataFrame({"texts_per_s": [40.0, 95.0, 97.0, 100.0]}, index=[1, 8, 16, 32])
    sweep.index.name = "batch_size"
    cases = {
        32: "best throughput; a smaller one already reaches 90%",
        1: "below 90% of the best",
        16: "a smaller batch size does too",
        95.0: "that is a throughput",
        3: "one of the batch sizes measured",
    }
    for got, words in cases.items():
        res = lab2.step_c({"m": got}, {"m": sweep})
        assert not res and words in res.message, got
    res = lab2.step_c({"m": None}, {"m": sweep})
    assert not res and "knees['m'] is still None" in res.message


# --------------------------------------------------------------------------- d


@pytest.fixture(scope="module")
def measured(minilm, static_model, static_scores, ds):
    """A real table: MiniLM scored on 12 queries (and ~50 documents), the static model on all."""
    qids = ds.query_ids[:12]
    keep = {d for q in qids for d in ds.qrels[q]} | set(ds.doc_ids[:20])
    small = embedlab.data.BeirDataset(
        {d: doc for d, doc in ds.corpus.items() if d in keep},
        {q: ds.queries[q] for q in qids},
        {q: ds.qrels[q] for q in qids},
        "small",
    )
    models = {"all-MiniLM-L6-v2": minilm, "static-MiniLM-L6-v2-256d": static_model}
    docs = ds.doc_texts()[:8]
    results = {
        "all-MiniLM-L6-v2": embedlab.evaluate_model(minilm, small, cache=False),
        "static-MiniLM-L6-v2-256d": static_scores,
    }
    latency = {n: embedlab.measure_latency(m, ds.query_texts()[:6]) for n, m in models.items()}
    sweeps = {n: embedlab.batch_sweep(m, docs, (1, 8)) for n, m in models.items()}
    return models, results, latency, sweeps


def _record(measured, choose, budget=1e6):
    models, results, latency, sweeps = measured
    table = model_table(results, latency, sweeps)
    return decision_record(table, choose(table, budget), budget_ms=budget, models=models,
                           dataset=embedlab.load_course_retrieval())  # fmt: skip


def test_d_accepts_reference(measured):
    choose = reference("d")["choose_model"]
    _, _, latency, sweeps = measured
    for budget in (1e6, 1e-9):  # MiniLM chosen; then no model at all
        record = _record(measured, choose, budget)
        assert record.chosen == (None if budget < 1 else "all-MiniLM-L6-v2")
        assert lab2.step_d(choose, record, latency, sweeps)


def _wrong_rules():
    def pick(rows, by=("nDCG@10", "texts_per_s")):
        return rows.sort_values(list(by)).index[-1] if len(rows) else None

    def within(t, b):
        return t[t["p95_ms"] <= b]

    return {
        "row.name": lambda t, b: within(t, b).sort_values("nDCG@10").iloc[-1],
        "still returns None": lambda t, b: None,
        "is over the": lambda t, b: t["nDCG@10"].idxmax(),
        "its p50 fits": lambda t, b: pick(t[t["p50_ms"] <= b]),
        "within it: use <=": lambda t, b: pick(t[t["p95_ms"] < b]),
        "exact nDCG@10 tie": lambda t, b: (
            within(t, b)["nDCG@10"].idxmax() if (t["p95_ms"] <= b).any() else None
        ),
        "raised ValueError": lambda t, b: within(t, b)["nDCG@10"].idxmax(),
        "Speed only breaks ties": lambda t, b: pick(within(t, b), ["texts_per_s"]),
        "it returned None": lambda t, b: None if "twin" in t.index else pick(within(t, b)),
    }


def test_d_tests_the_function_on_small_tables(measured):
    _, _, latency, sweeps = measured
    record = _record(measured, reference("d")["choose_model"])
    for words, rule in _wrong_rules().items():
        res = lab2.step_d(rule, record, latency, sweeps)
        assert not res and words in res.message, words
    res = lab2.step_d(None, record, latency, sweeps)
    assert not res and "must be the function" in res.message


def test_d_series_choice_gets_the_fix_not_a_type_error(measured):
    _, _, latency, sweeps = measured
    series_rule = _wrong_rules()["row.name"]
    record = _record(measured, series_rule)  # building the record does not fail
    res = lab2.step_d(series_rule, record, latency, sweeps)
    assert not res and "pandas Series" in res.message and "row.name" in res.message


def test_d_checks_the_record_against_this_run(measured, minilm, static_model, ds):
    models, results, latency, sweeps = measured
    choose = reference("d")["choose_model"]
    record = _record(measured, choose)
    # the timing cell ran again, the table was not rebuilt
    again = {n: embedlab.measure_latency(m, ds.query_texts()[:6]) for n, m in models.items()}
    res = lab2.step_d(choose, record, again, sweeps)
    assert not res and "Re-run the cell that builds `table`" in res.message
    res = lab2.step_d(choose, _record(measured, lambda t, b: t.index[-1]), latency, sweeps)
    assert not res and "not the rule's" in res.message
    res = lab2.step_d(choose, record.markdown, latency, sweeps)
    assert not res and "decision_record" in res.message


# --------------------------------------------------------------------------- hints, answers, review


@pytest.mark.parametrize("step", ["a", "b", "c", "d"])
def test_hint_and_answer(step, capsys):
    lab2.hint(step)
    assert capsys.readouterr().out.strip() == lab2.HINTS[step]
    lab2.answer(step)
    assert capsys.readouterr().out.strip() == ANSWERS[step].strip()


def test_needs_stops_until_the_check_passes():
    lab = Lab("lab2", lab2.HINTS)
    with pytest.raises(embedlab.checks.ExerciseNotDone, match="finish exercise b first"):
        lab.needs("b")


def test_review_right_and_every_wrong_option(capsys):
    questions = json.loads((ROOT / "shared/embedlab/checks/lab2_review.json").read_text())[
        "questions"
    ]
    assert 4 <= len(questions) <= 6
    lab2.review({i: q["answer"] for i, q in enumerate(questions, start=1)})
    assert f"{len(questions)} of {len(questions)} right" in capsys.readouterr().out
    for i, q in enumerate(questions, start=1):
        assert set(q["why"]) == set(q["options"]) and q["answer"] in q["options"]
        for key in q["options"]:
            if key != q["answer"]:
                lab2.review({i: key})
                out = capsys.readouterr().out
                assert f"{i}. not quite ({key}): {q['why'][key]}" in out
