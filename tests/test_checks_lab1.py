"""Lab 1 checks: each passes the reference answer and the library's or helper's answer, and
explains the typical mistakes; hints, reference answers and review questions work."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

import embedlab
from embedlab.checks import ExerciseNotDone, lab1

ROOT = Path(__file__).resolve().parent.parent
MINI, STATIC = "all-MiniLM-L6-v2", "static-MiniLM-L6-v2-256d"


@pytest.fixture(scope="module")
def data(minilm, static_model):
    df = embedlab.load_sentences()
    texts, topics = df["text"].tolist(), df["topic"].tolist()
    models = {MINI: minilm, STATIC: static_model}
    emb = {n: m.encode_document(texts, normalize_embeddings=True) for n, m in models.items()}
    return texts, topics, models, emb


@pytest.fixture(scope="module")
def tokens(minilm):
    from sentence_transformers.util import batch_to_device

    batch = ["Reset your password.", "Preheat the oven.", "Enable a second login step today."]
    features = batch_to_device(minilm.preprocess(batch), minilm.device)
    with torch.no_grad():
        tok = minilm[0](features)["token_embeddings"]
    return batch, features, tok, features["attention_mask"]


# --- step 0 -----------------------------------------------------------------------------
def test_0_passes_mean_pooling_before_or_after_normalising_and_the_library(minilm, tokens):
    batch, features, tok, mask = tokens
    pooled = (tok * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    assert lab1.step_0(pooled, tok, mask, minilm, batch)
    unit = torch.nn.functional.normalize(pooled, dim=1)
    assert lab1.step_0(unit.numpy(), tok, mask, minilm, batch)
    library = minilm[1](dict(features, token_embeddings=tok))["sentence_embedding"]
    assert lab1.step_0(library, tok, mask, minilm, batch)  # sentence-transformers' Pooling


def test_0_explains_typical_mistakes(minilm, tokens):
    batch, _, tok, mask = tokens
    m = mask.unsqueeze(-1)
    r = lab1.step_0(tok.mean(1), tok, mask, minilm, batch)
    assert not r and "averaged the padding too" in r.message
    r = lab1.step_0((tok * m).sum(1), tok, mask, minilm, batch)
    assert not r and "sum of the real tokens, not their mean" in r.message
    r = lab1.step_0((tok * m).sum(1) / tok.shape[1], tok, mask, minilm, batch)
    assert not r and "padded length" in r.message
    r = lab1.step_0((tok * m).mean(-1), tok, mask, minilm, batch)
    assert not r and "hidden dimension" in r.message and "(3, 384)" in r.message
    r = lab1.step_0(None, tok, mask, minilm, batch)
    assert not r and "sentence_embeddings is still None" in r.message
    assert "checks.lab1.hint('0')" in r.message and "answer('0')" in r.message


# --- step a -----------------------------------------------------------------------------
def test_a_passes_reference_encode_and_helper(data):
    texts, _, models, emb = data
    assert lab1.step_a(emb, texts, models)
    plain = {n: m.encode(texts, convert_to_tensor=True) for n, m in models.items()}  # tensors
    assert lab1.step_a(plain, texts, models)
    assert lab1.step_a({n: embedlab.embed(m, texts) for n, m in models.items()}, texts, models)


def test_a_explains_typical_mistakes(data):
    texts, _, models, emb = data
    r = lab1.step_a({n: None for n in models}, texts, models)
    assert not r and "still None" in r.message
    r = lab1.step_a({MINI: emb[STATIC], STATIC: emb[MINI]}, texts, models)
    assert not r and "another model's output" in r.message
    r = lab1.step_a({n: e[::-1] for n, e in emb.items()}, texts, models)
    assert not r and "order of `texts`" in r.message
    r = lab1.step_a({n: e[:10] for n, e in emb.items()}, texts, models)
    assert not r and "10 rows for 96 sentences" in r.message
    r = lab1.step_a({n: e * 3 for n, e in emb.items()}, texts, models)
    assert not r and "not unit length" in r.message
    r = lab1.step_a(emb[MINI], texts, models)
    assert not r and "fill the dict" in r.message


# --- step b -----------------------------------------------------------------------------
def test_b_passes_numpy_library_and_helper(data):
    _, _, models, emb = data
    assert lab1.step_b({n: e @ e.T for n, e in emb.items()}, emb)
    assert lab1.step_b({n: models[n].similarity(e, e) for n, e in emb.items()}, emb)
    assert lab1.step_b({n: embedlab.similarity(e) for n, e in emb.items()}, emb)


def test_b_explains_typical_mistakes(data):
    _, _, _, emb = data
    r = lab1.step_b({n: 1 - e @ e.T for n, e in emb.items()}, emb)
    assert not r and "distance, not a similarity" in r.message
    r = lab1.step_b({n: e.T @ e for n, e in emb.items()}, emb)
    assert not r and "E.T @ E compares dimensions" in r.message
    r = lab1.step_b({MINI: emb[STATIC] @ emb[STATIC].T, STATIC: emb[STATIC] @ emb[STATIC].T}, emb)
    assert not r and f"cosine matrix of {STATIC!r}" in r.message
    raw = {n: 2 * e for n, e in emb.items()}
    r = lab1.step_b({n: e @ e.T for n, e in raw.items()}, raw)
    assert not r and "not unit length" in r.message
    r = lab1.step_b({MINI: None, STATIC: None}, emb)
    assert not r and "sims['all-MiniLM-L6-v2'] is still None" in r.message


# --- step c -----------------------------------------------------------------------------
LAT = [11.9, 11.9, 11.9, 12.0, 12.3, 12.5, 12.9, 13.4, 15.0, 41.0, 11.9, 12.1]


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint", "hazen"])
def test_c_accepts_any_percentile_method(method):
    p50, p95 = np.percentile(LAT, [50, 95], method=method)
    assert lab1.step_c(LAT, p50, p95, 96, 0.8, 96 / 0.8)


def test_c_accepts_float32_torch_answers():
    """Regression: a float32 quantile was refused with 'p50 = 11.9, but between 11.9 and 11.9'."""
    lat = torch.tensor(LAT, dtype=torch.float32)
    p50, p95 = lat.quantile(0.5), lat.quantile(0.95)
    assert lab1.step_c(LAT, p50, p95, 96, 0.8, torch.tensor(96 / 0.8))
    assert lab1.step_c(LAT, np.float32(np.median(LAT)), p95.item(), 96, 0.8, np.float32(120.0))


def test_c_explains_typical_mistakes():
    p50, p95 = np.percentile(LAT, [50, 95])
    r = lab1.step_c(LAT, np.mean(LAT), p95, 96, 0.8, 120.0)
    assert not r and "That is the mean" in r.message
    r = lab1.step_c(LAT, p50, np.percentile(LAT, 0.95), 96, 0.8, 120.0)
    assert not r and "takes a percent (0-100)" in r.message
    r = lab1.step_c(LAT, p50 / 1000, p95, 96, 0.8, 120.0)
    assert not r and "units" in r.message
    r = lab1.step_c(LAT, p50, p95, 96, 0.8, 0.8 / 96)
    assert not r and "seconds per text" in r.message
    r = lab1.step_c(LAT, p50, p95, 96, 0.8, len(LAT) / 0.8)
    assert not r and "len(texts) = 96" in r.message
    r = lab1.step_c(LAT, p50, p95, 96, 0.8, None)
    assert not r and "throughput is still None" in r.message


def test_c_prints_enough_digits_to_tell_numbers_apart():
    """Regression: a nearly right value printed as 'p50 = 11.9 ms ... between 11.9 and 11.9'."""
    p50, p95 = np.percentile(LAT, [50, 95])
    r = lab1.step_c([11.9] * 10, 11.9 * 1.001, 11.9, 96, 0.8, 120.0)
    assert not r and "p50 = 11.91 ms, but the 50th percentile is 11.9 ms" in r.message
    assert lab1.step_c(LAT, p50 * (1 + 5e-5), p95, 96, 0.8, 120.0)  # within 1e-4 relative


# --- step d -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def maps(data):
    _, _, _, emb = data
    return {
        n: TSNE(n_components=2, perplexity=15, method="exact", random_state=0).fit_transform(e)
        for n, e in emb.items()
    }


def test_d_passes_tsne_and_pca(data, maps):
    _, topics, _, emb = data
    assert lab1.step_d(maps, emb, topics, 15)
    pca = {n: PCA(n_components=2, random_state=0).fit_transform(e) for n, e in emb.items()}
    assert lab1.step_d(pca, emb, topics, 15)  # any 2-D map that keeps topics together


def test_d_explains_perplexity_with_one_advice(data, maps):
    _, topics, _, emb = data
    for value, size in ((40, "too large"), (2, "too small")):
        r = lab1.step_d(maps, emb, topics, value)
        assert not r and size in r.message and lab1.ADVICE in r.message
    r = lab1.step_d(maps, emb, topics, 100)
    assert not r and "TSNE refuses it" in r.message and lab1.ADVICE in r.message
    assert not lab1.step_d(maps, emb, topics, None)


def test_d_explains_typical_mistakes(data, maps):
    _, topics, _, emb = data
    estimator = {n: TSNE(perplexity=15) for n in emb}
    r = lab1.step_d(estimator, emb, topics, 15)
    assert not r and "fit_transform" in r.message
    r = lab1.step_d({n: maps[MINI] for n in emb}, emb, topics, 15)
    assert not r and "are the same map" in r.message
    other = TSNE(perplexity=10, method="exact", random_state=1).fit_transform(emb[MINI])
    r = lab1.step_d({MINI: maps[MINI], STATIC: other}, emb, topics, 15)
    assert not r and f"looks like a map of {MINI!r}'s vectors" in r.message
    shuffled = {n: np.random.default_rng(0).permutation(m) for n, m in maps.items()}
    r = lab1.step_d(shuffled, emb, topics, 15)
    assert not r and "order of the sentences" in r.message
    r = lab1.step_d({n: e[:, :3] for n, e in emb.items()}, emb, topics, 15)
    assert not r and "expected (96, 2)" in r.message


# --- needs, hints, answers, review ------------------------------------------------------
def test_needs_stops_until_the_exercise_passes(data):
    texts, _, models, emb = data
    lab1.step_a(None, texts, models)
    with pytest.raises(ExerciseNotDone, match="finish exercise a first"):
        lab1.needs("a")
    assert lab1.step_a(emb, texts, models)
    lab1.needs("a")


@pytest.mark.parametrize("step", ["0", "a", "b", "c", "d", "review"])
def test_hint_and_answer_work_for_every_exercise(step, capsys):
    lab1.hint(step)
    assert capsys.readouterr().out.strip() == lab1.HINTS[step]
    lab1.answer(step)
    expected = json.loads((ROOT / "shared/embedlab/labs/answers.json").read_text())["lab1"][step]
    assert capsys.readouterr().out.strip() == expected.strip()
    assert "# replaces:" in expected


def test_answers_use_the_libraries_directly():
    answers = json.loads((ROOT / "shared/embedlab/labs/answers.json").read_text())["lab1"]
    assert "encode_document" in answers["a"] and "embedlab" not in answers["a"]
    assert "@" in answers["b"] and "similarity" not in answers["b"]
    assert "TSNE(" in answers["d"] and "fit_transform" in answers["d"]


REVIEW = json.loads((ROOT / "shared/embedlab/checks/lab1_review.json").read_text())["questions"]


def test_review_marks_right_answers_and_explains_every_wrong_option(capsys):
    lab1.review({i: q["answer"] for i, q in enumerate(REVIEW, start=1)})
    assert f"{len(REVIEW)} of {len(REVIEW)} right" in capsys.readouterr().out
    for i, q in enumerate(REVIEW, start=1):
        assert set(q["why"]) == set(q["options"]) and q["answer"] in q["options"]
        for key in set(q["options"]) - {q["answer"]}:
            lab1.review({i: key})
            out = capsys.readouterr().out
            assert f"{i}. not quite ({key}): {q['why'][key]}" in out


# --- the notebook: guards and clean outputs ---------------------------------------------
SOLUTION = ROOT / "solutions" / "lab1_generate_and_compare.ipynb"
RESULTS = {"sentence_embeddings": "0", "embeddings": "a", "sims": "b", "coords": "d"}
SUFFICES = {"0": {"0"}, "a": {"a", "b", "d"}, "b": {"b"}, "d": {"d"}}  # b and d need a first


def test_cells_that_use_an_exercise_result_call_needs_first():
    """Regression: skipping exercise a broke later cells with deep NumPy/matplotlib errors."""
    import re

    nb = nbformat.read(SOLUTION, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    for var, step in RESULTS.items():
        made = next(i for i, s in enumerate(code) if f"lab1.check_{step}(" in s)
        for source in code[made + 1 :]:
            if re.search(rf"(?<![.\w]){var}\b", source) and "BEGIN SOLUTION" not in source:
                guarded = re.findall(r'lab1\.needs\("(\w+)"\)', source)
                assert guarded, f"a cell uses {var} without lab1.needs: {source[:80]!r}"
                assert SUFFICES[step] & set(guarded), f"{var} needs {step}: {source[:80]!r}"


def test_no_stored_output_writes_to_stderr():
    """Regression: tqdm's 'IProgress not found' warning was stored in the setup cell."""
    nb = nbformat.read(SOLUTION, as_version=4)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for out in cell.outputs:
            assert out.get("name") != "stderr", f"code cell {i}: {out.get('text', '')[:120]!r}"
            assert "IProgress" not in str(out.get("text", ""))
