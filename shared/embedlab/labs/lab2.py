"""Lab 2 "Embedding Model Selection": checks, hints, review questions and the lab's helpers.

The helpers turn one run's measurements into a decision that noise cannot make for you:

- :func:`measure_rounds` times one query at a time for every model in interleaved rounds,
  with one torch thread, on the wall clock and as CPU time, and records the machine's load;
- :func:`decide` applies the rule (your ``choose_model``) to the median of the rounds, with the
  quality intervals of :func:`model_table`, then to every round on its own, and refuses to
  decide when the rounds disagree or the timings contradict the models' sizes;
- :func:`decision_record` writes it down: what was measured, how, and where the weights came
  from;
- :func:`chunk_texts`, :func:`evaluate_chunked` and :func:`select_model` run the same
  selection on a BEIR folder of your own, long documents split into overlapping pieces.
"""

from __future__ import annotations

import datetime
import inspect
import math
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embedlab.embeddings import unit_rows
from embedlab.errors import InvalidInputError
from embedlab.labs.base import Lab, Mistake, NotDone, Question, as_array, as_number, call_quietly
from embedlab.retrieval import ranked

TITLE, MINUTES, LEVEL = "Lab 2 · Embedding Model Selection", 25, "intermediate"
QUALITY = ("nDCG@10", "MRR@10", "P@10", "R@10")
BUSY_RATIO = 1.3  # wall-clock p95 above 1.3x the CPU time: other jobs held the cores
RESAMPLES = 10_000  # paired bootstrap resamples for the quality rule

HINTS = {
    "a": "hits[i] is True when the document at rank i + 1 is relevant (grade >= 1; grade 0 "
    "is judged NOT relevant). P@10 divides the number of hits by 10, R@10 by the number of "
    "relevant documents; rr is 1 / the rank of the first hit (ranks start at 1), 0.0 if none.",
    "b": "Each row of idx is one resample of query positions, so diff[idx] has one row per "
    "resample. Average each row (mind the axis) to get 2,000 mean differences; the bounds are "
    "their 2.5th and 97.5th percentiles (np.percentile takes percents).",
    "c": "rate is a pandas Series: batch sizes in rate.index, texts/s as values. A boolean "
    "mask marks the batch sizes that reach 90% of rate.max(); the knee is the smallest of "
    "those batch sizes (an index label, not a position and not a throughput).",
    "d": "ok keeps the rows of table that pass both rules: loss_low <= margin (quality) and "
    "p95_ms <= budget_ms (latency). Combine the two boolean masks with & (each in "
    "parentheses) and index table with the result.",
}

QUESTIONS = [
    Question(
        "Why budget the p95, not the mean?",
        {
            "a": "The mean is harder to measure.",
            "b": "Users feel the slow tail.",
            "c": "The p95 is lower.",
        },
        "b",
        {
            "a": "Both are one line of NumPy.",
            "b": "Right: the mean hides them.",
            "c": "No: it is above the median.",
        },
    ),
    Question(
        "(best - model) interval [0.03, 0.10], margin 0.05. The model:",
        {"a": "stays in.", "b": "is out: mean loss above 0.05.", "c": "is out: 0 is excluded."},
        "a",
        {
            "a": "Right: it reaches below the margin.",
            "b": "Only a whole interval above the margin rules it out.",
            "c": "That shows the best is better, not by how much.",
        },
    ),
    Question(
        "MiniLM's wall-clock p95 jumps to 500 ms on a shared machine. You:",
        {
            "a": "choose the static model.",
            "b": "raise the budget.",
            "c": "trust rounds and CPU time; measure on the serving hardware.",
        },
        "c",
        {
            "a": "Its quality excludes it: the common mistake.",
            "b": "The budget comes from the product.",
            "c": "Right: contention is the machine's.",
        },
    ),
]

LAB = Lab("lab2", HINTS, QUESTIONS)
hint, answer, review, needs = LAB.hint, LAB.answer, LAB.review, LAB.needs


def _number(value: Any, name: str) -> float:
    """One real number; a string is refused without repeating it (it may be the answer)."""
    if isinstance(value, str):
        raise Mistake(f"{name} is a string (text in quotes): give the number itself.")
    return as_number(value, name)


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _near(x: float, y: float, tol: float = 5e-4) -> bool:
    return abs(x - y) <= tol


# --------------------------------------------------------------------------- a


@LAB.check("a")
def check_a(p_at_10: Any, r_at_10: Any, rr: Any, query_id: str, run: dict, qrels: dict) -> str:
    """P@10, R@10 and RR@10 of one query, computed by hand (3 decimals suffice)."""
    got = {n: _number(v, n) for n, v in (("p_at_10", p_at_10), ("r_at_10", r_at_10), ("rr", rr))}
    docs = run[query_id]
    top = ranked(docs)[:10]  # trec_eval's order
    grades = qrels[query_id]
    relevant = {d for d, g in grades.items() if g >= 1}
    hits = [d in relevant for d in top]
    judged = [d in grades for d in top]
    rank = hits.index(True) + 1 if any(hits) else None
    want = {"p_at_10": sum(hits) / 10, "r_at_10": sum(hits) / len(relevant)}
    want["rr"] = 1 / rank if rank else 0.0
    mistakes = {
        "p_at_10": [
            (
                sum(judged) / 10,
                "it counts the grade-0 document: grade 0 means judged NOT "
                "relevant (a hard negative). Count grades >= 1 only.",
            ),
            (want["r_at_10"], "that is recall: precision divides by 10, the documents retrieved."),
            (sum(hits), "that is the number of hits: divide it by 10."),
        ],
        "r_at_10": [
            (
                want["p_at_10"],
                "it divides by 10: recall divides by the number of relevant documents.",
            ),
            (
                sum(hits) / len(grades),
                "it divides by every judged document; grade-0 ones are not relevant.",
            ),
        ],
        "rr": [
            (float(rank or -1), "that is the rank itself: take 1 / rank."),
            (1 / (rank + 1) if rank else -1, "off by one: the first document has rank 1."),
            (
                1 / (rank - 1) if rank and rank > 1 else -1,
                "off by one: a 0-based index i is rank i + 1.",
            ),
            (
                1 / (judged.index(True) + 1) if any(judged) else -1,
                "the first judged document "
                "has grade 0 (not relevant): RR@10 uses the first RELEVANT one.",
            ),
        ],
    }
    definitions = {
        "p_at_10": "P@10 = the relevant documents (grade >= 1) in the top 10, divided by 10.",
        "r_at_10": "R@10 = the relevant documents in the top 10, divided by all relevant ones.",
        "rr": "RR@10 = 1 / the rank of the first relevant document in the top 10 (0.0 if none).",
    }
    for name, value in got.items():
        if _near(value, want[name]):
            continue
        why = next((w for v, w in mistakes[name] if _near(value, v)), None)
        if why is None and _near(value, 100 * want[name], 0.05):
            why = "that is a percentage: give a fraction between 0 and 1."
        if why is None and not 0 <= value <= 1:
            why = "P@10, R@10 and RR@10 all lie between 0 and 1. " + definitions[name]
        raise Mistake(f"{name} is not right for {query_id}: {why or definitions[name]}")
    return "P@10, R@10 and RR@10 are right."


