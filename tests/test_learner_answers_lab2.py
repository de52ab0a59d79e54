"""Lab 2: what learners type in each exercise, and what the check must say.

Each case runs a learner's code in the notebook's state at that exercise, calls the check as
the notebook does, and asserts the verdict, a fragment of the message, that no check raised,
that the safety net was not needed and that no failure message gives the answer away.

The namespace: exercise a uses MiniLM's real run on the course set (``course_minilm``), as
the notebook does. Exercise b's ``diff`` pairs MiniLM with MiniLM cut to 32 dimensions
(re-normalised): a real, small, mostly-zero per-query difference like the notebook's
mpnet - MiniLM, without 40 s of encoding with mpnet (the check is the same for any ``diff``).
Exercises c and d are checked on the lab's made-up sweeps and tables.
"""

from __future__ import annotations

import contextlib
import io
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

import embedlab
from embedlab.labs import lab2
from embedlab.retrieval import evaluate_run, search
from tests.learner_answers import Case, judge, params

QID = "q034"


@pytest.fixture(scope="module")
def ds():
    return embedlab.load_course_retrieval()


@pytest.fixture(scope="module")
def namespace(course_minilm, ds) -> dict:
    """The notebook's names at the exercises (the stubs still None)."""
    run, qrels = course_minilm.run, ds.qrels
    vectors = (course_minilm.query_embeddings, course_minilm.doc_embeddings)
    cut = [embedlab.normalize(x[:, :32]) for x in vectors]
    small = evaluate_run(search(*cut, ds.query_ids, ds.doc_ids), qrels)
    diff = (course_minilm.per_query["nDCG@10"] - small.per_query["nDCG@10"]).to_numpy()
    relevant = {d for d, g in qrels[QID].items() if g >= 1}
    return {
        "np": np,
        "pd": pd,
        "torch": torch,
        "embedlab": embedlab,
        "lab2": lab2,
        "run": run,
        "qrels": qrels,
        "results_minilm": course_minilm,
        "relevant": relevant,
        "hits": [d in relevant for d in list(run[QID])[:10]],
        "p_at_10": None,
        "r_at_10": None,
        "rr": None,
        "diff": diff,
        "idx": np.random.default_rng(0).integers(0, len(diff), size=(2000, len(diff))),
        "ci_low": None,
        "ci_high": None,
        "review_answers": {1: None, 2: None, 3: None},
    }


def _secrets(namespace: dict) -> dict[str, list[str]]:
    """The reference answers as the notebook prints them, and key code."""
    hits, rel = namespace["hits"], namespace["relevant"]
    rr = 1 / (hits.index(True) + 1)
    d, idx = namespace["diff"], namespace["idx"]
    lo, hi = np.percentile(d[idx].mean(axis=1), [2.5, 97.5])
    return {
        "a": [f"{rr:.2f}", f"{sum(hits) / len(rel):.3f}", "hits.index(True)", "/ len(relevant)"],
        "b": [f"{lo:.3f}", f"{hi:.3f}", "diff[idx].mean(axis=1)", "[2.5, 97.5]"],
        "c": ["rate >= 0.9 * rate.max()", "rate.index[rate"],
        "d": ['table["loss_low"] <= margin', 'table["p95_ms"] <= budget_ms'],
        "review": [],
    }


def _review(ns: dict) -> bool:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        lab2.review(ns["review_answers"])
    print(out.getvalue())
    return "3 of 3 right" in out.getvalue()


CALLS = {
    "a": lambda ns: lab2.check_a(
        ns["p_at_10"], ns["r_at_10"], ns["rr"], QID, ns["run"], ns["qrels"]
    ),
    "b": lambda ns: lab2.check_b(ns["ci_low"], ns["ci_high"], ns["diff"], ns["idx"]),
    "c": lambda ns: lab2.check_c(ns.get("knee")),
    "d": lambda ns: lab2.check_d(ns.get("choose_model")),
    "review": _review,
}

# --------------------------------------------------------------------------- a

REF_A = """
p_at_10, r_at_10 = sum(hits) / 10, sum(hits) / len(relevant)
rr = 1 / (hits.index(True) + 1) if any(hits) else 0.0
"""
R_OK = "r_at_10 = sum(hits) / len(relevant)\n"
RR_OK = "rr = 1 / (hits.index(True) + 1)\n"
P_OK = "p_at_10 = sum(hits) / 10\n"
JUDGED = "judged = [d in qrels['q034'] for d in list(run['q034'])[:10]]\n"

