"""Lab 2 checks accept the reference answers and explain the typical mistakes.

Synthetic runs, qrels and sweeps only: no model is loaded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embedlab.checks import lab2
from embedlab.decision import decision_record, model_table
from embedlab.retrieval import RetrievalScores, paired_bootstrap

# ----------------------------------------------------------------------------- step a

# Ranking: d0 (not judged), d1 (grade 0: hard negative), d2 (2), d3, d4 (1), d5 ... d9.
# Relevant: d2, d4 and d20 (not retrieved). P@10 = 2/10, R@10 = 2/3, RR = 1/3.
RUN = {"q": {f"d{i}": 1.0 - i / 100 for i in range(12)}}
QRELS = {"q": {"d1": 0, "d2": 2, "d4": 1, "d20": 1}}


def _a(p, r, rr):
    return lab2.step_a("q", p, r, rr, RUN, QRELS, k=10)


def test_step_a_accepts_exact_and_rounded_answers():
    assert _a(0.2, 2 / 3, 1 / 3)
    assert _a(np.float64(0.2), 0.667, 0.333)
    result = _a(0.2, 2 / 3, 1 / 3)
    assert result.passed and "right" in result.message


def test_step_a_not_done_and_bad_types():
    r = _a(None, 0.5, 0.5)
    assert not r and "p_at_k is still None" in r.message
    r = _a(0.2, "0.66", 0.3)
    assert not r and "must be a number" in r.message
    r = lab2.step_a("nope", 0.2, 0.6, 0.3, RUN, QRELS)
    assert not r and "not in both" in r.message


def test_step_a_explains_grade_zero_counted_as_relevant():
    r = _a(0.3, 2 / 3, 1 / 3)  # d1 (grade 0) counted as a hit
    assert not r and "grade of 0" in r.message
    r = _a(0.2, 0.5, 1 / 3)  # recall divided by every judged doc (4)
    assert not r and "grade-0" in r.message.lower()
    r = _a(0.2, 2 / 3, 0.5)  # first judged document (grade 0, rank 2) taken as the first hit
    assert not r and ("Off by one" in r.message or "grade 0" in r.message)


def test_step_a_explains_recall_divided_by_k():
    r = _a(0.2, 0.2, 1 / 3)
    assert not r and "You divided by k" in r.message


def test_step_a_explains_precision_mistakes():
    r = _a(2 / 3, 2 / 3, 1 / 3)
    assert not r and "That is recall" in r.message
    r = _a(2, 2 / 3, 1 / 3)
    assert not r and "number of hits" in r.message


def test_step_a_explains_off_by_one_reciprocal_rank():
    r = _a(0.2, 2 / 3, 0.25)  # 1 / (rank + 1)
    assert not r and "Off by one" in r.message
    r = _a(0.2, 2 / 3, 3)  # the rank itself
    assert not r and "rank itself" in r.message
    r = _a(0.2, 2 / 3, (1 / 3 + 1 / 5) / 2)  # mean over all relevant ranks
    assert not r and "FIRST" in r.message


def test_step_a_off_by_one_with_zero_based_index():
    run = {"q": {"a": 0.9, "b": 0.8, "c": 0.7}}
    qrels = {"q": {"c": 1}}
    assert lab2.step_a("q", 0.1, 1.0, 1 / 3, run, qrels, k=10)
    r = lab2.step_a("q", 0.1, 1.0, 0.5, run, qrels, k=10)  # 1 / index with index 2
    assert not r and "Off by one" in r.message


def test_step_a_no_relevant_document_in_top_k():
    run = {"q": {"a": 0.9, "b": 0.8}}
    qrels = {"q": {"z": 1}}
    assert lab2.step_a("q", 0.0, 0.0, 0.0, run, qrels, k=2)


# ----------------------------------------------------------------------------- step b


@pytest.fixture
def per_query():
    rng = np.random.default_rng(0)
    ids = [f"q{i}" for i in range(40)]
    b = pd.DataFrame({"nDCG@10": rng.uniform(0.3, 0.9, 40)}, index=ids)
    a_big = b + rng.normal(0.15, 0.05, (40, 1))  # clearly better
    a_same = b + rng.normal(0.0, 0.1, (40, 1))  # noise only
    return a_big, a_same, b


def test_step_b_accepts_correct_answers(per_query):
    a_big, a_same, b = per_query
    boot = paired_bootstrap(a_big, b, n_resamples=2000)
    diff = (a_big["nDCG@10"] - b["nDCG@10"]).mean()
    assert boot["p_value"] < 0.05
    assert lab2.step_b(diff, True, a_big, b, boot)
    assert lab2.step_b(round(diff, 3), np.bool_(True), a_big, b, boot)
    boot0 = paired_bootstrap(a_same, b, n_resamples=2000)
    assert boot0["p_value"] >= 0.05
    diff0 = (a_same["nDCG@10"] - b["nDCG@10"]).mean()
    assert lab2.step_b(diff0, False, a_same, b, boot0)
    # RetrievalScores are accepted too
    sa = RetrievalScores({}, a_big)
    sb = RetrievalScores({}, b)
    assert lab2.step_b(diff, True, sa, sb, boot)


def test_step_b_rejects_a_positive_difference_called_significant(per_query):
    _, a_same, b = per_query
    boot = paired_bootstrap(a_same, b, n_resamples=2000)
    diff = (a_same["nDCG@10"] - b["nDCG@10"]).mean()
    r = lab2.step_b(diff, True, a_same, b, boot)
    assert not r and "could be noise" in r.message and "CI" in r.message


def test_step_b_rejects_missing_significance(per_query):
    a_big, _, b = per_query
    boot = paired_bootstrap(a_big, b, n_resamples=2000)
    diff = (a_big["nDCG@10"] - b["nDCG@10"]).mean()
    r = lab2.step_b(diff, False, a_big, b, boot)
    assert not r and "it is significant" in r.message
    r = lab2.step_b(diff, "yes", a_big, b, boot)
    assert not r and "True or False" in r.message
    r = lab2.step_b(diff, None, a_big, b, boot)
    assert not r and "significant is still None" in r.message


def test_step_b_explains_difference_mistakes(per_query):
    a_big, _, b = per_query
    boot = paired_bootstrap(a_big, b, n_resamples=2000)
    d = a_big["nDCG@10"] - b["nDCG@10"]
    r = lab2.step_b(-d.mean(), True, a_big, b, boot)
    assert not r and "sign is flipped" in r.message
    r = lab2.step_b(d.median(), True, a_big, b, boot)
    assert not r and "median" in r.message
    r = lab2.step_b(None, True, a_big, b, boot)
    assert not r and "mean_diff is still None" in r.message


def test_step_b_borderline_accepts_either():
    a = pd.Series([0.5, 0.6, 0.7])
    b = pd.Series([0.4, 0.6, 0.6])
    test = {"p_value": 0.04, "ci_low": -0.01, "ci_high": 0.2}  # p and CI disagree
    diff = float((a - b).mean())
    assert lab2.step_b(diff, True, a, b, test)
    assert lab2.step_b(diff, False, a, b, test)
    assert lab2.step_b(diff, True, a, b, {"p_value": 0.01})  # permutation test: p only


# ----------------------------------------------------------------------------- step c


def _sweep(tps):
    return pd.DataFrame({"texts_per_s": tps}, index=pd.Index([1, 2, 4, 8, 16], name="batch_size"))


SWEEPS = {"m": _sweep([10.0, 30.0, 80.0, 95.0, 100.0]), "s": _sweep([500.0, 900.0, 1000, 980, 990])}


def test_step_c_accepts_the_knee():
    assert lab2.step_c({"m": 8, "s": 2}, SWEEPS)
    assert lab2.step_c({"m": np.int64(8), "s": 2.0}, SWEEPS)
    assert lab2.step_c({"m": 4, "s": 2}, SWEEPS, fraction=0.8)


def test_step_c_explains_best_batch_instead_of_knee():
    r = lab2.step_c({"m": 16, "s": 2}, SWEEPS)
    assert not r and "best throughput" in r.message and "knees['m'] = 16" in r.message


def test_step_c_explains_other_mistakes():
    r = lab2.step_c({"m": 4, "s": 2}, SWEEPS)
    assert not r and "does not reach 90%" in r.message
    r = lab2.step_c({"m": 8, "s": 8}, SWEEPS)
    assert not r and "a smaller batch size does too" in r.message
    r = lab2.step_c({"m": 95.0, "s": 2}, SWEEPS)
    assert not r and "That is a throughput" in r.message
    r = lab2.step_c({"m": 8}, SWEEPS)
    assert not r and "knees['s'] is still None" in r.message
    r = lab2.step_c({"m": 8.5, "s": 2}, SWEEPS)
    assert not r and "integer" in r.message


# ----------------------------------------------------------------------------- step d


def _scores(ndcg):
    s = {"P@10": 0.2, "R@10": 0.8, "MRR@10": ndcg + 0.05, "nDCG@10": ndcg, "MAP": 0.5}
    return RetrievalScores(s, pd.DataFrame([s], index=["q1"]))


class _Model:
    def __init__(self, sha):
        self.embedlab_info = {
            "name": "m",
            "source": "test",
            "revision": None,
            "weights_sha256": sha,
        }


@pytest.fixture
def study():
    results = {"small": _scores(0.70), "large": _scores(0.80), "static": _scores(0.50)}
    latency = {
        "small": {"p50_ms": 8.0, "p95_ms": 12.0},
        "large": {"p50_ms": 18.0, "p95_ms": 45.0},
        "static": {"p50_ms": 0.2, "p95_ms": 0.4},
    }
    sweeps = {
        "small": _sweep([50.0, 100.0, 140.0, 150.0, 160.0]),
        "large": _sweep([5.0, 10.0, 15.0, 20.0, 22.0]),
        "static": _sweep([3000.0, 6000.0, 8000.0, 9000.0, 8500.0]),
    }
    dims = {"small": 384, "large": 768, "static": 256}
    models = {n: _Model(f"{i:02d}" * 32) for i, n in enumerate(results)}
    table = model_table(results, latency, sweeps, dims)
    return table, results, latency, sweeps, models


def _record(study, chosen, budget=20.0, **kw):
    table, *_, models = study
    return decision_record(table, chosen, budget_ms=budget, models=models, **kw)


def test_step_d_accepts_the_rule(study):
    _, results, latency, sweeps, _ = study
    r = lab2.step_d(_record(study, "small"), results, latency, sweeps)
    assert r, r.message
    # a looser budget admits the large model, which then is the right choice
    assert lab2.step_d(_record(study, "large", budget=50), results, latency, sweeps)
    # nothing fits: None is right
    assert lab2.step_d(_record(study, None, budget=0.1), results, latency, sweeps)
    # another metric is fine when the record says so
    assert lab2.step_d(_record(study, "small", metric="MRR@10"), results, latency, sweeps)


def test_step_d_message_is_the_same_whatever_the_choice(study):
    _, results, latency, sweeps, _ = study
    a = lab2.step_d(_record(study, "small"), results, latency, sweeps)
    b = lab2.step_d(_record(study, None, budget=0.1), results, latency, sweeps)
    assert a.message == b.message


def test_step_d_rejects_best_quality_over_budget(study):
    _, results, latency, sweeps, _ = study
    r = lab2.step_d(_record(study, "large", budget=15), results, latency, sweeps)
    assert not r and "over the budget" in r.message and "best quality" in r.message


def test_step_d_rejects_p50_instead_of_p95(study):
    _, results, latency, sweeps, _ = study
    r = lab2.step_d(_record(study, "large", budget=20), results, latency, sweeps)
    assert not r and "median fits" in r.message


def test_step_d_rejects_fastest_instead_of_best(study):
    _, results, latency, sweeps, _ = study
    r = lab2.step_d(_record(study, "static"), results, latency, sweeps)
    assert not r and "fastest" in r.message


def test_step_d_rejects_none_when_a_model_fits_and_a_choice_when_none_does(study):
    _, results, latency, sweeps, _ = study
    r = lab2.step_d(_record(study, None), results, latency, sweeps)
    assert not r and "returned None" in r.message
    r = lab2.step_d(_record(study, "static", budget=0.1), results, latency, sweeps)
    assert not r and "chooses none" in r.message


def test_step_d_rejects_numbers_that_are_not_this_runs(study):
    table, results, latency, sweeps, models = study
    edited = table.copy()
    edited.loc["small", "nDCG@10"] = 0.75  # typed by hand
    record = decision_record(edited, "small", budget_ms=20, models=models)
    r = lab2.step_d(record, results, latency, sweeps)
    assert not r and "nDCG@10 for small" in r.message and "never type numbers" in r.message
    slow = {**latency, "small": {"p50_ms": 8.0, "p95_ms": 13.0}}
    r = lab2.step_d(_record(study, "small"), results, slow, sweeps)
    assert not r and "p95 latency for small" in r.message
    p50_table = table.copy()
    p50_table["p95_ms"] = [latency[n]["p50_ms"] for n in p50_table.index]
    record = decision_record(p50_table, "small", budget_ms=20, models=models)
    r = lab2.step_d(record, results, latency, sweeps)
    assert not r and "median (p50)" in r.message
    faster = {**sweeps, "large": _sweep([5.0, 10.0, 15.0, 20.0, 30.0])}
    r = lab2.step_d(_record(study, "small"), results, latency, faster)
    assert not r and "throughput for large" in r.message


def test_step_d_requires_a_budget_a_record_and_provenance(study):
    table, results, latency, sweeps, _ = study
    r = lab2.step_d(None, results, latency, sweeps)
    assert not r and "record is still None" in r.message
    r = lab2.step_d(table, results, latency, sweeps)
    assert not r and "decision_record" in r.message
    record = _record(study, "small")
    record.budget_ms = -1
    r = lab2.step_d(record, results, latency, sweeps)
    assert not r and "LATENCY_BUDGET_MS" in r.message
    unpinned = decision_record(table, "small", budget_ms=20)  # no models=...
    r = lab2.step_d(unpinned, results, latency, sweeps)
    assert not r and "pins no revision" in r.message
    short = decision_record(table.drop(index="static"), "small", budget_ms=20)
    r = lab2.step_d(short, results, latency, sweeps)
    assert not r and "no row for ['static']" in r.message