# --------------------------------------------------------------------------- b


def _bound(value: Any, name: str) -> float:
    arr = np.asarray(value) if isinstance(value, list | tuple | np.ndarray) else None
    if arr is not None and arr.size == 2:
        raise Mistake(
            f"{name} holds two numbers, both bounds: give each its own name (two names on "
            "the left of =, lower bound first)."
        )
    return _number(value, name)


def _resamples(idx: Any, n: int) -> np.ndarray:
    arr = np.asarray(idx)
    if arr.ndim != 2 or arr.shape[1] != n or not np.issubdtype(arr.dtype, np.integer):
        raise Mistake(
            "idx is no longer the resampled query positions the cell made (one row of "
            f"{n} positions per resample): run the exercise cell again from its first line."
        )
    if arr.min() < 0 or arr.max() >= n:
        raise Mistake(f"idx holds positions outside 0..{n - 1}: run the exercise cell again.")
    return arr


_B_MISTAKES = {
    "90%": "that is a 90% interval: a 95% interval cuts 2.5% from each end.",
    "99%": "that is a 99% interval: a 95% interval cuts 2.5% from each end.",
    "fractions": "np.percentile takes percents (2.5 and 97.5); np.quantile takes fractions.",
    "median": "these are percentiles of resampled MEDIANS: the interval is for the mean "
    "difference, so average each resample.",
    "sums": "these are percentiles of resampled SUMS: average each resample instead of "
    "adding it up.",
    "axis": "each resample is a row of idx: average along the rows' axis (axis=1), which "
    "gives one mean per resample.",
    "spread": "that is the spread of single queries' differences: take the percentiles of "
    "the 2,000 resampled MEANS.",
    "percent": "these are percent: give nDCG@10 differences as fractions.",
}


@LAB.check("b")
def check_b(ci_low: Any, ci_high: Any, diff: Any, idx: Any) -> str:
    """The 95% paired bootstrap interval of the mean of ``diff`` (resamples ``idx``), to 3
    decimals; the other sign convention (the difference the other way round) passes too."""
    lo, hi = _bound(ci_low, "ci_low"), _bound(ci_high, "ci_high")
    d = as_array(diff, "diff").ravel()
    rows = d[_resamples(idx, len(d))]
    means = rows.mean(axis=1)

    def pct(x: np.ndarray, a: float, b: float) -> tuple[float, float]:
        return tuple(float(v) for v in np.percentile(x, [a, b]))

    right = pct(means, 2.5, 97.5)
    cands = {
        "90%": pct(means, 5, 95),
        "99%": pct(means, 0.5, 99.5),
        "fractions": pct(means, 0.025, 0.975),
        "median": pct(np.median(rows, axis=1), 2.5, 97.5),
        "sums": pct(rows.sum(axis=1), 2.5, 97.5),
        "axis": pct(rows.mean(axis=0), 2.5, 97.5),
        "spread": pct(d, 2.5, 97.5),
        "percent": (100 * right[0], 100 * right[1]),
    }

    def matches(c: tuple[float, float], tol: float) -> str | None:
        if _near(lo, c[0], tol) and _near(hi, c[1], tol):
            return "as is"
        if _near(lo, -c[1], tol) and _near(hi, -c[0], tol):
            return "flipped"
        return None

    if way := matches(right, 5e-4):
        flipped = " (for the difference the other way round: fine)" * (way == "flipped")
        return f"the 95% interval is right{flipped}."
    for name, c in cands.items():
        if matches(c, 5e-4 if name != "percent" else 0.05):
            raise Mistake(f"not the 95% interval yet: {_B_MISTAKES[name]}")
    if lo > hi:
        raise Mistake("ci_low is above ci_high: the lower bound comes first.")
    rng = np.random.default_rng(2024)  # other resamples (or scipy's BCa): within sampling noise
    truth = pct(d[rng.integers(0, len(d), (20_000, len(d)))].mean(axis=1), 2.5, 97.5)
    if way := matches(truth, 0.006):
        flipped = " (for the difference the other way round: fine)" * (way == "flipped")
        return f"the 95% interval is right (from other resamples){flipped}."
    raise Mistake(
        "these bounds are not the 95% interval of the resampled mean differences. Average "
        "diff over each resample (each row of idx), then take the 2.5th and 97.5th "
        "percentiles of those 2,000 means."
    )


# --------------------------------------------------------------------------- c

# Made-up sweeps (batch size -> texts/s) whose knee differs from the best batch size, except
# the last; one reaches exactly 90% of its best. No rate equals a batch size of its sweep.
_SWEEPS = [
    {1: 10.5, 2: 30.5, 4: 60.5, 8: 92.5, 16: 97.5, 32: 100.0, 64: 95.5},
    {2: 50.0, 4: 90.0, 16: 100.0, 64: 99.0},
    {3: 21.0, 10: 70.0, 30: 112.0, 100: 120.0},
    {1: 95.0, 8: 100.0, 32: 99.0},
]


def _knee(rate: pd.Series) -> int:
    return int(rate.index[rate >= 0.9 * rate.max()][0])


def _batch_size(value: Any, rate: pd.Series) -> int:
    """The learner's knee as a batch size of ``rate``, or the mistake it makes."""
    if isinstance(value, str):
        raise Mistake("knee returned a string: return the batch size as a number.")
    if isinstance(value, Mapping):
        raise Mistake("knee returned a dict: return one batch size, a number.")
    if isinstance(value, pd.Series | pd.Index | np.ndarray | list | tuple):
        flat = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value).ravel()
        if flat.size != 1:
            raise Mistake(
                f"knee returned {flat.size} values: return one batch size, the smallest that "
                "reaches 90% of the best texts/s."
            )
        value = flat[0]
    x = as_number(value, "knee's result")
    if x in rate.index:
        return int(x)
    if np.isclose(rate.to_numpy(), x).any():
        raise Mistake(
            "knee returned a throughput (texts/s), not a batch size: the batch sizes are "
            "rate's index labels."
        )
    if x == int(np.argmax(rate.to_numpy() >= 0.9 * rate.max())):
        raise Mistake(
            "knee returned the knee's position in rate (0-based), not its batch size: take "
            "the label from rate.index."
        )
    raise Mistake(f"knee returned a value that is not one of the batch sizes {list(rate.index)}.")


