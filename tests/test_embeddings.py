"""embed / Embeddings / similarity: input checks, tags, normalisation, the encode method of each
kind, a NumPy reference for the cosine, mixing guards, the OOM retry and the truncation warning."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import embedlab
from embedlab.embeddings import Embeddings, check_compatible, is_normalized, require_normalized
from embedlab.errors import (
    IncompatibleEmbeddingsError,
    InvalidInputError,
    NotNormalizedError,
    check_texts,
)


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float64: the reference for every cosine below."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class Recorder:
    """A stand-in model that records which encode method was called, and how."""

    prompts: dict[str, str] = {}

    def __init__(self, dims: int = 4) -> None:
        self.dims, self.calls = dims, []
        self.embedlab_info = {"name": "recorder", "weights_sha256": "r1"}

    def _vectors(self, method: str, texts, **kw):
        self.calls.append((method, list(texts), kw))
        rows = [[len(t), 1.0, *range(self.dims - 2)] for t in texts]
        out = np.asarray(rows, dtype=np.float64)  # float64, as API models return
        return unit(out) if kw.get("normalize_embeddings") else out

    def encode(self, texts, **kw):
        return self._vectors("encode", texts, **kw)

    def encode_query(self, texts, **kw):
        return self._vectors("encode_query", texts, **kw)

    def encode_document(self, texts, **kw):
        return self._vectors("encode_document", texts, **kw)


# --------------------------------------------------------------------------- check_texts


def test_check_texts_accepts_a_string_and_any_iterable_of_strings():
    assert check_texts("hello") == ["hello"]
    assert check_texts(("a", "b")) == ["a", "b"]
    assert check_texts(t for t in ["a", "b"]) == ["a", "b"]
    assert check_texts(np.array(["a", "b"])) == ["a", "b"]


@pytest.mark.parametrize(
    "bad, says",
    [
        (None, "texts is None. Pass a string or a list of strings"),
        (b"caf\xc3\xa9", "texts is bytes, not text. Decode it first"),
        (42, "texts must be a string or a list of strings, got int."),
        ([], "texts is an empty list: there is nothing to embed. Pass at least one string."),
        ("", "texts is empty or whitespace only ('')"),
        ("  \n", "texts is empty or whitespace only"),
        (["ok", None], "texts[1] is None. Remove missing values first"),
        (["ok", 3], "texts[1] is not a string but int (3). Convert it with str() or remove it."),
        (["ok", float("nan")], "texts[1] is not a string but float (nan)"),
        (["ok", "ok", " "], "texts[2] is empty or whitespace only"),
    ],
)
def test_check_texts_refuses_with_what_to_do(bad, says):
    with pytest.raises(InvalidInputError) as err:
        check_texts(bad)
    assert says in str(err.value)


def test_check_texts_names_the_argument():
    with pytest.raises(InvalidInputError, match=r"queries\[0\] is None"):
        check_texts([None], "queries")


def test_a_dataframe_is_refused_with_the_column_to_pass():
    df = pd.DataFrame({"text": ["a cat", "a dog"], "topic": ["x", "y"]})
    with pytest.raises(InvalidInputError) as err:
        check_texts(df)
    message = str(err.value)
    assert "texts is a pandas DataFrame" in message and "column names" in message
    assert "df['text'].tolist()" in message


def test_a_series_is_refused_with_tolist():
    with pytest.raises(InvalidInputError, match=r"pandas Series.*\.tolist\(\)"):
        check_texts(pd.Series(["a cat", None]))


def test_embed_refuses_a_dataframe(minilm):
    df = pd.DataFrame({"text": ["a cat"]})
    with pytest.raises(InvalidInputError, match=r"df\['text'\]\.tolist\(\)"):
        embedlab.embed(minilm, df)


# --------------------------------------------------------------------------- Embeddings


def test_tags_survive_slicing_and_pickling():
    e = Embeddings(np.eye(3, 4, dtype=np.float32), model="m", kind="query")
    for part in (e[1:], e[:, :2], e[[0, 2]], e[0], e[e[:, 0] > 0]):
        assert isinstance(part, Embeddings), type(part)
        assert (part.model, part.kind) == ("m", "query")
    back = pickle.loads(pickle.dumps(e))
    assert (back.model, back.kind) == ("m", "query")
    np.testing.assert_array_equal(back, e)


def test_arithmetic_gives_plain_arrays_and_scalars():
    e = Embeddings(np.eye(2, dtype=np.float32), model="m")
    assert type(e @ e.T) is np.ndarray
    assert type(e * 2) is np.ndarray
    assert type(np.linalg.norm(e, axis=1)) is np.ndarray
    assert np.isscalar(e.sum()) and e.sum() == 2


def test_normalized_is_measured_not_stored():
    rng = np.random.default_rng(0)
    e = Embeddings(unit(rng.standard_normal((4, 8))).astype(np.float32), model="m")
    assert e.normalized
    cut = e[:, :4]  # a truncated slice of unit vectors is not unit length
    assert cut.model == "m" and not cut.normalized
    again = embedlab.normalize(cut)
    assert isinstance(again, Embeddings) and again.model == "m" and again.normalized
    e2 = e.copy()
    e2[1] *= 3  # edited in place: measured again
    assert not e2.normalized
    assert "normalized=False" in repr(e2) and "model='m'" in repr(e2)


def test_is_normalized_edge_cases():
    assert not is_normalized(np.zeros((0, 3)))
    assert is_normalized([0.6, 0.8])
    assert is_normalized([[1.0005, 0.0]]) and not is_normalized([[1.002, 0.0]])


# --------------------------------------------------------------------------- embed


@pytest.mark.parametrize(
    "kind, method", [("query", "encode_query"), ("document", "encode_document"), (None, "encode")]
)
def test_embed_calls_the_encode_method_of_its_kind(kind, method):
    model = Recorder()
    out = embedlab.embed(model, ["a", "bb"], kind=kind, batch_size=7)
    ((called, texts, kw),) = model.calls
    assert (called, texts) == (method, ["a", "bb"])
    assert kw["batch_size"] == 7 and kw["normalize_embeddings"] is True
    assert kw["convert_to_numpy"] is True
    assert isinstance(out, Embeddings) and out.dtype == np.float32  # float64 in, float32 out
    assert (out.model, out.kind) == ("recorder", kind)


def test_embed_passes_encode_options_and_can_skip_normalising():
    model = Recorder()
    out = embedlab.embed(model, "one text", normalize=False, truncate_dim=3)
    ((_, texts, kw),) = model.calls
    assert texts == ["one text"] and kw["truncate_dim"] == 3
    assert kw["normalize_embeddings"] is False and not out.normalized
    assert out.shape == (1, 4)


def test_embed_equals_sentence_transformers(minilm):
    texts = ["Where is my parcel?", "Track my order", "Bake bread at home"]
    q = embedlab.embed(minilm, texts, kind="query")
    d = embedlab.embed(minilm, texts, kind="document")
    np.testing.assert_allclose(q, minilm.encode_query(texts, normalize_embeddings=True), atol=1e-6)
    np.testing.assert_allclose(
        d, minilm.encode_document(texts, normalize_embeddings=True), atol=1e-6
    )
    assert q.shape == (3, 384) and q.normalized and q.model == "all-MiniLM-L6-v2"


def test_embed_truncate_dim_gives_unit_vectors(minilm):
    e = embedlab.embed(minilm, ["hello there"], truncate_dim=128)
    assert e.shape == (1, 128) and e.normalized


def test_embed_refuses_a_model_without_the_method():
    class OnlyEncode:
        def encode(self, texts, **kw):  # pragma: no cover - never called
            raise AssertionError

    with pytest.raises(InvalidInputError, match="OnlyEncode has no encode_query method"):
        embedlab.embed(OnlyEncode(), ["x"], kind="query")


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "32", None])
def test_bad_batch_size(bad):
    with pytest.raises(InvalidInputError, match="batch_size must be a positive integer"):
        embedlab.embed(Recorder(), ["x"], batch_size=bad)


def test_bad_kind():
    with pytest.raises(InvalidInputError, match="kind must be 'query', 'document' or None"):
        embedlab.embed(Recorder(), ["x"], kind="passage")


# --------------------------------------------------------------------------- similarity


def test_similarity_equals_a_numpy_reference(minilm):
    e = embedlab.embed(minilm, ["a cat", "a kitten", "a car", "an automobile"])
    ref = unit(e) @ unit(e).T
    np.testing.assert_allclose(embedlab.similarity(e), ref, atol=1e-6)
    q = embedlab.embed(minilm, ["small cat"], kind="query")
    np.testing.assert_allclose(embedlab.similarity(q, e), unit(q) @ unit(e).T, atol=1e-6)
    assert embedlab.similarity(e).dtype == np.float32


def test_similarity_of_raw_vectors_is_still_the_cosine():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 5)) * 7, rng.standard_normal((2, 5))
    np.testing.assert_allclose(embedlab.similarity(a, b), unit(a) @ unit(b).T, atol=1e-6)
    np.testing.assert_allclose(embedlab.similarity(a[0], b), unit(a[:1]) @ unit(b).T, atol=1e-6)
    np.testing.assert_allclose(
        embedlab.similarity(torch.tensor(a), torch.tensor(b)), unit(a) @ unit(b).T, atol=1e-6
    )


def test_two_models_cannot_be_compared(minilm, static_model):
    a = embedlab.embed(minilm, ["hello"])
    b = embedlab.embed(static_model, ["hello"])
    with pytest.raises(IncompatibleEmbeddingsError, match="two different models") as err:
        embedlab.similarity(a, b)
    assert "'all-MiniLM-L6-v2' and 'static-MiniLM-L6-v2-256d'" in str(err.value)


def test_same_dimensions_from_another_model_still_raise():
    a = Embeddings(np.ones((1, 4)), model="model-a")
    b = Embeddings(np.ones((1, 4)), model="model-b")
    with pytest.raises(IncompatibleEmbeddingsError, match="even when the dimensions match"):
        embedlab.similarity(a, b)
    check_compatible(a, np.ones((2, 4)))  # an untagged array is trusted


def test_dimension_mismatch_raises():
    with pytest.raises(IncompatibleEmbeddingsError, match="dimension mismatch: 3 vs 4"):
        embedlab.similarity(np.ones((2, 3)), np.ones((2, 4)))


@pytest.mark.parametrize(
    "bad, says",
    [
        (None, "a is None"),
        (np.array([["x"]]), "must hold numbers"),
        (np.ones((2, 2, 2)), "got shape (2, 2, 2)"),
        (np.ones((0, 3)), "n > 0"),
        (np.array([[1.0, np.nan]]), "NaN or infinite values (row 0)"),
    ],
)
def test_similarity_input_errors(bad, says):
    with pytest.raises(InvalidInputError) as err:
        embedlab.similarity(bad)
    assert says in str(err.value)


# --------------------------------------------------------------------------- normalisation


def test_require_normalized_says_which_row_and_what_to_do():
    x = np.array([[0.6, 0.8], [3.0, 4.0], [1.0, 0.0]])
    with pytest.raises(NotNormalizedError) as err:
        require_normalized(x, "doc vectors")
    message = str(err.value)
    assert "doc vectors are not unit length: row 1 has norm 5" in message
    assert "1 of 3 rows differ from 1 by more than 0.001" in message
    assert "norms from 1 to 5" in message
    assert "Normalise first: embedlab.normalize(x)" in message
    assert "normalize_embeddings=True" in message
    ok = embedlab.normalize(x)
    assert require_normalized(ok) is ok
    assert isinstance(err.value, ValueError)


def test_normalize():
    np.testing.assert_allclose(embedlab.normalize(np.array([[3.0, 4.0]])), [[0.6, 0.8]])
    np.testing.assert_allclose(embedlab.normalize(np.array([3.0, 4.0])), [0.6, 0.8])
    with pytest.raises(InvalidInputError, match="all zeros cannot be normalised"):
        embedlab.normalize(np.zeros((2, 4)))
    with pytest.raises(InvalidInputError, match=r"got shape \(1, 1, 2\)"):
        embedlab.normalize(np.ones((1, 1, 2)))


def test_without_normalize_shares_the_weights_and_drops_only_the_last_layer(minilm):
    from sentence_transformers.models import Normalize

    from embedlab.embeddings import without_normalize

    raw = without_normalize(minilm)
    assert not isinstance(list(raw)[-1], Normalize) and len(list(raw)) == len(list(minilm)) - 1
    assert list(raw)[0] is list(minilm)[0]  # the same transformer, not a copy
    v = embedlab.embed(raw, ["hello world"], normalize=False)
    assert v.model == "all-MiniLM-L6-v2" and not v.normalized
    np.testing.assert_allclose(unit(v), minilm.encode(["hello world"]), atol=1e-5)
    assert without_normalize(raw) is raw  # nothing left to remove


# --------------------------------------------------------------------------- GPU out of memory


def test_out_of_memory_halves_the_batch_with_a_warning(minilm, monkeypatch):
    real = minilm.encode_document
    seen: list[int] = []

    def flaky(texts, batch_size, **kw):
        seen.append(batch_size)
        if batch_size > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(texts, batch_size=batch_size, **kw)

    monkeypatch.setattr(minilm, "encode_document", flaky)
    texts = ["one sentence", "another one"] * 5
    with pytest.warns(UserWarning, match="GPU out of memory") as record:
        out = embedlab.embed(minilm, texts, batch_size=32)
    assert seen == [32, 16, 8]
    assert [str(w.message) for w in record] == [
        "GPU out of memory at batch_size=32; retrying with batch_size=16.",
        "GPU out of memory at batch_size=16; retrying with batch_size=8.",
    ]
    np.testing.assert_allclose(out, real(texts, normalize_embeddings=True), atol=1e-6)


def test_an_out_of_memory_runtime_error_is_recognised_by_its_message(monkeypatch):
    model, seen = Recorder(), []
    real = model.encode_document

    def flaky(texts, batch_size, **kw):  # what MPS and older torch versions raise
        seen.append(batch_size)
        if batch_size > 2:
            raise RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)")
        return real(texts, batch_size=batch_size, **kw)

    monkeypatch.setattr(model, "encode_document", flaky)
    with pytest.warns(UserWarning, match="retrying with batch_size=2"):
        embedlab.embed(model, ["x"], batch_size=4)
    assert seen == [4, 2]


def test_out_of_memory_at_batch_size_one_is_a_clear_error(monkeypatch):
    model = Recorder()

    def always(texts, batch_size, **kw):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(model, "encode_document", always)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(InvalidInputError, match="even with batch_size=1") as err:
            embedlab.embed(model, ["x"], batch_size=4)
    assert len(record) == 2  # 4 -> 2 -> 1
    assert "device='cpu'" in str(err.value)
    assert isinstance(err.value.__cause__, torch.cuda.OutOfMemoryError)


def test_other_errors_are_not_swallowed(monkeypatch):
    model = Recorder()

    def broken(texts, batch_size, **kw):
        raise ValueError("boom")

    monkeypatch.setattr(model, "encode_document", broken)
    with pytest.raises(ValueError, match="boom"):
        embedlab.embed(model, ["x"])


# --------------------------------------------------------------------------- truncation warning


def test_the_truncation_warning_counts_texts_over_the_token_limit(minilm, capfd, monkeypatch):
    # "word" is one token; with [CLS] and [SEP], 254 words fill MiniLM's 256 tokens exactly
    monkeypatch.setattr(minilm.tokenizer, "deprecation_warnings", {})  # as on a fresh load
    fits, over = "word " * 254, "word " * 255
    with pytest.warns(UserWarning) as record:
        embedlab.embed(minilm, [over, "short", fits, over, "also short"])
    assert [str(w.message) for w in record] == [
        "2 of 5 texts are longer than all-MiniLM-L6-v2's 256-token limit and were truncated: "
        "their ends are not embedded. Split long documents into chunks."
    ]
    assert record[0].filename == __file__  # points at the caller's line
    assert "Token indices sequence length" not in capfd.readouterr().err  # nothing on stderr


def test_texts_within_the_limit_do_not_warn(minilm):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embedlab.embed(minilm, ["short", "word " * 254, "word " * 60])  # 300 chars, 62 tokens


def test_a_model_without_a_token_limit_never_warns(static_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embedlab.embed(static_model, ["word " * 2000])


# --------------------------------------------------------------------------- embed with a cache


def test_embed_with_a_cache_encodes_only_new_texts(minilm, tmp_path, monkeypatch):
    from embedlab.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "c.sqlite")
    first = embedlab.embed(minilm, ["alpha", "beta"], cache=cache)
    calls: list[list[str]] = []
    real = minilm.encode_document

    def counting(texts, **kw):
        calls.append(list(texts))
        return real(texts, **kw)

    monkeypatch.setattr(minilm, "encode_document", counting)
    again = embedlab.embed(minilm, ["beta", "alpha", "gamma"], cache=cache)
    assert calls == [["gamma"]]
    np.testing.assert_array_equal(again[:2], first[::-1])
    assert again.model == "all-MiniLM-L6-v2" and again.kind == "document"
    embedlab.embed(minilm, ["alpha"], kind="query", cache=cache)  # another kind: another key
    assert cache.stats()["entries"] == 4


def test_embed_cache_refuses_options_its_key_does_not_cover(minilm):
    from embedlab.cache import EmbeddingCache

    cache = EmbeddingCache(":memory:")
    with pytest.raises(InvalidInputError, match="cannot be combined with a custom prompt"):
        embedlab.embed(minilm, ["x"], cache=cache, prompt="Q: ")
    with pytest.raises(InvalidInputError, match="cannot be combined with output_value, precision"):
        embedlab.embed(minilm, ["x", "y"], cache=cache, precision="int8", output_value=None)
    assert cache.stats()["entries"] == 0
    v = embedlab.embed(minilm, ["x"], cache=cache, truncate_dim=64, device="cpu")  # covered
    assert v.shape == (1, 64)
