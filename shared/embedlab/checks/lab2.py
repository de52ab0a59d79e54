"""Checks for Lab 2 "Embedding Model Selection".

Each check accepts any correct answer and, for a wrong one, names the likely mistake. The
message of a passed check never contains a timing, so a notebook's output stays the same
from run to run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from embedlab.checks._result import CheckResult, failed, not_done, passed

__all__ = ["step_a", "step_b", "step_c", "step_d"]

_TOL = 1e-6


def _number(value: Any) -> float | None:
    """``value`` as a float, or ``None`` if it is not a finite real number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, Real) or not math.isfinite(float(value)):
        return None
    return float(value)


def _close(a: float, b: float, tol: float = _TOL) -> bool:
    return abs(a - b) <= tol


# --------------------------------------------------------------------------- step a


def _ranking(run: Mapping[str, Mapping[str, float]], query_id: str) -> list[str]:
    docs = run[query_id]
    return sorted(docs, key=lambda d: (docs[d], d), reverse=True)  # trec_eval order


def step_a(
    query_id: str,
    p_at_k: Any,
    r_at_k: Any,
    rr: Any,
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    k: int = 10,
) -> CheckResult:
    """Precision@k, recall@k and reciprocal rank (MRR@k) of one query, computed by hand.

    Relevant means a grade >= 1; ranks start at 1; the reciprocal rank is 0 when no relevant
    document is in the top ``k``.

    Example:
        >>> step_a("q003", 0.2, 0.667, 0.5, run, qrels)
        # [PASSED] Step a: ...
    """
    step = "Step a"
    for label, value in (("p_at_k", p_at_k), ("r_at_k", r_at_k), ("rr", rr)):
        if value is None:
            return not_done(step, label)
    if query_id not in run or query_id not in qrels:
        return failed(step, f"query {query_id!r} is not in both the run and the qrels.")
    raw = {"p_at_k": p_at_k, "r_at_k": r_at_k, "rr": rr}
    values = {label: _number(value) for label, value in raw.items()}
    for label, value in values.items():
        if value is None:
            return failed(step, f"{label} must be a number, got {raw[label]!r}.")
    p, r, reciprocal = values["p_at_k"], values["r_at_k"], values["rr"]

    top = _ranking(run, query_id)[:k]
    grades = qrels[query_id]
    relevant = {d for d, g in grades.items() if g >= 1}
    judged = set(grades)
    hits = sum(d in relevant for d in top)
    ranks = [i for i, d in enumerate(top, start=1) if d in relevant]
    want_p, want_r = hits / k, hits / len(relevant)
    want_rr = 1 / ranks[0] if ranks else 0.0
    tol = 5e-4  # answers rounded to 3 decimals pass

    if not _close(p, want_p, tol):
        judged_hits = sum(d in judged for d in top)
        if _close(p, judged_hits / k, tol) and judged_hits != hits:
            hint = (
                " You counted every judged document; a grade of 0 means judged NOT relevant "
                "(a hard negative). Count grades >= 1 only."
            )
        elif _close(p, hits / len(relevant), tol):
            hint = " That is recall: precision divides by k, the number of documents retrieved."
        elif _close(p, hits, tol):
            hint = " That is the number of hits: divide by k."
        else:
            hint = ""
        return failed(
            step,
            f"precision@{k} = {p:.3f} is not right: count the relevant documents in "
            f"the top {k} and divide by {k}.{hint}",
        )
    if not _close(r, want_r, tol):
        judged_relevant = len(judged)
        if _close(r, hits / k, tol):
            hint = " You divided by k: recall divides by the number of relevant documents."
        elif _close(r, sum(d in judged for d in top) / max(judged_relevant, 1), tol):
            hint = " Grade-0 documents are judged not relevant: count grades >= 1 only."
        elif _close(r, hits / max(judged_relevant, 1), tol):
            hint = (
                " You divided by every judged document; grade-0 ones are not relevant, so "
                "divide by the documents with grade >= 1."
            )
        else:
            hint = ""
        return failed(
            step,
            f"recall@{k} = {r:.3f} is not right: relevant documents found in the top "
            f"{k}, divided by all relevant documents of the query.{hint}",
        )
    if not _close(reciprocal, want_rr, tol):
        hint = ""
        if ranks and ranks[0] > 1 and _close(reciprocal, 1 / (ranks[0] - 1), tol):
            hint = " Off by one: ranks start at 1, so use 1 / (index + 1) with a 0-based index."
        elif ranks and _close(reciprocal, 1 / (ranks[0] + 1), tol):
            hint = " Off by one: the first document has rank 1."
        elif ranks and _close(reciprocal, float(ranks[0]), tol):
            hint = " That is the rank itself; the reciprocal rank is 1 / rank."
        elif ranks and _close(reciprocal, float(np.mean([1 / x for x in ranks])), tol):
            hint = " Use only the FIRST relevant document, not the mean over all of them."
        else:
            first_judged = [i for i, d in enumerate(top, start=1) if d in judged]
            if first_judged and _close(reciprocal, 1 / first_judged[0], tol):
                hint = " The first judged document has grade 0 (not relevant): skip it."
        return failed(
            step,
            f"reciprocal rank = {reciprocal:.3f} is not right: 1 / rank of the first "
            f"relevant document in the top {k} (0 if there is none).{hint}",
        )
    return passed(step, f"precision@{k}, recall@{k} and reciprocal rank of {query_id} are right.")


