"""embed / similarity: tags, normalisation, mixing guards, OOM retry, truncation warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sentence_transformers.util import cos_sim

import embedlab


def test_embed_matches_sentence_transformers(minilm):
    texts = ["Where is my parcel?", "Track my order", "Bake bread at home"]
    ours = embedlab.embed(minilm, texts, kind="query")
    ref = minilm.encode_query(texts, normalize_embeddings=True)
    np.testing.assert_allclose(np.asarray(ours), ref, atol=1e-6)
    assert ours.model == "all-MiniLM-L6-v2" and ours.kind == "query" and ours.normalized
    assert ours[1:].model == "all-MiniLM-L6-v2"  # slices keep tags
    assert type(ours @ ours.T) is np.ndarray  # arithmetic gives plain arrays


def test_similarity_matches_reference(minilm):
    e = embedlab.embed(minilm, ["a cat", "a kitten", "a car", "an automobile"])
    np.testing.assert_allclose(embedlab.similarity(e), cos_sim(e, e).numpy(), atol=1e-6)
    unit = np.asarray(e) / np.linalg.norm(e, axis=1, keepdims=True)
    np.testing.assert_allclose(embedlab.similarity(e), unit @ unit.T, atol=1e-5)


def test_mixing_models_raises(minilm, static_model):
    a = embedlab.embed(minilm, ["hello"])
    b = embedlab.embed(static_model, ["hello"])
    with pytest.raises(embedlab.IncompatibleEmbeddingsError, match="two different models"):
        embedlab.similarity(a, b)


def test_same_dims_other_model_still_raises(minilm):
    a = embedlab.embed(minilm, ["hello"])
    fake_other = embedlab.Embeddings(np.asarray(a), model="all-mpnet-base-v2 (truncated)")
    with pytest.raises(embedlab.IncompatibleEmbeddingsError, match="different models"):
        embedlab.similarity(a, fake_other)


def test_dimension_mismatch_raises():
    with pytest.raises(embedlab.IncompatibleEmbeddingsError, match="dimension mismatch: 3 vs 4"):
        embedlab.similarity(np.ones((2, 3)), np.ones((2, 4)))


@pytest.mark.parametrize(
    "bad, match",
    [
        ([], "empty list"),
        ("", "empty or whitespace"),
        ("   ", "empty or whitespace"),
        (None, "is None"),
        (["ok", None], r"texts\[1\] is None"),
        (["ok", 3], r"texts\[1\] is not a string but int"),
        (b"bytes", "bytes"),
        (42, "must be a string or a list"),
    ],
)
def test_bad_texts(minilm, bad, match):
    with pytest.raises(embedlab.InvalidInputError, match=match):
        embedlab.embed(minilm, bad)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "32"])
def test_bad_batch_size(minilm, bad):
    with pytest.raises(embedlab.InvalidInputError, match="batch_size"):
        embedlab.embed(minilm, ["x"], batch_size=bad)


def test_bad_kind(minilm):
    with pytest.raises(embedlab.InvalidInputError, match="kind"):
        embedlab.embed(minilm, ["x"], kind="passage")


def test_require_normalized():
    with pytest.raises(embedlab.NotNormalizedError, match="not unit length"):
        embedlab.require_normalized(np.array([[3.0, 4.0]]))
    ok = embedlab.normalize(np.array([[3.0, 4.0]]))
    np.testing.assert_allclose(ok, [[0.6, 0.8]])
    assert embedlab.require_normalized(ok) is ok


def test_zero_vector_cannot_be_normalised():
    with pytest.raises(embedlab.InvalidInputError, match="all zeros"):
        embedlab.normalize(np.zeros((1, 4)))


def test_cuda_oom_halves_batch_and_retries(minilm, monkeypatch):
    import torch

    real = minilm.encode_document
    seen: list[int] = []

    def flaky(texts, batch_size, **kw):
        seen.append(batch_size)
        if batch_size > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(texts, batch_size=batch_size, **kw)

    monkeypatch.setattr(minilm, "encode_document", flaky)
    texts = ["one sentence", "another one"] * 5
    with pytest.warns(UserWarning, match="retrying with batch_size=16") as record:
        out = embedlab.embed(minilm, texts, batch_size=32)
    assert seen == [32, 16, 8]
    assert len(record) == 2
    np.testing.assert_allclose(np.asarray(out), real(texts, normalize_embeddings=True), atol=1e-6)


def test_oom_at_batch_one_gives_clear_error(minilm, monkeypatch):
    import torch

    def always(texts, batch_size, **kw):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(minilm, "encode_document", always)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(embedlab.InvalidInputError, match="even with batch_size=1"):
            embedlab.embed(minilm, ["x"], batch_size=4)


def test_other_errors_are_not_swallowed(minilm, monkeypatch):
    def broken(texts, batch_size, **kw):
        raise ValueError("boom")

    monkeypatch.setattr(minilm, "encode_document", broken)
    with pytest.raises(ValueError, match="boom"):
        embedlab.embed(minilm, ["x"])


def test_overlong_inputs_warn_with_count(minilm):
    long_text = "word " * 400  # > 256 tokens
    with pytest.warns(UserWarning, match="2 of 3 texts are longer than .* 256-token limit"):
        embedlab.embed(minilm, [long_text, "short", long_text])


def test_short_inputs_do_not_warn(minilm):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embedlab.embed(minilm, ["short", "also short"])


def test_rank_agreement_and_top_pairs():
    s1 = np.array([[1, 0.9, 0.1], [0.9, 1, 0.2], [0.1, 0.2, 1]])
    s2 = np.array([[1, 0.5, 0.0], [0.5, 1, 0.1], [0.0, 0.1, 1]])
    agree = embedlab.rank_agreement({"a": s1, "b": s2})
    assert agree.loc["a", "b"] == pytest.approx(1.0)
    pairs = embedlab.top_pairs(s1, ["x", "y", "z"], k=1)
    assert pairs.iloc[0].tolist() == [0.9, "x", "y"]


def test_percentiles_reference():
    lat = [10.0, 11.0, 12.0, 50.0]
    p = embedlab.percentiles(lat)
    assert p["p50_ms"] == pytest.approx(np.percentile(lat, 50))
    assert p["p95_ms"] == pytest.approx(np.percentile(lat, 95))
    with pytest.raises(embedlab.InvalidInputError):
        embedlab.percentiles([])


def test_knee():
    import pandas as pd

    sweep = pd.DataFrame({"texts_per_s": [10, 50, 95, 100]}, index=[1, 8, 32, 128])
    assert embedlab.knee(sweep) == 32


def test_embed_with_cache_encodes_only_misses(minilm, tmp_path, monkeypatch):
    cache = embedlab.EmbeddingCache(tmp_path / "c.sqlite")
    first = embedlab.embed(minilm, ["alpha", "beta"], cache=cache)
    calls: list[list[str]] = []
    real = minilm.encode_document

    def counting(texts, **kw):
        calls.append(list(texts))
        return real(texts, **kw)

    monkeypatch.setattr(minilm, "encode_document", counting)
    again = embedlab.embed(minilm, ["beta", "alpha", "gamma"], cache=cache)
    assert calls == [["gamma"]]  # only the new text is encoded
    np.testing.assert_allclose(np.asarray(again[:2]), np.asarray(first[::-1]), atol=1e-6)
    assert again.model == "all-MiniLM-L6-v2"
    # a query (other prompt) is a different key: nothing stale comes back
    embedlab.embed(minilm, ["alpha"], kind="query", cache=cache)
    assert cache.stats().entries == 4


def test_embed_bad_cache_argument(minilm):
    with pytest.raises(embedlab.InvalidInputError, match="cache must be an EmbeddingCache"):
        embedlab.embed(minilm, ["x"], cache="yes")


def test_cache_key_includes_compute_dtype(minilm):
    """The same weights computed in float16 give other vectors: never a stale hit."""
    import copy

    half = copy.deepcopy(minilm).half()
    revision = "weights-sha"
    spec32 = embedlab.EmbeddingSpec.from_model(minilm, "document", revision=revision)
    spec16 = embedlab.EmbeddingSpec.from_model(half, "document", revision=revision)
    assert spec32.revision.endswith("compute=float32")
    assert spec16.revision.endswith("compute=float16")
    assert spec32.key("hello") != spec16.key("hello")
