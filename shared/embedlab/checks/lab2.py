"""Checks for Lab 2 "Embedding Model Selection": any correct answer passes, a wrong one is
explained. A passed check's message holds no timing, so the notebook's output is stable."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from embedlab.checks._core import CheckResult, Lab

HINTS = {
    "a": "Relevant means grade >= 1 (grade 0 is judged NOT relevant). Mark each document of "
    "top10 as a hit or a miss: P@10 divides the hits by 10, R@10 by the number of relevant "
    "documents; rr is 1 / the rank of the first hit (ranks start at 1; 0.0 without a hit).",
    "b": "rng.integers can draw a (2000, len(a)) array of query positions: use the same "
    "positions for both models. The mean of (a - b) along each row gives 2,000 mean "
    "differences; their 2.5th and 97.5th percentiles are the bounds. The interval excludes 0 "
    "if both bounds have the same sign.",
    "c": "rate holds texts per second by batch size. Keep the batch sizes whose rate is at "
    "least 0.9 * rate.max(); the knee is the first (smallest) of them, as an int.",
    "d": "Keep the rows with p95_ms <= budget_ms; return None if none is left; else sort them "
    "by nDCG@10, then texts_per_s, and return the last row's index label (a string, not the "
    "row).",
}
_lab = Lab("lab2", HINTS)
hint, answer, review, needs = _lab.hint, _lab.answer, _lab.review, _lab.needs


def _number(value: Any) -> float | None:
    """``value`` as a float, or ``None`` if it is not one finite real number."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _numbers(step: str, **values: Any) -> CheckResult | dict[str, float]:
    """The values as floats, or the failure that explains the first one that is not."""
    out = {}
    for name, value in values.items():
        if value is None:
            return _lab.not_done(step, name)
        if (x := _number(value)) is None:
            return _lab.failed(step, f"{name} must be one number, got {value!r:.60}.")
        out[name] = x
    return out


# --------------------------------------------------------------------------- a


_DEF = {
    "p_at_10": "P@10 = the relevant documents (grade >= 1) in the top 10, divided by 10.",
    "r_at_10": "R@10 = the relevant documents in the top 10, divided by all relevant ones.",
    "rr": "rr = 1 / the rank of the first relevant document (0.0 if none is in the top 10).",
}


def step_a(p_at_10: Any, r_at_10: Any, rr: Any, query_id: str, run: dict, qrels: dict):
    """P@10, R@10 and the reciprocal rank of one query, computed by hand (3 decimals suffice)."""
    got = _numbers("a", p_at_10=p_at_10, r_at_10=r_at_10, rr=rr)
    if isinstance(got, CheckResult):
        return got
    docs = run[query_id]
    top = sorted(docs, key=lambda d: (docs[d], d), reverse=True)[:10]  # trec_eval's order
    grades = qrels[query_id]
    relevant = {d for d, g in grades.items() if g >= 1}
    hits = [d in relevant for d in top]
    judged = [d in grades for d in top]
    ranks = [i for i, h in enumerate(hits, start=1) if h]
    want = {"p_at_10": sum(hits) / 10, "r_at_10": sum(hits) / len(relevant)}
    want["rr"] = 1 / ranks[0] if ranks else 0.0
    mistakes = {
        "p_at_10": {
            sum(judged) / 10: "You counted the grade-0 document: grade 0 means judged NOT "
            "relevant (a hard negative). Count grades >= 1 only.",
            want["r_at_10"]: "That is recall: precision divides by 10, the documents retrieved.",
            sum(hits): "That is the number of hits: divide by 10.",
        },
        "r_at_10": {
            want["p_at_10"]: "You divided by 10: recall divides by the number of relevant "
            "documents.",
            sum(hits) / len(grades): "You divided by every judged document; grade-0 ones are "
            "not relevant.",
        },
        "rr": {
            float(ranks[0]) if ranks else -1: "That is the rank itself: take 1 / rank.",
            1 / (ranks[0] + 1) if ranks else -1: "Off by one: the first document has rank 1.",
            1 / (ranks[0] - 1) if ranks and ranks[0] > 1 else -1: "Off by one: a 0-based "
            "index i is rank i + 1.",
            1 / (judged.index(True) + 1) if any(judged) else -1: "The first judged document "
            "has grade 0 (not relevant): the reciprocal rank uses the first RELEVANT one.",
        },
    }
    for name, value in got.items():
        if abs(value - want[name]) > 5e-4:
            why = next((w for v, w in mistakes[name].items() if abs(value - v) < 5e-4), _DEF[name])
            return _lab.failed("a", f"{name} = {value:.3f} is not right for {query_id}. {why}")
    return _lab.passed("a", f"P@10, R@10 and the reciprocal rank of {query_id} are right.")


# --------------------------------------------------------------------------- b

_TOL = 0.006  # 3 decimals, plus the randomness of 2,000 resamples