# --------------------------------------------------------------------------- step b


def _per_query(x: Any, metric: str) -> pd.Series:
    table = getattr(x, "per_query", x)
    if isinstance(table, pd.DataFrame):
        return table[metric].astype(float)
    return pd.Series(x, dtype=float)


def step_b(
    mean_diff: Any,
    significant: Any,
    a: Any,
    b: Any,
    test: Mapping[str, float],
    *,
    metric: str = "nDCG@10",
    alpha: float = 0.05,
) -> CheckResult:
    """The mean per-query difference A - B, and a significance call consistent with the test.

    ``test`` is the output of :func:`embedlab.paired_bootstrap` (``ci_low``, ``ci_high``,
    ``p_value``) or of :func:`embedlab.paired_permutation_test` (``p_value``). Significant
    at level ``alpha`` means ``p < alpha`` and, when a confidence interval is given, an
    interval that excludes 0. When the two disagree (a borderline case) either answer passes.

    Example:
        >>> step_b(0.07, True, mpnet, minilm, boot)
        # [PASSED] Step b: ...
    """
    step = "Step b"
    if mean_diff is None:
        return not_done(step, "mean_diff")
    if significant is None:
        return not_done(step, "significant")
    sa, sb = _per_query(a, metric), _per_query(b, metric)
    if len(sa) != len(sb):
        return failed(step, "a and b must be scored on the same queries.")
    if isinstance(sa.index, pd.RangeIndex) or isinstance(sb.index, pd.RangeIndex):
        sb = pd.Series(sb.to_numpy(), index=sa.index)
    else:
        sb = sb.reindex(sa.index)
    diff = (sa - sb).to_numpy(dtype=float)
    want = float(diff.mean())
    got = _number(mean_diff)
    if got is None:
        return failed(step, f"mean_diff must be a number, got {mean_diff!r}.")
    if not _close(got, want, 5e-4):
        if _close(got, -want, 5e-4):
            hint = " The sign is flipped: compute A - B (the first system minus the second)."
        elif _close(got, float(np.median(diff)), 5e-4):
            hint = " That is the median; use the mean of the per-query differences."
        elif _close(got, float(np.abs(diff).mean()), 5e-4):
            hint = " Do not take absolute values: losses must cancel wins."
        else:
            hint = f" Use the {metric!r} column of both per_query tables."
        return failed(step, f"mean_diff = {got:.4f} is not the mean per-query difference.{hint}")
    if not isinstance(significant, (bool, np.bool_)):
        return failed(step, f"significant must be True or False, got {significant!r}.")
    p = _number(test.get("p_value"))
    if p is None:
        return failed(step, "test has no p_value: pass the dict from paired_bootstrap().")
    by_p = p < alpha
    has_ci = "ci_low" in test and "ci_high" in test
    by_ci = has_ci and not (test["ci_low"] <= 0 <= test["ci_high"])
    expected = {by_p, by_ci} if has_ci else {by_p}
    if bool(significant) not in expected:
        ci = f", 95% CI [{test['ci_low']:.3f}, {test['ci_high']:.3f}]" if has_ci else ""
        if significant:
            why = (
                f"p = {p:.3f}{ci}: the interval contains 0 and p >= {alpha}, so a difference "
                "this size could be noise. A positive mean difference is not enough."
            )
        else:
            why = f"p = {p:.3f} < {alpha}{ci} (0 is outside the interval): it is significant."
        return failed(step, f"significant = {bool(significant)} does not match the test: {why}")
    return passed(step, "the mean difference and the significance call match the test.")