@LAB.check("c")
def check_c(knee: Any) -> str:
    """``knee(rate)``: the smallest batch size of a sweep that reaches 90% of its best texts/s,
    tried on made-up sweeps whose knee differs from the best batch size."""
    if knee is None or not callable(knee) or isinstance(knee, type):
        what = "None" if knee is None else _a(type(knee).__name__)
        raise Mistake(
            f"check_c takes your function knee itself (not its result), got {what}: call "
            "lab2.check_c(knee), without parentheses after knee."
        )
    for values in _SWEEPS:
        rate = pd.Series(values, name="texts_per_s", dtype=float).rename_axis("batch_size")
        try:
            result, printed = call_quietly(knee, rate.copy())
        except KeyError as exc:
            raise Mistake(
                f"knee raised KeyError {exc}: rate is already the Series of texts/s, indexed "
                "by batch size (no columns to select)."
            ) from None
        except Exception as exc:
            raise Mistake(
                f"knee raised {type(exc).__name__} ({str(exc)[:80]}) on the sweep "
                f"{values}: it receives rate, a Series of texts/s indexed by batch size."
            ) from None
        if result is None:
            if printed.strip():
                raise Mistake("knee printed its answer but returned None: use return, not print.")
            raise NotDone("knee still returns None: replace the TODO with your code.")
        got, want = _batch_size(result, rate), _knee(rate)
        if got == want:
            continue
        sweep = f"On the sweep {values}, knee returned {got}: "
        if rate[got] < 0.9 * rate.max():
            why = "its throughput is below 90% of the best."
        elif rate[want] == 0.9 * rate.max():
            why = "a batch size at exactly 90% of the best counts too (at least 90%)."
        elif got == rate.idxmax():
            why = "that is the batch size with the best throughput; a smaller one already "
            why += "reaches 90% of it."
        else:
            why = "it reaches 90% of the best, but a smaller batch size does too."
        raise Mistake(sweep + why)
    return "knee is right on every test sweep."


# --------------------------------------------------------------------------- d

_COLUMNS = ["nDCG@10", "loss", "loss_low", "loss_high", "p95_ms", "p50_ms", "texts_per_s"]
_ROWS = {  # name: (nDCG@10, loss, loss_low, loss_high, p95_ms, p50_ms, texts_per_s)
    "big": (0.85, 0.0, 0.0, 0.0, 60.0, 45.0, 20.0),
    "small": (0.78, 0.07, 0.03, 0.10, 20.0, 15.0, 90.0),
    "slow-small": (0.78, 0.07, 0.03, 0.10, 45.0, 30.0, 40.0),
    "static": (0.58, 0.27, 0.20, 0.33, 1.0, 0.5, 9000.0),
    "mid": (0.81, 0.04, 0.01, 0.07, 30.0, 22.0, 50.0),
    "edge": (0.80, 0.06, 0.05, 0.09, 25.0, 20.0, 60.0),
    "tight": (0.83, 0.02, 0.0, 0.04, 30.0, 25.0, 40.0),
}
_TABLES = [  # (rows, budget_ms, margin, what the table tests); margin 0.05 throughout
    (("big", "small", "static"), 40.0, "the best model is over the budget"),
    (("big", "slow-small", "static"), 40.0, "only a model that loses too much quality fits"),
    (("big", "small", "static"), 0.5, "no model fits the budget"),
    (("big", "small", "static"), 20.0, "a p95 equals the budget"),
    (("big", "mid", "small", "static"), 40.0, "two models pass both rules"),
    (("big", "edge", "static"), 40.0, "a model's loss_low equals the margin"),
    (("big", "tight", "static"), 40.0, "a model's whole interval lies below the margin"),
]
MARGIN_D = 0.05


def _pick(t: pd.DataFrame, keep: pd.Series) -> str | None:
    rows = t[keep]
    return None if rows.empty else str(rows["nDCG@10"].idxmax())


def _rule(t: pd.DataFrame, budget: float, margin: float) -> str | None:
    """The rule: the highest nDCG@10 with loss_low <= margin and p95_ms <= budget, or None."""
    return _pick(t, (t["loss_low"] <= margin) & (t["p95_ms"] <= budget))


_WRONG_RULES: dict[str, tuple[Callable[..., str | None], str]] = {
    "budget": (
        lambda t, b, m: _pick(t, t["loss_low"] <= m),
        "choose_model ignores the latency budget: only a model whose p95_ms is within "
        "budget_ms can be chosen.",
    ),
    "quality": (
        lambda t, b, m: _pick(t, t["p95_ms"] <= b),
        "choose_model ignores the quality rule: a model whose whole interval lies above "
        "the margin (loss_low > margin) is excluded, however fast it is.",
    ),
    "p50": (
        lambda t, b, m: _pick(t, (t["loss_low"] <= m) & (t["p50_ms"] <= b)),
        "the budget is on the p95 (p95_ms), not the median (p50_ms): users feel the slow tail.",
    ),
    "strict budget": (
        lambda t, b, m: _pick(t, (t["loss_low"] <= m) & (t["p95_ms"] < b)),
        "a model whose p95_ms equals budget_ms is within the budget: keep it.",
    ),
    "mean loss": (
        lambda t, b, m: _pick(t, (t["loss"] <= m) & (t["p95_ms"] <= b)),
        "it excludes models on their mean loss. The rule excludes a model only when its whole "
        "interval lies above the margin (loss_low > margin): the mean alone does not show that.",
    ),
    "loss_high": (
        lambda t, b, m: _pick(t, (t["loss_high"] <= m) & (t["p95_ms"] <= b)),
        "it keeps only models whose whole interval lies below the margin (loss_high). This "
        "rule excludes a model only when the queries show it loses too much: loss_low > margin.",
    ),
    "strict margin": (
        lambda t, b, m: _pick(t, (t["loss_low"] < m) & (t["p95_ms"] <= b)),
        "a model whose loss_low equals the margin is not above it: it stays in.",
    ),
    "fastest": (
        lambda t, b, m: (
            None
            if (ok := t[(t["loss_low"] <= m) & (t["p95_ms"] <= b)]).empty
            else str(ok["texts_per_s"].idxmax())
        ),
        "among the models that pass both rules the highest nDCG@10 wins: speed only decides "
        "which models fit the budget.",
    ),
}