A = [
    Case("reference", "a", REF_A, True, "are right"),
    Case(
        "trec-eval-values",
        "a",
        "row = results_minilm.per_query.loc['q034']\n"
        "p_at_10, r_at_10, rr = row['P@10'], row['R@10'], row['MRR@10']",
        True,
    ),
    Case(
        "rounded-3-decimals",
        "a",
        "p_at_10 = round(sum(hits) / 10, 3)\nr_at_10 = round(sum(hits) / len(relevant), 3)\n"
        "rr = round(1 / (hits.index(True) + 1), 3)",
        True,
    ),
    Case(
        "numpy-mean-and-argmax",
        "a",
        "p_at_10 = np.mean(hits)\nr_at_10 = np.sum(hits) / len(relevant)\n"
        "rr = 1 / (np.argmax(hits) + 1)",
        True,
    ),
    Case(
        "torch-0d-tensors",
        "a",
        "p_at_10 = torch.tensor(sum(hits) / 10)\n"
        "r_at_10 = torch.tensor(sum(hits) / len(relevant))\n"
        "rr = torch.tensor(1 / (hits.index(True) + 1))",
        True,
    ),
    Case(
        "numpy-0d-arrays",
        "a",
        "p_at_10, r_at_10 = np.array(sum(hits) / 10), np.array(sum(hits) / len(relevant))\n"
        + RR_OK,
        True,
    ),
    Case(
        "loop-over-ranks",
        "a",
        "rr = 0.0\nfor rank, hit in enumerate(hits, start=1):\n    if hit:\n        rr = 1 / rank\n"
        "        break\n" + P_OK + R_OK,
        True,
    ),
    Case(
        "grade-0-counted",
        "a",
        JUDGED + "p_at_10 = sum(judged) / 10\n" + R_OK + RR_OK,
        False,
        "grade 0 means judged NOT relevant",
    ),
    Case(
        "precision-is-recall",
        "a",
        "p_at_10 = sum(hits) / len(relevant)\n" + R_OK + RR_OK,
        False,
        "that is recall",
    ),
    Case(
        "precision-is-a-count", "a", "p_at_10 = sum(hits)\n" + R_OK + RR_OK, False, "number of hits"
    ),
    Case(
        "precision-in-percent",
        "a",
        "p_at_10 = 100 * sum(hits) / 10\n" + R_OK + RR_OK,
        False,
        "percentage",
    ),
    Case(
        "recall-over-10",
        "a",
        P_OK + "r_at_10 = sum(hits) / 10\n" + RR_OK,
        False,
        "recall divides by the number of relevant",
    ),
    Case(
        "recall-over-judged",
        "a",
        P_OK + "r_at_10 = sum(hits) / len(qrels['q034'])\n" + RR_OK,
        False,
        "every judged document",
    ),
    Case(
        "rr-is-the-rank", "a", P_OK + R_OK + "rr = hits.index(True) + 1", False, "the rank itself"
    ),
    Case(
        "rr-off-by-one",
        "a",
        P_OK + R_OK + "rr = 1 / (hits.index(True) + 2)",
        False,
        "the first document has rank 1",
    ),
    Case("rr-zero-based", "a", P_OK + R_OK + "rr = 1 / hits.index(True)", False, "0-based"),
    Case(
        "rr-first-judged",
        "a",
        P_OK + R_OK + JUDGED + "rr = 1 / (judged.index(True) + 1)",
        False,
        "first judged document has grade 0",
    ),
    Case(
        "rr-negative",
        "a",
        P_OK + R_OK + "rr = -1 / (hits.index(True) + 1)",
        False,
        "between 0 and 1",
    ),
    Case("string", "a", "p_at_10 = '0.2'\n" + R_OK + RR_OK, False, "is a string"),
    Case("list-of-hits", "a", "p_at_10 = hits\n" + R_OK + RR_OK, False, "one number"),
    Case("dict", "a", "p_at_10 = {'q034': sum(hits) / 10}\n" + R_OK + RR_OK, False, "dict"),
    Case("rr-still-none", "a", P_OK + R_OK, False, "rr is still None"),
    Case("uncalled-function", "a", "p_at_10 = np.mean\n" + R_OK + RR_OK, False, "not its result"),
    Case("boolean", "a", P_OK + R_OK + "rr = any(hits)", False, "yes/no"),
    Case("nan", "a", P_OK + R_OK + "rr = float('nan')", False, "not a finite"),
]

# --------------------------------------------------------------------------- b

