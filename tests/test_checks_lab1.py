"""Lab 1 checks: each passes the reference answer (and other correct ones) and explains
typical mistakes."""

from __future__ import annotations

import numpy as np
import pytest

import embedlab
from embedlab.checks import lab1


@pytest.fixture(scope="module")
def setup(minilm, static_model):
    df = embedlab.load_sentences()
    texts = df["text"].tolist()[:40]
    topics = df["topic"].tolist()[:40]
    models = {"all-MiniLM-L6-v2": minilm, "static-MiniLM-L6-v2-256d": static_model}
    emb = {n: embedlab.embed(m, texts) for n, m in models.items()}
    return texts, topics, models, emb


# --- step a -----------------------------------------------------------------------------
def test_a_passes_reference_and_other_correct_answers(setup):
    texts, _, models, emb = setup
    assert lab1.step_a(emb, texts, models)
    # a plain model.encode with normalisation is just as correct
    plain = {n: m.encode(texts, normalize_embeddings=True) for n, m in models.items()}
    assert lab1.step_a(plain, texts, models)


def test_a_rejects_typical_mistakes(setup):
    texts, _, models, emb = setup
    not_done = lab1.step_a({n: None for n in models}, texts, models)
    assert not not_done and "still None" in not_done.message
    swapped = {
        "all-MiniLM-L6-v2": emb["static-MiniLM-L6-v2-256d"],
        "static-MiniLM-L6-v2-256d": emb["all-MiniLM-L6-v2"],
    }
    r = lab1.step_a(swapped, texts, models)
    assert not r and "another model's output" in r.message
    shuffled = {n: np.asarray(e)[::-1] for n, e in emb.items()}
    r = lab1.step_a(shuffled, texts, models)
    assert not r and "order of `texts`" in r.message
    partial = {n: np.asarray(e)[:10] for n, e in emb.items()}
    r = lab1.step_a(partial, texts, models)
    assert not r and "10 rows for 40 sentences" in r.message
    scaled = {n: np.asarray(e) * 3 for n, e in emb.items()}
    r = lab1.step_a(scaled, texts, models)
    assert not r and "not unit length" in r.message


# --- step b -----------------------------------------------------------------------------
def test_b_passes_reference_and_model_similarity(setup):
    _, _, models, emb = setup
    assert lab1.step_b({n: embedlab.similarity(e) for n, e in emb.items()}, emb)
    via_model = {n: models[n].similarity(e, e).numpy() for n, e in emb.items()}
    assert lab1.step_b(via_model, emb)


def test_b_rejects_typical_mistakes(setup):
    _, _, _, emb = setup
    distance = {n: 1 - embedlab.similarity(e) for n, e in emb.items()}
    r = lab1.step_b(distance, emb)
    assert not r and "distance" in r.message
    crossed = dict(
        zip(emb, [embedlab.similarity(e) for e in reversed(list(emb.values()))], strict=True)
    )
    r = lab1.step_b(crossed, emb)
    assert not r
    raw = {n: np.asarray(e) * 2 @ (np.asarray(e) * 2).T for n, e in emb.items()}  # unnormalised dot
    r = lab1.step_b(raw, emb)
    assert not r and "differs from the cosine" in r.message


# --- step c -----------------------------------------------------------------------------
LAT = [8.0, 8.5, 9.0, 9.2, 9.9, 10.0, 10.4, 11.0, 12.0, 40.0]


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint"])
def test_c_accepts_any_percentile_definition(method):
    p50 = np.percentile(LAT, 50, method=method)
    p95 = np.percentile(LAT, 95, method=method)
    assert lab1.step_c(LAT, p50, p95, 96, 0.8, 96 / 0.8)


def test_c_rejects_typical_mistakes():
    p50, p95 = np.percentile(LAT, 50), np.percentile(LAT, 95)
    r = lab1.step_c(LAT, np.mean(LAT), p95, 96, 0.8, 120.0)
    assert not r and "That is the mean" in r.message
    r = lab1.step_c(LAT, p50, max(LAT) + 0, 96, 0.8, 120.0)
    assert r  # max is within [lower, higher] for 10 samples at p95: allowed
    r = lab1.step_c(LAT, p50 / 1000, p95, 96, 0.8, 120.0)
    assert not r and "units" in r.message
    r = lab1.step_c(LAT, p50, p95, 96, 0.8, 0.8 / 96)
    assert not r and "seconds per text" in r.message
    r = lab1.step_c(LAT, p50, p95, 96, 0.8, None)
    assert not r and "still None" in r.message


# --- step d -----------------------------------------------------------------------------
def test_d_passes_tsne_and_pca(setup):
    _, topics, _, emb = setup
    e = emb["all-MiniLM-L6-v2"]
    coords = embedlab.tsne_2d(e, perplexity=10, seed=0)
    assert lab1.step_d(coords, e, topics, 10)
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0).fit_transform(np.asarray(e))
    assert lab1.step_d(pca, e, topics, 10)  # any sound projection passes


def test_d_rejects_typical_mistakes(setup):
    _, topics, _, emb = setup
    e = emb["all-MiniLM-L6-v2"]
    coords = embedlab.tsne_2d(e, perplexity=10, seed=0)
    r = lab1.step_d(coords, e, topics, 50)
    assert not r and "too large" in r.message
    shuffled = np.random.default_rng(0).permutation(coords)
    r = lab1.step_d(shuffled, e, topics, 10)
    assert not r and "same order" in r.message
    r = lab1.step_d(np.asarray(e)[:, :3], e, topics, 10)
    assert not r and "expected (40, 2)" in r.message
    assert not lab1.step_d(None, e, topics, 10)