# --------------------------------------------------------------------------- step c


def _knee(sweep: pd.DataFrame, fraction: float) -> int:
    best = sweep["texts_per_s"].max()
    return int(sweep.index[sweep["texts_per_s"] >= fraction * best][0])


def step_c(
    knees: Mapping[str, Any], sweeps: Mapping[str, pd.DataFrame], fraction: float = 0.9
) -> CheckResult:
    """The knee of each batch sweep: the smallest batch size reaching ``fraction`` of the best
    throughput.

    Example:
        >>> step_c({"all-MiniLM-L6-v2": 16}, sweeps)
        # [PASSED] Step c: ...
    """
    step = "Step c"
    if knees is None:
        return not_done(step, "knees")
    for name, sweep in sweeps.items():
        if name not in knees or knees[name] is None:
            return not_done(step, f"knees[{name!r}]")
        got = _number(knees[name])
        if got is None or not float(got).is_integer():
            return failed(step, f"knees[{name!r}] must be a batch size (an integer).")
        want = _knee(sweep, fraction)
        if int(got) == want:
            continue
        tps = sweep["texts_per_s"]
        best_batch = int(tps.idxmax())
        if int(got) not in sweep.index:
            if any(_close(got, float(v), 0.5) for v in tps):
                hint = " That is a throughput; the knee is a batch size (the table's index)."
            else:
                hint = f" The knee is one of the batch sizes measured: {list(sweep.index)}."
        elif int(got) == best_batch:
            hint = (
                f" That batch size has the best throughput; a smaller one already reaches "
                f"{fraction:.0%} of it, which is the knee."
            )
        elif float(tps.loc[int(got)]) < fraction * float(tps.max()):
            hint = f" It does not reach {fraction:.0%} of the best throughput."
        else:
            hint = f" It reaches {fraction:.0%} of the best, but a smaller batch size does too."
        return failed(step, f"knees[{name!r}] = {int(got)} is not the knee.{hint}")
    return passed(step, f"the knee of every sweep is right ({fraction:.0%} of best throughput).")


# --------------------------------------------------------------------------- step d


def _reference_choice(table: pd.DataFrame, budget: float, metric: str) -> set[str]:
    """Models the rule allows: best ``metric`` within the budget (all exact ties allowed)."""
    eligible = table[table["p95_ms"] <= budget]
    if eligible.empty:
        return set()
    best = eligible[metric].max()
    return {str(m) for m in eligible.index[np.isclose(eligible[metric], best, rtol=0, atol=1e-12)]}