def _intervals(a: np.ndarray, b: np.ndarray) -> dict[str, tuple[float, float]]:
    """The right 95% interval and the ones typical mistakes give, from 20,000 resamples."""
    rng = np.random.default_rng(2024)
    d, n = a - b, len(a)
    idx, idx2 = rng.integers(0, n, (20_000, n)), rng.integers(0, n, (20_000, n))
    means = d[idx].mean(axis=1)
    right = tuple(np.percentile(means, [2.5, 97.5]))
    return {
        "right": right,
        "90%": tuple(np.percentile(means, [5, 95])),
        "independent": tuple(np.percentile(a[idx].mean(1) - b[idx2].mean(1), [2.5, 97.5])),
        "fractions": tuple(np.percentile(means, [0.025, 0.975])),
        "spread": tuple(np.percentile(d, [2.5, 97.5])),
        "sign": (-right[1], -right[0]),
        "percent": (100 * right[0], 100 * right[1]),
    }


_B_MISTAKES = {
    "90%": "that is a 90% interval (percentiles 5 and 95): a 95% interval cuts 2.5% from "
    "each end, np.percentile(means, [2.5, 97.5]).",
    "independent": "the two models were resampled independently. The queries are paired: "
    "draw one set of query positions and take the difference a - b on the same queries.",
    "fractions": "np.percentile takes percents: use [2.5, 97.5] (np.quantile takes 0.025, 0.975).",
    "spread": "that is the spread of single queries' differences. Take the percentiles of the "
    "2,000 resampled MEANS.",
    "sign": "the sign is flipped: compute a - b (mpnet minus MiniLM).",
    "percent": "these are percent; give nDCG@10 differences as fractions (e.g. 0.05, not 5).",
}


def step_b(ci_low: Any, ci_high: Any, excludes_zero: Any, a: Any, b: Any) -> CheckResult:
    """The 95% paired bootstrap interval of mean(a - b), within ``_TOL``, and whether it
    excludes 0. Expects 3 decimals (or more)."""
    got = _numbers("b", ci_low=ci_low, ci_high=ci_high)
    if isinstance(got, CheckResult):
        return got
    if excludes_zero is None:
        return _lab.not_done("b", "excludes_zero")
    lo, hi = got["ci_low"], got["ci_high"]
    if lo > hi:
        return _lab.failed("b", "ci_low is above ci_high: the lower bound comes first.")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    cands = _intervals(a, b)

    def dist(name: str) -> float:
        scale = 100 if name == "percent" else 1
        return max(abs(lo - cands[name][0]), abs(hi - cands[name][1])) / scale

    best = min(cands, key=dist)
    if best != "right" and dist(best) <= _TOL:
        return _lab.failed("b", f"[{lo:.3f}, {hi:.3f}]: {_B_MISTAKES[best]}")
    if dist("right") > _TOL:
        digits = " Give 3 decimals: 2 are too coarse here." if dist("right") < _TOL + 0.005 else ""
        return _lab.failed(
            "b",
            f"[{lo:.3f}, {hi:.3f}] is not the 95% bootstrap interval of the mean per-query "
            f"difference a - b: average a - b over each of 2,000 resamples of the query "
            f"positions, then take the 2.5th and 97.5th percentiles.{digits}",
        )
    if not isinstance(excludes_zero, bool | np.bool_):
        return _lab.failed("b", f"excludes_zero must be True or False, got {excludes_zero!r}.")
    if bool(excludes_zero) != (not lo <= 0 <= hi):
        where = "inside" if lo <= 0 <= hi else "outside"
        return _lab.failed("b", f"0 is {where} your interval, so excludes_zero is wrong.")
    return _lab.passed("b", "the 95% interval is right, and so is the call on 0.")


# --------------------------------------------------------------------------- c


def step_c(knees: dict, sweeps: dict) -> CheckResult:
    """Each sweep's knee: the smallest batch size reaching 90% of its best throughput."""
    from embedlab.timing import knee

    for name, sweep in sweeps.items():
        got = knees.get(name) if isinstance(knees, dict) else None
        if got is None:
            return _lab.not_done("c", f"knees[{name!r}]")
        rate, x = sweep["texts_per_s"], _number(got)
        if x is None or not x.is_integer() or int(x) not in rate.index:
            rate_given = x is not None and bool(np.isclose(rate, x).any())
            why = "that is a throughput; " if rate_given else ""
            return _lab.failed(
                "c", f"knees[{name!r}] = {got!r:.40}: {why}the knee is one of the batch sizes "
                f"measured, {list(rate.index)}.",
            )  # fmt: skip
        got = int(x)
        if got == knee(sweep):
            continue
        if rate[got] < 0.9 * rate.max():
            why = "its throughput is below 90% of the best."
        elif got == rate.idxmax():
            why = "that batch size has the best throughput; a smaller one already reaches 90%."
        else:
            why = "it reaches 90% of the best, but a smaller batch size does too."
        return _lab.failed("c", f"knees[{name!r}] = {got} is not the knee: {why}")
    return _lab.passed("c", "every knee is right (the smallest batch size at 90% of the best).")