MEANS = "means = diff[idx].mean(axis=1)\n"
B = [
    Case(
        "reference",
        "b",
        "ci_low, ci_high = np.percentile(diff[idx].mean(axis=1), [2.5, 97.5])",
        True,
        "interval is right",
    ),
    Case(
        "quantile-fractions",
        "b",
        MEANS + "ci_low, ci_high = np.quantile(means, [0.025, 0.975])",
        True,
    ),
    Case(
        "other-sign-convention",
        "b",
        "ci_low, ci_high = np.percentile((-diff)[idx].mean(axis=1), [2.5, 97.5])",
        True,
        "other way round",
    ),
    Case(
        "rounded-3-decimals",
        "b",
        MEANS + "ci_low, ci_high = (round(float(x), 3) for x in np.percentile(means, [2.5, 97.5]))",
        True,
    ),
    Case(
        "other-resamples",
        "b",
        "draws = np.random.default_rng(7).integers(0, len(diff), (5000, len(diff)))\n"
        "ci_low, ci_high = np.percentile(diff[draws].mean(axis=1), [2.5, 97.5])",
        True,
        "other resamples",
    ),
    Case(
        "helper-bca",
        "b",
        "boot = embedlab.paired_bootstrap(pd.Series(diff), pd.Series(np.zeros(len(diff))))\n"
        "ci_low, ci_high = boot['ci_low'], boot['ci_high']",
        True,
    ),
    Case(
        "torch-values",
        "b",
        MEANS + "lo, hi = np.percentile(means, [2.5, 97.5])\n"
        "ci_low, ci_high = torch.tensor(lo), torch.tensor(hi)",
        True,
    ),
    Case(
        "90-percent",
        "b",
        MEANS + "ci_low, ci_high = np.percentile(means, [5, 95])",
        False,
        "90% interval",
    ),
    Case(
        "99-percent",
        "b",
        MEANS + "ci_low, ci_high = np.percentile(means, [0.5, 99.5])",
        False,
        "99% interval",
    ),
    Case(
        "fractions-to-percentile",
        "b",
        MEANS + "ci_low, ci_high = np.percentile(means, [0.025, 0.975])",
        False,
        "takes percents",
    ),
    Case(
        "percent",
        "b",
        MEANS + "ci_low, ci_high = 100 * np.percentile(means, [2.5, 97.5])",
        False,
        "these are percent",
    ),
    Case(
        "single-query-spread",
        "b",
        "ci_low, ci_high = np.percentile(diff, [2.5, 97.5])",
        False,
        "single queries",
    ),
    Case(
        "mean-over-wrong-axis",
        "b",
        "ci_low, ci_high = np.percentile(diff[idx].mean(axis=0), [2.5, 97.5])",
        False,
        "axis=1",
    ),
    Case(
        "sums",
        "b",
        "ci_low, ci_high = np.percentile(diff[idx].sum(axis=1), [2.5, 97.5])",
        False,
        "SUMS",
    ),
    Case(
        "both-bounds-in-one-name",
        "b",
        MEANS + "ci_low = np.percentile(means, [2.5, 97.5])\nci_high = ci_low",
        False,
        "holds two numbers",
    ),
    Case(
        "bounds-swapped",
        "b",
        MEANS + "ci_low, ci_high = np.percentile(means, [97.5, 2.5])",
        False,
        "lower bound comes first",
    ),
    Case("string", "b", "ci_low, ci_high = '0.01', '0.05'", False, "is a string"),
    Case("still-none", "b", "ci_low = 0.01", False, "ci_high is still None"),
    Case(
        "uncalled-function",
        "b",
        "ci_low, ci_high = np.percentile, np.percentile",
        False,
        "not its result",
    ),
    Case(
        "dict", "b", MEANS + "ci_low = {'low': means.min()}\nci_high = means.max()", False, "dict"
    ),
    Case("made-up", "b", "ci_low, ci_high = 0.2, 0.4", False, "not the 95% interval"),
    Case(
        "idx-overwritten",
        "b",
        "idx = [1, 2, 3]\nci_low, ci_high = 0.0, 0.1",
        False,
        "run the exercise cell again",
    ),
]


def test_the_median_bootstrap_is_told_about_medians_not_percents(namespace):
    """The median resampled and the percentile given fractions can both land near 0: the
    median bootstrap must hear about medians (a reviewer's finding)."""
    code = "ci_low, ci_high = np.percentile(np.median(diff[idx], axis=1), [2.5, 97.5])"
    message = judge(Case("median", "b", code, False, "MEDIANS"), namespace, CALLS["b"])
    assert "takes percents" not in message


# --------------------------------------------------------------------------- c


def knee_case(id_: str, body: str, passed: bool, says: str = "") -> Case:
    return Case(id_, "c", "def knee(rate):\n" + textwrap.indent(body, "    "), passed, says)