def step_d(
    record: Any,
    results: Mapping[str, Any],
    latency: Mapping[str, Mapping[str, float]],
    throughput: Mapping[str, Any],
) -> CheckResult:
    """The decision record's numbers are this run's, and its model follows its rule.

    Verifies: a positive latency budget; every model's quality (the record's metric and the
    other metrics it shows) equals ``results``; p95 latency and throughput equal the
    measurements; the chosen model is the best by the metric among those within the budget
    (``None`` only when no model is); the markdown names the chosen model, its pinned
    revision or weights hash, the price date and the package version.

    Example:
        >>> step_d(record, results, latency, sweeps)
        # [PASSED] Step d: ...
    """
    step = "Step d"
    if record is None:
        return not_done(step, "record")
    for attr in ("table", "chosen", "budget_ms", "metric", "markdown"):
        if not hasattr(record, attr):
            return failed(step, "record must be the object returned by decision_record(...).")
    budget = _number(record.budget_ms)
    if budget is None or budget <= 0:
        return failed(
            step,
            f"the latency budget must be a positive number of ms, got "
            f"{record.budget_ms!r}. Set LATENCY_BUDGET_MS.",
        )
    table: pd.DataFrame = record.table
    metric = record.metric
    missing = [n for n in results if n not in table.index]
    if missing:
        return failed(step, f"the record has no row for {missing}: include every model measured.")

    for name, res in results.items():
        summary = getattr(res, "summary", res)
        for m in {metric, "nDCG@10", "MRR@10", "R@10", "P@10"}:
            if (
                m in table.columns
                and m in summary
                and not _close(float(table.loc[name, m]), float(summary[m]), 1e-9)
            ):
                return failed(
                    step,
                    f"the record's {m} for {name} ({float(table.loc[name, m]):.4f}) is not the "
                    f"measured {float(summary[m]):.4f}: rebuild the table from this run's results "
                    "(never type numbers by hand).",
                )
        lat = latency[name]
        if not np.isclose(float(table.loc[name, "p95_ms"]), float(lat["p95_ms"]), rtol=1e-9):
            hint = ""
            if "p50_ms" in lat and np.isclose(
                float(table.loc[name, "p95_ms"]), float(lat["p50_ms"]), rtol=1e-9
            ):
                hint = " That is the median (p50); the budget applies to the p95."
            return failed(
                step,
                f"the record's p95 latency for {name} is not the measured one.{hint}",
            )
        thr = throughput[name]
        if isinstance(thr, pd.DataFrame):
            want_tps = float(thr["texts_per_s"].max())
        elif isinstance(thr, Mapping):
            want_tps = float(thr["texts_per_s"])
        else:
            want_tps = float(thr)
        if not np.isclose(float(table.loc[name, "texts_per_s"]), want_tps, rtol=1e-9):
            return failed(
                step, f"the record's throughput for {name} is not the measured (best) one."
            )

    allowed = _reference_choice(table.loc[list(results)], budget, metric)
    chosen = record.chosen
    if not allowed:
        if chosen is not None:
            return failed(
                step,
                f"no model has p95 <= {budget:g} ms, so the rule chooses none (None), but the "
                f"record chose {chosen}. Relax the budget, or return None.",
            )
    elif chosen not in allowed:
        if chosen is None:
            return failed(
                step, "choose_model returned None, but some models are within the budget."
            )
        row = table.loc[chosen]
        best_overall = table[metric].idxmax()
        fastest = table["texts_per_s"].idxmax()
        if row["p95_ms"] > budget:
            hint = f"its p95 ({row['p95_ms']:.1f} ms) is over the budget of {budget:g} ms."
            if "p50_ms" in table.columns and row["p50_ms"] <= budget:
                hint += " Its median fits, but the budget is on the p95."
            elif chosen == best_overall:
                hint += " The best quality is only allowed within the budget."
        elif chosen == fastest:
            hint = (
                f"it is the fastest, but the rule picks the highest {metric} among the models "
                "within the budget."
            )
        else:
            hint = f"a model within the budget has a higher {metric}."
        return failed(step, f"{chosen} does not follow the rule: {hint}")

    text = record.markdown
    needed = [getattr(record, "prices_as_of", ""), getattr(record, "package_version", "")]
    if chosen is not None:
        needed.append(chosen)
        prov = getattr(record, "provenance", {}).get(chosen, {})
        pin = prov.get("revision") or (prov.get("weights_sha256") or "")[:12]
        if not pin:
            return failed(
                step,
                "the record pins no revision or weights hash for the chosen model: pass "
                "models=... to decision_record.",
            )
        needed.append(pin)
    needed += [f"{float(table.loc[n, metric]):.3f}" for n in results]
    absent = [s for s in needed if s and s not in text]
    if absent:
        return failed(step, f"the markdown lacks {absent}: render it with record.markdown.")
    return passed(
        step,
        "the record's numbers are this run's, and the chosen model follows the rule "
        f"(best {metric} within the p95 budget).",
    )