# --------------------------------------------------------------------------- d

_ROWS = {  # name: (nDCG@10, p95_ms, p50_ms, texts_per_s)
    "big": (0.85, 60.0, 45.0, 20.0),
    "small": (0.78, 20.0, 15.0, 90.0),
    "static": (0.58, 1.0, 0.5, 9000.0),
    "twin": (0.78, 24.0, 18.0, 300.0),
    "edge": (0.80, 40.0, 30.0, 50.0),
}
_CASES = [  # (rows, budget, the rule's choice, what the table tests)
    (("static", "big", "small"), 50.0, "small", "the best model is over the budget"),
    (("big", "small", "static"), 0.5, None, "no model is within the budget"),
    (("small", "twin", "static"), 50.0, "twin", "two models tie exactly on nDCG@10"),
    (("small", "edge", "static"), 40.0, "edge", "a p95 equals the budget"),
]


def _rule(table: pd.DataFrame, budget: float) -> str | None:
    within = table[table["p95_ms"] <= budget]
    return None if within.empty else within.sort_values(["nDCG@10", "texts_per_s"]).index[-1]


def _why_d(got: str, want: str, table: pd.DataFrame, budget: float) -> str:
    row = table.loc[got]
    if row["p95_ms"] > budget:
        p50 = " (its p50 fits, but the budget is on the p95)" if row["p50_ms"] <= budget else ""
        return f"its p95 ({row['p95_ms']:g} ms) is over the {budget:g} ms budget{p50}."
    if row["nDCG@10"] == table.loc[want, "nDCG@10"]:
        return "on an exact nDCG@10 tie, the higher texts_per_s wins."
    if table.loc[want, "p95_ms"] == budget:
        return f"{want}'s p95 equals the budget, which is within it: use <=."
    fast = got == table["texts_per_s"].idxmax()
    return "a model within the budget has a higher nDCG@10." + " Speed only breaks ties." * fast


def step_d(choose_model: Any, record: Any, latency: dict, sweeps: dict) -> CheckResult:
    """``choose_model`` follows the rule on small test tables, and ``record`` holds this
    run's timings and the rule's choice on its table."""
    from embedlab.lab2 import DecisionRecord, chosen_problem

    if not callable(choose_model):
        return _lab.failed("d", "choose_model must be the function defined in this cell.")
    cols = ["nDCG@10", "p95_ms", "p50_ms", "texts_per_s"]
    for i, (names, budget, want, what) in enumerate(_CASES):
        table = pd.DataFrame([_ROWS[n] for n in names], index=list(names), columns=cols)
        try:
            got = choose_model(table.copy(), budget)
        except Exception as exc:
            return _lab.failed("d", f"choose_model raised {type(exc).__name__} ({exc}) on a "
                               f"table where {what}.")  # fmt: skip
        if problem := chosen_problem(got, table):
            return _lab.failed("d", f"choose_model returned {problem}")
        if got is None and i == 0:
            return _lab.failed("d", "choose_model still returns None: replace the TODO.")
        if got != want:
            if want is None:
                why = "return None when no row has p95_ms <= budget_ms."
            elif got is None:
                why = f"it returned None, but {want} is within the budget."
            else:
                why = _why_d(got, want, table, budget)
            return _lab.failed(
                "d", f"on a table where {what} (budget {budget:g} ms), choose_model chose "
                f"{got!r}, the rule {want!r}: {why}",
            )  # fmt: skip
    if not isinstance(record, DecisionRecord):
        return _lab.failed("d", "record must come from embedlab.lab2.decision_record(...).")
    table = record.table
    for name in table.index:
        best = float(sweeps[name]["texts_per_s"].max()) if name in sweeps else math.nan
        p95 = float(latency[name]["p95_ms"]) if name in latency else math.nan
        if table.loc[name, "p95_ms"] != p95 or table.loc[name, "texts_per_s"] != best:
            return _lab.failed(
                "d", f"the table's timings for {name} are not the latest ones measured: the "
                "timing cell ran again after `table` was built. Re-run the cell that builds "
                "`table`, then this cell.",
            )  # fmt: skip
    if problem := chosen_problem(record.chosen, table):
        return _lab.failed("d", f"the record's choice is {problem}")
    if record.chosen != _rule(table, record.budget_ms):
        return _lab.failed(
            "d", "the record's choice is not the rule's on this table: build it with "
            "chosen = choose_model(table, BUDGET_MS).",
        )  # fmt: skip
    return _lab.passed(
        "d", "choose_model follows the rule on every test table, and the record holds this "
        "run's measurements and the rule's choice.",
    )  # fmt: skip