C = [
    knee_case(
        "reference",
        "return int(rate.index[rate >= 0.9 * rate.max()][0])",
        True,
        "right on every test sweep",
    ),
    knee_case("boolean-idxmax", "return (rate >= 0.9 * rate.max()).idxmax()", True),
    knee_case("index-min", "return rate[rate >= 0.9 * rate.max()].index.min()", True),
    knee_case("one-element-index", "return rate.index[rate >= 0.9 * rate.max()][:1]", True),
    knee_case(
        "one-element-series", "return pd.Series(rate.index[rate >= 0.9 * rate.max()]).head(1)", True
    ),
    knee_case("float", "return float(rate.index[rate >= 0.9 * rate.max()][0])", True),
    knee_case(
        "loop",
        "for size, texts in rate.items():\n    if texts >= 0.9 * rate.max():\n        return size",
        True,
    ),
    knee_case("best-batch-size", "return rate.idxmax()", False, "best throughput"),
    knee_case(
        "strictly-above-90", "return rate.index[rate > 0.9 * rate.max()][0]", False, "exactly 90%"
    ),
    knee_case("position", "return int(np.argmax(rate >= 0.9 * rate.max()))", False, "position"),
    knee_case("throughput", "return rate[rate >= 0.9 * rate.max()].iloc[0]", False, "throughput"),
    knee_case(
        "all-candidates", "return list(rate.index[rate >= 0.9 * rate.max()])", False, "values"
    ),
    knee_case(
        "largest-candidate",
        "return rate.index[rate >= 0.9 * rate.max()][-1]",
        False,
        "a smaller batch size does too",
    ),
    knee_case("half-of-best", "return rate.index[rate >= 0.5 * rate.max()][0]", False, "below 90%"),
    knee_case("print", "print(rate.index[rate >= 0.9 * rate.max()][0])", False, "not print"),
    knee_case("stub", "return None", False, "still returns None"),
    knee_case("string", "return str(rate.index[rate >= 0.9 * rate.max()][0])", False, "a string"),
    knee_case("dict", "return {'knee': 8}", False, "a dict"),
    knee_case("sweep-column", "return rate['texts_per_s'].idxmax()", False, "already the Series"),
    knee_case("raises", "return rate.max().index", False, "raised AttributeError"),
    Case("result-not-function", "c", "knee = 8", False, "your function knee itself"),
    Case("none-not-function", "c", "knee = None", False, "got None"),
]


# --------------------------------------------------------------------------- d

RETURN = '    return ok["nDCG@10"].idxmax() if len(ok) else None\n'


def rule_case(id_: str, ok: str, passed: bool, says: str = "") -> Case:
    code = f"def choose_model(table, budget_ms, margin):\n    {ok}\n{RETURN}"
    return Case(id_, "d", code, passed, says)


def fn_case(id_: str, body: str, passed: bool, says: str = "") -> Case:
    code = "def choose_model(table, budget_ms, margin):\n" + textwrap.indent(body, "    ")
    return Case(id_, "d", code, passed, says)