def _test_table(names: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame([_ROWS[n] for n in names], index=list(names), columns=_COLUMNS)


def chosen_problem(chosen: Any, table: pd.DataFrame) -> str | None:
    """What is wrong with ``chosen`` as a choice from ``table`` (a row label or ``None``)."""
    if chosen is None or (isinstance(chosen, str) and chosen in table.index):
        return None
    if isinstance(chosen, pd.Series):
        return (
            "a whole row (a pandas Series). Return the model's name, the row's index label: "
            "row.name, or .idxmax() on a column."
        )
    if isinstance(chosen, pd.DataFrame | pd.Index | list | tuple | dict | set | np.ndarray):
        return f"a {type(chosen).__name__}. Return one model name (a string), or None."
    if callable(chosen):
        what = getattr(chosen, "__qualname__", type(chosen).__name__)
        return f"the function or method {what} itself: call it (add the parentheses)."
    if isinstance(chosen, int | float | np.number) and not isinstance(chosen, bool):
        return "a number (a position or a score?). Return the model's name: the row's label."
    if isinstance(chosen, str):
        return f"a string that is not a model in the table ({', '.join(table.index)})."
    return f"a {type(chosen).__name__}, which is not a model in the table nor None."


def _explain_call(exc: Exception, what: str, want: str | None) -> str:
    if isinstance(exc, TypeError) and "NoneType" in str(exc):
        raise NotDone("choose_model still works on None: replace the TODO with your code.")
    if isinstance(exc, KeyError) and exc.args == ("nDCG@10",):
        return (
            "choose_model raised KeyError 'nDCG@10': ok must stay a table. A comparison "
            "gives a mask of True/False; index table with it to keep the rows: table[mask]."
        )
    if isinstance(exc, KeyError):
        return (
            f"choose_model raised KeyError {exc}: the table's columns are "
            f"{', '.join(_COLUMNS)}; the models are its index (row labels)."
        )
    if want is None and isinstance(exc, ValueError | IndexError):
        return (
            f"choose_model raised {type(exc).__name__} on a table where {what}: when no row "
            "is left, return None instead of taking the best of nothing."
        )
    return f"choose_model raised {type(exc).__name__} ({str(exc)[:80]}) on a table where {what}."


@LAB.check("d")
def check_d(choose_model: Any) -> str:
    """``choose_model(table, budget_ms, margin)`` follows the rule on small made-up tables."""
    if choose_model is None or not callable(choose_model) or isinstance(choose_model, type):
        what = "None" if choose_model is None else _a(type(choose_model).__name__)
        raise Mistake(
            f"check_d takes your function choose_model itself, got {what}: call "
            "lab2.check_d(choose_model), without calling it."
        )
    try:
        inspect.signature(choose_model).bind(None, 0.0, 0.0)
    except TypeError:
        raise Mistake(
            "choose_model must take three arguments: (table, budget_ms, margin)."
        ) from None
    except ValueError:  # a builtin without a signature
        pass
    got, want, printed = [], [], ""
    for names, budget, what in _TABLES:
        table = _test_table(names)
        want.append(_rule(table, budget, MARGIN_D))
        try:
            result, out = call_quietly(choose_model, table.copy(), budget, MARGIN_D)
        except Exception as exc:
            raise Mistake(_explain_call(exc, what, want[-1])) from None
        printed += out
        if problem := chosen_problem(result, table):
            raise Mistake(f"on a table where {what}, choose_model returned {problem}")
        got.append(None if result is None else str(result))
    if got == want:
        return "choose_model follows the rule on every test table."
    if all(g is None for g in got):
        if printed.strip():
            raise Mistake(
                "choose_model printed its answer but returned None: return the model's name "
                "(return, not print)."
            )
        raise NotDone("choose_model still returns None: replace the TODO with your code.")
    for rule, message in _WRONG_RULES.values():
        if got == [rule(_test_table(n), b, MARGIN_D) for n, b, _ in _TABLES]:
            raise Mistake(message)
    i = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
    names, budget, what = _TABLES[i]
    table, g = _test_table(names), got[i]
    if g is None:
        why = "it returned None, but a model passes both rules."
    elif table.loc[g, "p95_ms"] > budget:
        why = "it chose a model whose p95_ms is over budget_ms."
    elif table.loc[g, "loss_low"] > MARGIN_D:
        why = "it chose a model excluded on quality (its loss_low is above the margin)."
    else:
        why = "a model that passes both rules has a higher nDCG@10."
    raise Mistake(f"on a table where {what} (budget {budget:g} ms, margin {MARGIN_D}): {why}")


# --------------------------------------------------------------------------- latency


def _compute_params(model: Any) -> int | None:
    """Parameters outside embedding tables: what a forward pass computes with (``None`` for a
    model that is not made of torch modules)."""
    import torch

    if not callable(getattr(model, "modules", None)):
        return None
    tables = (torch.nn.Embedding, torch.nn.EmbeddingBag)
    return sum(
        p.numel()
        for module in model.modules()
        if isinstance(module, torch.nn.Module) and not isinstance(module, tables)
        for p in module.parameters(recurse=False)
    )


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return None


@dataclass(repr=False)
class LatencyRounds:
    """Single-query latency of several models, timed in interleaved rounds.

    ``rounds`` has one row per model and round: ``p50_ms``/``p95_ms`` on the wall clock and
    ``cpu_p50_ms``/``cpu_p95_ms`` as CPU time, over ``n_queries`` calls. On a CPU the p95 used
    is the CPU time's (it estimates an idle core); on a GPU, the wall clock's.
    """

    rounds: pd.DataFrame
    n_queries: int
    threads: int | None
    warmup: int
    device: str
    compute_params: dict[str, int | None]
    load: tuple[float | None, float | None]
    cores: int

    @property
    def basis(self) -> str:
        """``"cpu"`` (CPU time) on a CPU, ``"wall"`` (wall clock) on an accelerator."""
        return "cpu" if self.device == "cpu" else "wall"

    @property
    def models(self) -> list[str]:
        """The models, in the order they were given."""
        return list(dict.fromkeys(self.rounds["model"]))

    def per_round(self) -> pd.DataFrame:
        """The p95 the rule uses, one row per round and one column per model."""
        column = "cpu_p95_ms" if self.basis == "cpu" else "p95_ms"
        return self.rounds.pivot(index="round", columns="model", values=column)[self.models]

    @property
    def summary(self) -> pd.DataFrame:
        """Per model: ``p95_ms`` (median of the rounds' p95s), its ``p95_min``..``p95_max``
        over the rounds, ``p50_ms``, and the wall-clock and CPU-time medians."""
        med = self.rounds.groupby("model", sort=False).median(numeric_only=True)
        p95 = self.per_round()
        return pd.DataFrame(
            {
                "p95_ms": p95.median(),
                "p95_min": p95.min(),
                "p95_max": p95.max(),
                "p50_ms": med["cpu_p50_ms" if self.basis == "cpu" else "p50_ms"],
                "wall_p95_ms": med["p95_ms"],
                "cpu_p95_ms": med["cpu_p95_ms"],
            }
        ).rename_axis("model")

    @property
    def ratio(self) -> float | None:
        """Wall-clock p95 over CPU-time p95, summed over the models (``None`` on a GPU)."""
        s = self.summary
        return (
            float(s["wall_p95_ms"].sum() / s["cpu_p95_ms"].sum()) if self.basis == "cpu" else None
        )

    @property
    def busy(self) -> bool:
        """Other jobs competed for the cores: more runnable jobs than cores, or a wall clock
        more than ``BUSY_RATIO`` times the CPU time."""
        loaded = any(x is not None and x > self.cores for x in self.load)
        return loaded or (self.ratio or 0) > BUSY_RATIO

    def contradictions(self) -> list[str]:
        """Pairs where a model with at least twice the compute parameters measured faster."""
        p95, sizes = self.summary["p95_ms"], self.compute_params
        out = []
        for big in self.models:
            for small in self.models:
                b, s = sizes.get(big), sizes.get(small)
                if b is not None and s is not None and b >= 2 * s and p95[big] < p95[small]:
                    out.append(
                        f"{big} measured faster than {small}, which computes with "
                        f"{b / max(s, 1):.0f}x fewer parameters"
                    )
        return out

    def findings(self) -> list[str]:
        """What makes these timings doubtful, one sentence each (empty: nothing)."""
        out = [c + ": the timing is not trustworthy." for c in self.contradictions()]
        s = self.summary
        for name, row in s.iterrows():
            if row["p95_max"] - row["p95_min"] > max(0.5 * row["p95_ms"], 1.0):
                out.append(
                    f"{name}'s p95 ranged {row['p95_min']:.1f}-{row['p95_max']:.1f} ms over "
                    "the rounds."
                )
        if self.n_queries < 20:
            out.append(f"Only {self.n_queries} queries per round: such a p95 is about the maximum.")
        return out

    def statement(self) -> str:
        """How the latency was measured and how busy the machine was, in one sentence."""
        threads = "default threads"
        if self.threads:
            threads = f"{self.threads} thread{'s' * (self.threads != 1)}"
        clock = "CPU time" if self.basis == "cpu" else "wall clock"
        head = f"{len(self.per_round())} rounds x {self.n_queries} queries, "
        return f"{head}{threads}, median p95 on {clock}; {self.machine()}"

    def machine(self) -> str:
        """The load, the wall clock against CPU time, and whether that makes a busy machine."""
        parts = []
        load = [x for x in self.load if x is not None]
        if load:
            parts.append(f"load {max(load):.1f} on {self.cores} cores")
        if self.ratio is not None:
            parts.append(f"wall clock {self.ratio:.1f}x CPU time")
        verdict = "busy" if self.busy else "quiet"
        return f"{', '.join(parts) or 'no load figure'}: {verdict}."

    def __str__(self) -> str:
        s = self.summary
        shown = pd.DataFrame(
            {
                "p95 ms": s["p95_ms"].round(1),
                "range": [
                    f"{a:.1f}-{b:.1f}" for a, b in zip(s["p95_min"], s["p95_max"], strict=True)
                ],
                "wall p95 ms": s["wall_p95_ms"].round(1),
            },
            index=list(s.index),
        )
        machine = self.machine()
        return f"{shown.to_string()}\n{machine[0].upper()}{machine[1:]}"

    __repr__ = __str__


def measure_rounds(
    models: Mapping[str, Any],
    queries: Sequence[str],
    *,
    rounds: int = 5,
    threads: int | None = 1,
    warmup: int = 3,
) -> LatencyRounds:
    """Time ``encode_query`` on one query at a time for every model, in interleaved rounds.

    Each round times every model on all ``queries`` (the order rotates, so no model always
    goes first), so a burst of load from other jobs hits every model alike, and the median
    over rounds ignores a disturbed round. ``threads=1`` times the models as a serving worker
    runs them (one thread per process): then the CPU time is the latency of an idle core.

    Args:
        models: ``{name: model}``, loaded with :func:`embedlab.load_model`.
        queries: the texts, one call each per round (at least 20 for a meaningful p95).
        rounds: how many rounds.
        threads: torch threads while timing (``None``: leave as it is).
        warmup: calls per model before the first round.
    """
    from embedlab.errors import check_texts, positive_int
    from embedlab.timing import measure_latency, torch_threads

    if not isinstance(models, Mapping) or not models:
        raise InvalidInputError("models must be a non-empty dict {name: model}.")
    items = check_texts(queries, "queries")
    positive_int(rounds, "rounds")
    names, rows = list(models), []
    before = _load()
    with torch_threads(threads):
        for name in names:
            for text in (items * warmup)[:warmup]:
                models[name].encode_query([text])
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                lat = measure_latency(models[name], items, warmup=0)
                rows.append(
                    {"model": name, "round": r + 1}
                    | {k: lat[k] for k in ("p50_ms", "p95_ms", "cpu_p50_ms", "cpu_p95_ms")}
                )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return LatencyRounds(
        pd.DataFrame(rows),
        len(items),
        threads,
        warmup,
        str(getattr(models[names[0]], "device", "cpu")).split(":")[0],
        {name: _compute_params(m) for name, m in models.items()},
        (before, _load()),
        cores or 1,
    )


# --------------------------------------------------------------------------- the decision


def model_table(
    results: Mapping[str, Any],
    latency: LatencyRounds,
    sweeps: Mapping[str, pd.DataFrame] | None = None,
    *,
    n_resamples: int = RESAMPLES,
) -> pd.DataFrame:
    """One row per model: quality, the loss against the best model with its 95% interval,
    latency (from :func:`measure_rounds`), best texts/s and the knee, and dimensions.

    ``loss`` is the mean per-query nDCG@10 of the best model minus this model's;
    ``loss_low``..``loss_high`` its 95% paired bootstrap interval
    (:func:`embedlab.paired_bootstrap`, BCa, seeded). ``sweeps`` (``{model: batch_sweep}``)
    is optional: without it ``texts_per_s`` and ``knee`` are NaN.
    """
    from embedlab.retrieval import paired_bootstrap
    from embedlab.timing import knee

    if not isinstance(latency, LatencyRounds):
        raise InvalidInputError("latency must come from lab2.measure_rounds(models, queries).")
    if not results:
        raise InvalidInputError("results is empty: evaluate at least one model.")
    lat = latency.summary
    best = max(results, key=lambda n: results[n].summary["nDCG@10"])
    rows = {}
    for name, res in results.items():
        if name not in lat.index:
            raise InvalidInputError(f"{name!r} has no latency: time every model in results.")
        if name == best:
            loss = {"mean_diff": 0.0, "ci_low": 0.0, "ci_high": 0.0}
        else:
            loss = paired_bootstrap(results[best], res, n_resamples=n_resamples)
        sweep = (sweeps or {}).get(name)
        q = getattr(res, "query_embeddings", None)
        rows[name] = {
            **{m: float(res.summary[m]) for m in QUALITY},
            "loss": loss["mean_diff"],
            "loss_low": loss["ci_low"],
            "loss_high": loss["ci_high"],
            **lat.loc[name].to_dict(),
            "texts_per_s": float(sweep["texts_per_s"].max()) if sweep is not None else math.nan,
            "knee": knee(sweep) if sweep is not None else math.nan,
            "dims": q.shape[1] if q is not None else math.nan,
        }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
    table.attrs.update(best=best, n_queries=len(results[best].per_query), n_resamples=n_resamples)
    if sweeps:
        table.attrs["batch_sizes"] = sorted({int(b) for s in sweeps.values() for b in s.index})
    return table


def _apply(choose_model: Callable[..., Any], table: pd.DataFrame, budget: float, margin: float):
    result, _ = call_quietly(choose_model, table.copy(), budget, margin)
    if problem := chosen_problem(result, table):
        raise InvalidInputError(f"choose_model returned {problem} Run lab2.check_d first.")
    return None if result is None else str(result)


def _verdict(row: pd.Series, chosen: str | None, budget: float, margin: float) -> str:
    if row.name == chosen:
        return "chosen"
    if row["loss_low"] > margin:
        return "excluded on quality"
    if row["p95_ms"] > budget:
        return "over budget"
    return "passes both rules" if chosen is None else "passes, lower nDCG@10"


@dataclass(repr=False)
class Decision:
    """The rule's choice on the median latency, checked round by round; see :func:`decide`."""

    chosen: str | None
    reason: str  # why there is no decision; "" when there is one
    table: pd.DataFrame
    latency: LatencyRounds
    budget_ms: float
    margin: float
    agree: int  # rounds whose own p95s give the same choice
    chunking: str = ""

    @property
    def line(self) -> str:
        """The decision in one line."""
        if self.reason:
            return f"No decision: {self.reason}"
        n = len(self.latency.per_round())
        if self.chosen is None:
            return (
                f"Decision: no model passes the rule (budget {self.budget_ms:g} ms, margin "
                f"{self.margin:g}); the same in {self.agree} of {n} rounds."
            )
        row = self.table.loc[self.chosen]
        return (
            f"Decision: {self.chosen} (nDCG@10 {row['nDCG@10']:.3f}, p95 {row['p95_ms']:.1f} ms "
            f"<= {self.budget_ms:g} ms); the same in {self.agree} of {n} rounds."
        )

    @property
    def noise(self) -> str:
        """How latency was measured, how busy the machine was, and what looked doubtful."""
        return " ".join(["Noise:", self.latency.statement(), *self.latency.findings()])

    def verdicts(self) -> pd.Series:
        """Per model: chosen, excluded on quality, over budget, or passes (with a lower nDCG@10
        than the chosen one)."""
        return self.table.apply(_verdict, axis=1, args=(self.chosen, self.budget_ms, self.margin))

    @property
    def summary(self) -> str:
        """The chunking note (own data) and the decision line."""
        return "\n".join(x for x in (self.chunking, self.line) if x)

    def __str__(self) -> str:
        t = self.table
        shown = pd.DataFrame(
            {
                "nDCG@10": t["nDCG@10"].round(3),
                "loss, 95% interval": [
                    "best" if n == t.attrs.get("best") else f"{a:.3f} to {b:.3f}"
                    for n, a, b in zip(t.index, t["loss_low"], t["loss_high"], strict=True)
                ],
                "verdict": self.verdicts().to_numpy(),
            },
            index=list(t.index),
        )
        return f"{self.summary}\n{self.noise}\n{shown.to_string()}"

    __repr__ = __str__


def decide(
    choose_model: Callable[..., Any],
    results: Mapping[str, Any],
    latency: LatencyRounds,
    sweeps: Mapping[str, pd.DataFrame] | None = None,
    *,
    budget_ms: float,
    margin: float,
) -> Decision:
    """Apply ``choose_model(table, budget_ms, margin)`` to :func:`model_table` (the median
    of the rounds), then to each round's own p95s.

    There is no decision (``chosen`` is ``None`` and ``reason`` says why) when a model with
    at least twice the compute measured faster than a smaller one, when a busy machine was
    timed with several threads or on the wall clock only, or when the rounds do not all give
    the same choice: then the machine's noise, not the models, would decide.
    """
    if not callable(choose_model):
        raise InvalidInputError("choose_model must be your function from exercise d.")
    table = model_table(results, latency, sweeps)
    chosen = _apply(choose_model, table, budget_ms, margin)
    choices = []
    for _, p95 in latency.per_round().iterrows():
        one = table.copy()
        one["p95_ms"] = p95.reindex(one.index)
        choices.append(_apply(choose_model, one, budget_ms, margin))
    agree = sum(c == chosen for c in choices)
    reason = ""
    if contradictions := latency.contradictions():
        reason = (
            f"{contradictions[0]}, so the timings are disturbed. Re-run when the machine is "
            "quieter, or measure on the hardware you will serve from."
        )
    elif latency.busy and (latency.basis == "wall" or latency.threads != 1):
        how = "the wall clock" if latency.basis == "wall" else f"{latency.threads} threads"
        reason = (
            f"the machine was busy and the timing used {how}, so other jobs, not the models, "
            "may decide. Time with one thread (threads=1), re-run when the machine is "
            "quieter, or measure on the hardware you will serve from."
        )
    elif agree < len(choices):
        counts = Counter("none" if c is None else c for c in choices)
        split = ", ".join(f"{c} in {k}" for c, k in counts.most_common())
        reason = (
            f"the rounds disagree ({split} of {len(choices)}): a p95 is too close to the "
            "budget for this machine's noise. Re-run when the machine is quieter, or measure "
            "on the hardware you will serve from."
        )
    return Decision(None if reason else chosen, reason, table, latency, budget_ms, margin, agree)


# --------------------------------------------------------------------------- your own data


def _token_spans(model: Any) -> Callable[[str], list[tuple[int, int]]]:
    """A function giving each token's (start, end) characters in a text, without truncation."""
    tok = model.tokenizer
    if hasattr(tok, "model_max_length"):  # a transformers tokenizer
        return lambda text: tok(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )["offset_mapping"]
    from tokenizers import Tokenizer  # a static model's tokenizer truncates at 512: copy it

    plain = Tokenizer.from_str(tok.to_str())
    plain.no_truncation()
    return lambda text: plain.encode(text, add_special_tokens=False).offsets


def chunk_texts(
    model: Any, texts: Sequence[str], max_tokens: int = 200, overlap: int = 50
) -> tuple[list[str], list[int]]:
    """Split texts longer than ``max_tokens`` tokens (the model's own tokenizer) into pieces
    that share ``overlap`` tokens with their neighbour; a text that fits stays whole.

    ``max_tokens`` is capped at what the model reads (its ``max_seq_length`` less 2 special
    tokens). Returns the pieces and, for each, the position of its text.
    """
    from embedlab.errors import check_texts, positive_int

    items = check_texts(texts)
    limit = getattr(model, "max_seq_length", None)
    size = positive_int(max_tokens, "max_tokens")
    if limit and math.isfinite(limit):
        size = min(size, int(limit) - 2)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < size:
        raise InvalidInputError(f"overlap must be an int from 0 to {size - 1}, got {overlap!r}.")
    spans_of, pieces, owner = _token_spans(model), [], []
    for i, text in enumerate(items):
        spans = spans_of(text)
        if len(spans) <= size:
            pieces.append(text)
            owner.append(i)
            continue
        for start in range(0, len(spans) - overlap, size - overlap):
            window = spans[start : start + size]
            pieces.append(text[window[0][0] : window[-1][1]])
            owner.append(i)
    return pieces, owner


def evaluate_chunked(
    model: Any,
    dataset: Any,
    *,
    max_tokens: int = 200,
    overlap: int = 50,
    k: int = 100,
    cache: Any = True,
    name: str | None = None,
) -> Any:
    """:func:`embedlab.evaluate_model` for long documents: each document is split by
    :func:`chunk_texts`, every piece is searched, and a document scores as its best piece.

    With no document over ``max_tokens`` this gives exactly ``evaluate_model``'s result.
    ``doc_embeddings`` is left ``None`` when documents were split (there are more pieces
    than documents).
    """
    from embedlab.cache import cached_encode
    from embedlab.models import model_name_of
    from embedlab.retrieval import evaluate_run, top_k

    pieces, owner = chunk_texts(model, dataset.doc_texts(), max_tokens, overlap)
    q0 = np.asarray(cached_encode(model, dataset.query_texts(), kind="query", cache=cache))
    p0 = np.asarray(cached_encode(model, pieces, kind="document", cache=cache))
    q, p = unit_rows(q0), unit_rows(p0)  # as search() does
    starts = np.flatnonzero(np.r_[True, np.diff(owner) != 0])  # each document's first piece
    qids, dids, run = dataset.query_ids, dataset.doc_ids, {}
    for lo in range(0, len(q), 256):  # a block of queries at a time bounds the memory
        scores = np.maximum.reduceat(q[lo : lo + 256] @ p.T, starts, axis=1)
        for i, best in enumerate(top_k(scores, dids, k)):
            run[qids[lo + i]] = {dids[j]: float(scores[i, j]) for j in best}
    result = evaluate_run(run, dataset.qrels, name=name or model_name_of(model))
    result.run, result.query_ids, result.doc_ids, result.query_embeddings = run, qids, dids, q0
    result.doc_embeddings = p0 if len(pieces) == len(dids) else None
    return result


def select_model(
    dataset: Any,
    models: Mapping[str, Any],
    choose_model: Callable[..., Any],
    *,
    budget_ms: float,
    margin: float,
    max_tokens: int = 200,
    overlap: int = 50,
    n_queries: int = 40,
    rounds: int = 5,
    latency: LatencyRounds | None = None,
) -> Decision:
    """The whole selection on a dataset of your own (e.g. :func:`embedlab.load_beir`):
    quality with long documents chunked, latency in interleaved rounds on its first
    ``n_queries`` queries (or the ``latency`` you already measured on the same machine and
    models: a query's latency depends on its length, not on the documents), and
    :func:`decide` with your ``choose_model``."""
    if not callable(choose_model):
        raise InvalidInputError("choose_model must be your function from exercise d.")
    results = {
        name: evaluate_chunked(m, dataset, max_tokens=max_tokens, overlap=overlap, name=name)
        for name, m in models.items()
    }
    if latency is None:
        latency = measure_rounds(models, dataset.query_texts()[:n_queries], rounds=rounds)
    decision = decide(choose_model, results, latency, budget_ms=budget_ms, margin=margin)
    first = next(iter(models))
    _, owner = chunk_texts(models[first], dataset.doc_texts(), max_tokens, overlap)
    counts = Counter(owner)
    split = sum(c > 1 for c in counts.values())
    decision.chunking = (
        f"{dataset.name}: {len(counts)} documents ({split} longer than {max_tokens} tokens, "
        f"split into {len(owner)} pieces), {len(dataset.queries)} queries."
    )
    return decision


# --------------------------------------------------------------------------- the record


def _provenance(model: Any) -> tuple[str, str, str, str]:
    """(source, repository, revision, weights sha256): what embedlab.model_info recorded."""
    from embedlab.models import model_info

    info = model_info(model)
    sha = info.get("weights_sha256")
    checked = " (official file, checked)" if info.get("verified") else ""
    return (
        info.get("source") or "unknown source",
        f"`{info['repository']}`" if info.get("repository") else "none",
        f"`{info['revision']}`" if info.get("revision") else "not known",
        f"`{sha}`{checked}" if sha else "not measured",
    )


@dataclass(repr=False)
class DecisionRecord:
    """A :class:`Decision` with its context; ``markdown`` renders it, ``save`` writes it."""

    decision: Decision
    provenance: dict[str, tuple[str, str, str, str]]
    dataset: str
    device: str
    budget_note: str
    created: str = field(default_factory=lambda: datetime.date.today().isoformat())

    @property
    def markdown(self) -> str:
        """The record as a markdown document."""
        from embedlab import __version__
        from embedlab.quantization import memory_footprint

        d, t = self.decision, self.decision.table
        lat = d.latency
        head = f"**Chosen: `{d.chosen}`**" if d.chosen else f"**{d.line}**"
        note = f" ({self.budget_note})" if self.budget_note else ""
        n_q, resamples = t.attrs.get("n_queries", "?"), t.attrs.get("n_resamples", RESAMPLES)
        sizes = t.attrs.get("batch_sizes")
        sweep = (
            "- Throughput, measured in this run: `encode_document` texts/s at the best of the "
            f"batch sizes {sizes}, and the knee: the smallest batch size with 90% of the best."
        )
        lines = [
            "# Decision record: embedding model",
            "",
            head,
            "",
            d.line,
            "",
            "- Rule, fixed before measuring: (1) quality: a model is excluded when the whole "
            f"95% interval of (best - model) nDCG@10 lies above the margin, {d.margin:g}; "
            "(2) latency: of the rest, the highest nDCG@10 whose p95 is within the budget; "
            "none if none is. The notebook's `choose_model` applied it to the median of the "
            "rounds, then to each round on its own.",
            f"- Budget: p95 <= {d.budget_ms:g} ms to embed one query{note}. Percentiles do "
            "not add, so subtracting the other steps' p95 is a rule of thumb: confirm with "
            "the end-to-end p95 of the running system.",
            f"- Quality on {self.dataset}: trec_eval metrics computed in this run, from "
            "vectors this run embedded or read from the embedding cache (same model, "
            "revision and settings). Loss: mean per-query nDCG@10 of "
            f"`{t.attrs.get('best')}` (the best) minus the model's, with a 95% paired "
            f"bootstrap interval over the {n_q} queries (scipy BCa, {resamples:,} resamples, "
            "seed 0).",
            f"- Latency, measured in this run on {self.device} in interleaved rounds: "
            f"{lat.statement()} On a CPU the p95 is CPU time (`time.process_time`), which "
            "estimates an idle core; the wall clock also counts waits for a core. Each round "
            f"times every model on the same {lat.n_queries} queries, one `encode_query` call "
            f"each (after {lat.warmup} warm-up calls per model before the first round; the "
            "order of the models rotates); each round's p95 comes from those calls.",
            *(f"- Doubtful: {f}" for f in lat.findings()),
            *([sweep] if sizes else []),
            "- Memory for 1M documents: arithmetic (documents x dimensions x bytes), not measured.",
            "- Measure on the hardware you will serve from: these numbers describe this "
            "machine, on this day, under this load.",
            f"- Written on {self.created} by embedlab {__version__}.",
            "",
            "| model | nDCG@10 | MRR@10 | P@10 | R@10 | loss (95% interval) | p95 ms "
            "(rounds' range) | wall-clock p95 ms | texts/s (knee) | dims "
            "| 1M docs: float32 / int8 / binary | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in t.iterrows():
            dims = int(r["dims"]) if pd.notna(r["dims"]) else None
            size = " / ".join(memory_footprint(1_000_000, dims)["size"]) if dims else "not known"
            loss = f"{r['loss']:.3f} ({r['loss_low']:.3f} to {r['loss_high']:.3f})"
            speed = (
                "-" if pd.isna(r["texts_per_s"]) else f"{r['texts_per_s']:.0f} ({r['knee']:.0f})"
            )
            lines.append(
                f"| `{name}` | {' | '.join(f'{r[m]:.3f}' for m in QUALITY)} "
                f"| {loss if name != t.attrs.get('best') else 'best'} "
                f"| {r['p95_ms']:.1f} ({r['p95_min']:.1f}-{r['p95_max']:.1f}) "
                f"| {r['wall_p95_ms']:.1f} | {speed} | {dims or '?'} | {size} "
                f"| {d.verdicts()[name]} |"
            )
        lines += [
            "",
            "## Provenance",
            "",
            "| model | source | repository | revision | weights sha256 |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| `{name}` | {' | '.join(self.provenance[name])} |" for name in t.index]
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        return self.markdown

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the markdown to ``path`` (folders are created); return the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.markdown, encoding="utf-8")
        return out


def decision_record(
    decision: Decision, *, models: Mapping[str, Any], dataset: Any, budget_note: str = ""
) -> DecisionRecord:
    """The record of a :class:`Decision` from :func:`decide` or :func:`select_model`.

    ``models`` (from :func:`embedlab.load_model`) give the provenance; ``budget_note`` says
    where the budget comes from, e.g. ``"200 ms end-to-end - 150 ms other steps - 10 ms"``.
    """
    from embedlab.models import device_info

    if not isinstance(decision, Decision):
        raise InvalidInputError(
            "decision must come from lab2.decide(...) or lab2.select_model(...)."
        )
    missing = [n for n in decision.table.index if n not in models]
    if missing:
        raise InvalidInputError(f"models has no entry for {missing}: pass every loaded model.")
    info = device_info(str(next(iter(models.values())).device))
    return DecisionRecord(
        decision,
        {name: _provenance(models[name]) for name in decision.table.index},
        f"{dataset.name} ({len(dataset.corpus)} documents, {len(dataset.queries)} queries)",
        f"{info['device']} ({info['device_name']})",
        budget_note,
    )


def warm(load: Callable[[str], Any]) -> None:
    """Fill the embedding cache with what the notebook reads through it: the course set's
    queries and documents for the three models (``evaluate_model`` and, for the own-data
    cell on the course folder, ``evaluate_chunked``); a model ``load`` gives as ``None`` is
    skipped."""
    from embedlab.data import load_course_retrieval
    from embedlab.models import COURSE_MODELS
    from embedlab.retrieval import evaluate_model

    ds = load_course_retrieval()
    for model in filter(None, map(load, COURSE_MODELS)):
        evaluate_model(model, ds)
        evaluate_chunked(model, ds)


__all__ = [
    "HINTS",
    "LAB",
    "LEVEL",
    "MINUTES",
    "QUESTIONS",
    "TITLE",
    "Decision",
    "DecisionRecord",
    "LatencyRounds",
    "answer",
    "check_a",
    "check_b",
    "check_c",
    "check_d",
    "chosen_problem",
    "chunk_texts",
    "decide",
    "decision_record",
    "evaluate_chunked",
    "hint",
    "measure_rounds",
    "model_table",
    "needs",
    "review",
    "select_model",
    "warm",
]