D = [
    rule_case(
        "reference",
        'ok = table[(table["loss_low"] <= margin) & (table["p95_ms"] <= budget_ms)]',
        True,
        "every test table",
    ),
    rule_case(
        "query-string", 'ok = table.query("loss_low <= @margin and p95_ms <= @budget_ms")', True
    ),
    fn_case(
        "two-filters",
        'ok = table[table["loss_low"] <= margin]\n'
        'ok = ok[ok["p95_ms"] <= budget_ms]\n' + RETURN.strip(),
        True,
    ),
    fn_case(
        "sort-and-take-last",
        "ok = table[(table.loss_low <= margin) & (table.p95_ms <= budget_ms)]\n"
        'return ok.sort_values("nDCG@10").index[-1] if len(ok) else None',
        True,
    ),
    rule_case(
        "ignores-budget",
        'ok = table[table["loss_low"] <= margin]',
        False,
        "ignores the latency budget",
    ),
    rule_case(
        "ignores-quality",
        'ok = table[table["p95_ms"] <= budget_ms]',
        False,
        "ignores the quality rule",
    ),
    rule_case(
        "p50",
        'ok = table[(table["loss_low"] <= margin) & (table["p50_ms"] <= budget_ms)]',
        False,
        "not the median (p50_ms)",
    ),
    rule_case(
        "strict-budget",
        'ok = table[(table["loss_low"] <= margin) & (table["p95_ms"] < budget_ms)]',
        False,
        "equals budget_ms",
    ),
    rule_case(
        "mean-loss",
        'ok = table[(table["loss"] <= margin) & (table["p95_ms"] <= budget_ms)]',
        False,
        "mean loss",
    ),
    rule_case(
        "whole-interval-below",
        'ok = table[(table["loss_high"] <= margin) & (table["p95_ms"] <= budget_ms)]',
        False,
        "loss_high",
    ),
    rule_case(
        "strict-margin",
        'ok = table[(table["loss_low"] < margin) & (table["p95_ms"] <= budget_ms)]',
        False,
        "equals the margin",
    ),
    rule_case(
        "mask-not-rows",
        'ok = (table["loss_low"] <= margin) & (table["p95_ms"] <= budget_ms)',
        False,
        "index table",
    ),
    rule_case("wrong-column", 'ok = table[table["p95"] <= budget_ms]', False, "KeyError"),
    rule_case("stub", "ok = None", False, "replace the TODO"),
    fn_case(
        "fastest",
        'ok = table[(table["loss_low"] <= margin) & (table["p95_ms"] <= budget_ms)]\n'
        'return ok["texts_per_s"].idxmax() if len(ok) else None',
        False,
        "speed only decides",
    ),
    fn_case(
        "print",
        'ok = table[(table["loss_low"] <= margin) & (table["p95_ms"] <= budget_ms)]\n'
        'print(ok["nDCG@10"].idxmax() if len(ok) else None)',
        False,
        "not print",
    ),
    fn_case(
        "whole-row",
        'ok = table[(table["loss_low"] <= margin) & (table["p95_ms"] <= budget_ms)]\n'
        'return ok.loc[ok["nDCG@10"].idxmax()] if len(ok) else None',
        False,
        "whole row",
    ),
    fn_case(
        "position",
        'ok = table[(table["loss_low"] <= margin) & (table["p95_ms"] <= budget_ms)]\n'
        'return int(np.argmax(ok["nDCG@10"])) if len(ok) else None',
        False,
        "a number",
    ),
    fn_case(
        "list-of-names",
        'ok = table[(table["loss_low"] <= margin) & (table["p95_ms"] <= budget_ms)]\n'
        "return list(ok.index)",
        False,
        "a list",
    ),
    fn_case(
        "uncalled-method",
        'ok = table[(table["loss_low"] <= margin) & (table["p95_ms"] <= budget_ms)]\n'
        'return ok["nDCG@10"].idxmax if len(ok) else None',
        False,
        "parentheses",
    ),
    fn_case(
        "no-empty-case",
        'ok = table[(table["loss_low"] <= margin) & (table["p95_ms"] <= budget_ms)]\n'
        'return ok["nDCG@10"].idxmax()',
        False,
        "return None",
    ),
    Case(
        "two-parameters",
        "d",
        "def choose_model(table, budget_ms):\n    return None",
        False,
        "three arguments",
    ),
    Case(
        "a-name-not-a-function",
        "d",
        "choose_model = 'all-MiniLM-L6-v2'",
        False,
        "your function choose_model itself",
    ),
    Case(
        "dict-not-a-function",
        "d",
        "choose_model = {'chosen': 'all-MiniLM-L6-v2'}",
        False,
        "your function choose_model itself",
    ),
]

# --------------------------------------------------------------------------- review

REVIEW = [
    Case("reference", "review", 'review_answers = {1: "b", 2: "a", 3: "c"}', True, "3 of 3 right"),
    Case("upper-case", "review", 'review_answers = {1: "B", 2: "A", 3: "C"}', True),
    Case("parentheses", "review", 'review_answers = {1: "(b)", 2: "a)", 3: "c."}', True),
    Case("list-in-order", "review", 'review_answers = ["b", "a", "c"]', True),
    Case("string-keys", "review", 'review_answers = {"1": "b", "2": "a", "3": "c"}', True),
    Case("one-string", "review", 'review_answers = "b, a, c"', True),
    Case(
        "one-wrong", "review", 'review_answers = {1: "b", 2: "b", 3: "c"}', False, "not quite (b)"
    ),
    Case(
        "not-an-option",
        "review",
        'review_answers = {1: "d", 2: "a", 3: "c"}',
        False,
        "not one of the options",
    ),
    Case("still-none", "review", "", False, "Answer the 3 questions first"),
]

CASES = A + B + C + D + REVIEW


@pytest.mark.parametrize("case", params("lab2", CASES))
def test_learner_answer(case: Case, namespace: dict) -> None:
    judge(case, namespace, CALLS[case.step], _secrets(namespace)[case.step])


def test_the_catalogue_covers_every_exercise():
    assert len(CASES) >= 50
    for step in ("a", "b", "c", "d", "review"):
        cases = [c for c in CASES if c.step == step]
        assert any(c.passed for c in cases) and any(not c.passed for c in cases), step
