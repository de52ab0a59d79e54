"""The optional OpenAI models, with the real ``openai`` client against a local server.

Nothing here reaches the internet: the server (tests/openai_server.py) listens on 127.0.0.1,
every test points OPENAI_BASE_URL at loopback (a closed port unless it talks to the server),
and the conftest guard refuses any other connection. The server computes its vectors with a
hash-based stand-in model, so these tests need no model and run in a second or two.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
import traceback
import types
from urllib.parse import urlparse

import numpy as np
import pytest
from openai_server import OpenAIStubServer

import embedlab
from embedlab import openai_api
from embedlab.errors import APIKeyError, EmbedlabError, InvalidInputError
from embedlab.openai_api import OpenAIEmbedder, api_key, estimate_cost, skip_unless_openai

KEY = "sk-test-9f8e7d6c5b4a-SECRETKEY"
WRONG_KEY = "sk-wrong-0123456789-WRONGKEY"
DEAD_URL = "http://127.0.0.1:9/v1"  # the discard port: any accidental call fails locally
FAST_RETRY = {"retry-after-ms": "1"}  # the openai client honours it: no real backoff wait
TEXTS = [
    "A cat sits on the mat.",
    "Dogs are loyal companions.",
    "The stock market fell today.",
    "Kittens like to play with yarn.",
    "Interest rates were raised again.",
]


class HashModel:
    """The server's stand-in model: a seeded random vector per text, one token per word."""

    def get_embedding_dimension(self) -> int:
        return 384

    def encode(self, texts, **kw):
        seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little") for t in texts]
        return np.stack([np.random.default_rng(s).standard_normal(384) for s in seeds])

    @staticmethod
    def tokenizer(text, add_special_tokens=False):
        return {"input_ids": text.split()}


def _is_loopback(url: str) -> bool:
    return urlparse(url).hostname in ("127.0.0.1", "localhost", "::1")


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, a dead loopback base URL, no proxies: nothing can go to the internet."""
    for var in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", DEAD_URL)


@pytest.fixture(scope="module")
def server():
    stub = OpenAIStubServer(api_key=KEY, model=HashModel()).start()
    assert _is_loopback(stub.base_url), stub.base_url
    yield stub
    stub.stop()


@pytest.fixture
def api(server, monkeypatch):
    """The server, reset, with OPENAI_API_KEY and OPENAI_BASE_URL pointing at it."""
    server.reset()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    return server


def make(**kwargs) -> OpenAIEmbedder:
    kwargs.setdefault("timeout", 10.0)
    return OpenAIEmbedder(kwargs.pop("model", "text-embedding-3-small"), **kwargs)


@pytest.fixture
def colab(monkeypatch):
    """A stand-in for Colab's ``google.colab.userdata``: ``secrets`` is what it holds."""
    secrets: dict[str, object] = {}

    class SecretNotFoundError(Exception):
        pass

    def get(name):
        value = secrets.get(name)
        if isinstance(value, Exception):
            raise value
        if value is None:
            raise SecretNotFoundError(name)
        return value

    userdata = types.ModuleType("google.colab.userdata")
    userdata.get = get
    colab_module = types.ModuleType("google.colab")
    colab_module.userdata = userdata
    google = types.ModuleType("google")
    google.colab = colab_module
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab_module)
    monkeypatch.setitem(sys.modules, "google.colab.userdata", userdata)
    return secrets


# --------------------------------------------------------------------------- normal use


def test_encode_returns_the_servers_vectors_in_input_order(api):
    model = make()
    vectors = model.encode(TEXTS)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, api.reference(TEXTS), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    (request,) = api.requests
    assert request.body["model"] == "text-embedding-3-small" and request.body["input"] == TEXTS
    assert "dimensions" not in request.body


def test_data_returned_out_of_order_is_put_back_by_index(api):
    api.shuffle = True
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(40)]
    np.testing.assert_allclose(make().encode(texts), api.reference(texts), atol=1e-6)


def test_the_sentence_transformers_surface(api):
    model = make()
    query = model.encode_query(TEXTS[0])
    docs = model.encode_document(TEXTS)
    assert query.shape == (384,)  # one string, one vector
    np.testing.assert_allclose(query, docs[0], atol=1e-6)
    sims = model.similarity(query, docs)
    assert tuple(sims.shape) == (1, 5)
    np.testing.assert_allclose(sims.numpy()[0], docs @ query, atol=1e-5)
    assert model.get_embedding_dimension() == 1536 and model.prompts == {}


def test_texts_are_checked_before_any_request(api):
    for bad in (None, [], ["ok", ""], ["ok", None], [3]):
        with pytest.raises(InvalidInputError):
            make().encode(bad)
    assert api.requests == []


def test_load_model_returns_an_api_model_with_provenance(api):
    model = embedlab.load_model("text-embedding-3-small")
    assert isinstance(model, OpenAIEmbedder)
    assert embedlab.model_info(model) == {
        "name": "text-embedding-3-small",
        "source": "OpenAI API",
        "revision": None,
    }
    vectors = embedlab.embed(model, TEXTS[:2], kind="query")
    assert vectors.model == "text-embedding-3-small" and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, api.reference(TEXTS[:2]), atol=1e-6)


# --------------------------------------------------------------------------- batching, dimensions


def test_more_than_2048_inputs_are_sent_in_batches(api):
    texts = [f"text {i}" for i in range(2049)]
    vectors = make().encode(texts)
    assert api.batch_sizes == [2048, 1]
    assert vectors.shape == (2049, 384)
    np.testing.assert_allclose(
        vectors[[0, 2047, 2048]], api.reference([texts[i] for i in (0, 2047, 2048)]), atol=1e-6
    )


def test_a_smaller_batch_size(api):
    texts = [f"short text {i}" for i in range(10)]
    np.testing.assert_allclose(make(batch_size=4).encode(texts), api.reference(texts), atol=1e-6)
    assert api.batch_sizes == [4, 4, 2]


def test_dimensions_are_passed_to_the_api(api):
    model = make(dimensions=128)
    assert model.get_embedding_dimension() == 128
    vectors = model.encode(TEXTS)
    assert api.requests[0].body["dimensions"] == 128
    np.testing.assert_allclose(vectors, api.reference(TEXTS, dimensions=128), atol=1e-6)
    assert model.cache_identity == "openai:text-embedding-3-small:128"


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"dimensions": 1537}, "dimensions=1537 is larger than text-embedding-3-small's 1536"),
        ({"dimensions": 0}, "dimensions must be a positive integer"),
        ({"dimensions": True}, "dimensions must be a positive integer"),
        ({"dimensions": "256"}, "dimensions must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 2049}, "batch_size must be at most 2048"),
    ],
)
def test_arguments_are_validated(monkeypatch, kwargs, says):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(InvalidInputError) as err:
        OpenAIEmbedder("text-embedding-3-small", **kwargs)
    assert says in str(err.value)
    assert OpenAIEmbedder("text-embedding-3-large", 3072).get_embedding_dimension() == 3072


def test_unknown_models_are_refused_unless_another_endpoint_is_set(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL")  # only the constructor runs: no request is made
    with pytest.raises(InvalidInputError, match="Unknown OpenAI embedding model 'ada'"):
        OpenAIEmbedder("ada")
    monkeypatch.setenv("OPENAI_BASE_URL", DEAD_URL)  # a compatible server may serve anything
    assert OpenAIEmbedder("ada").model == "ada"


# --------------------------------------------------------------------------- errors and retries


def test_a_rejected_key_raises_api_key_error_without_the_key(api, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", WRONG_KEY)
    with pytest.raises(APIKeyError, match=r"rejected the API key \(401\)") as err:
        make(max_retries=3).encode(TEXTS[:1])
    assert [r.status for r in api.requests] == [401]  # not retried
    shown = "".join(traceback.format_exception(err.value)) + str(err.value) + repr(err.value)
    assert WRONG_KEY not in shown and WRONG_KEY[-4:] not in shown  # nor the masked echo
    assert err.value.__suppress_context__ and err.value.__cause__ is None


def test_a_500_is_retried_then_succeeds(api):
    api.script(500, times=2, headers=FAST_RETRY)
    vectors = make(max_retries=4).encode(TEXTS[:2])
    assert [r.status for r in api.requests] == [500, 500, 200]
    np.testing.assert_allclose(vectors, api.reference(TEXTS[:2]), atol=1e-6)


def test_a_persistent_500_is_retried_then_a_clear_error(api):
    api.script(500, times=10, headers=FAST_RETRY, message="The server had an error.")
    with pytest.raises(EmbedlabError) as err:
        make(max_retries=2).encode(TEXTS[:2])
    assert [r.status for r in api.requests] == [500, 500, 500]  # 1 try + 2 retries
    assert str(err.value) == (
        "The OpenAI API answered 500 after retries: Error code: 500 - The server had an error."
    )
    assert err.value.__cause__ is None


def test_a_429_is_retried(api):
    api.script(429, times=1, headers={"retry-after-ms": "1"})
    make(max_retries=1).encode(TEXTS[:1])
    assert [r.status for r in api.requests] == [429, 200]


def test_a_dimensions_value_the_server_refuses_is_a_clear_error(api, monkeypatch):
    with pytest.raises(EmbedlabError, match="answered 400 .* Invalid dimensions 385: must be 1 to"):
        make(model="compatible-model", dimensions=385).encode("x")


def test_an_unreachable_endpoint_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # OPENAI_BASE_URL: the dead loopback port
    with pytest.raises(EmbedlabError, match="Cannot reach the OpenAI API .* Check the network"):
        make(max_retries=0).encode("x")


def test_a_missing_key_says_how_to_set_it():
    with pytest.raises(APIKeyError) as err:
        OpenAIEmbedder()
    message = str(err.value)
    assert "OPENAI_API_KEY is not set" in message and "Secrets" in message
    assert "every lab also runs with the local models" in message
    with pytest.raises(APIKeyError):
        embedlab.load_model("text-embedding-3-large")


@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_key_is_no_key(monkeypatch, value):
    monkeypatch.setenv("OPENAI_API_KEY", value)
    assert api_key() is None


# --------------------------------------------------------------------------- the key


def test_the_key_is_read_from_colab_secrets(api, colab, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    assert api_key() is None  # no secret defined
    colab["OPENAI_API_KEY"] = f"  {KEY}\n"
    assert api_key() == KEY
    vectors = make().encode(TEXTS[:1])  # the server checks the bearer key
    np.testing.assert_allclose(vectors, api.reference(TEXTS[:1]), atol=1e-6)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    assert api_key() == "sk-from-the-environment"  # the environment comes first


def test_a_secret_without_notebook_access_is_no_key(colab, monkeypatch):
    colab["OPENAI_API_KEY"] = PermissionError("notebook access not granted")
    assert api_key() is None
    with pytest.raises(APIKeyError, match="OPENAI_API_KEY is not set"):
        OpenAIEmbedder()


def test_the_key_is_never_stored_on_the_model(api, colab, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    colab["OPENAI_API_KEY"] = KEY
    model = make()
    model.encode(TEXTS[:2])
    for text in (repr(model), str(model), repr(vars(model)), repr(model.cache_identity)):
        assert KEY not in text
    data = pickle.dumps(model)
    assert KEY.encode() not in data
    clone = pickle.loads(data)
    assert clone.encode("x").shape == (384,)  # reads the key again when it needs it


# --------------------------------------------------------------------------- notebook helpers


def test_skip_unless_openai_prints_one_line_without_a_key(capsys, monkeypatch):
    assert skip_unless_openai("the OpenAI comparison") is False
    assert (
        capsys.readouterr().out
        == "Skipped: the OpenAI comparison needs OPENAI_API_KEY (optional).\n"
    )
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert skip_unless_openai("the OpenAI comparison") is True
    assert capsys.readouterr().out == ""
    monkeypatch.setitem(sys.modules, "openai", None)  # the optional package is not installed
    assert skip_unless_openai("the OpenAI comparison") is False
    assert capsys.readouterr().out == (
        "Skipped: the OpenAI comparison needs the openai package: pip install 'embedlab[openai]'.\n"
    )


def test_estimate_cost_without_tiktoken(monkeypatch):
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    est = estimate_cost(["abc" * 100] * 1000)  # 300 bytes: 100 tokens each
    assert est == {
        "model": "text-embedding-3-small",
        "tokens": 100_000,
        "exact": False,
        "usd": pytest.approx(0.002),
        "prices_as_of": openai_api.PRICES_AS_OF,
    }
    assert estimate_cost(["abc" * 100] * 1000, "text-embedding-3-large")["usd"] == pytest.approx(
        0.013
    )
    assert estimate_cost(["é"])["tokens"] == 1  # 2 bytes, rounded up


def test_estimate_cost_counts_with_tiktoken_when_installed(monkeypatch):
    class Encoding:
        def encode_ordinary_batch(self, texts):
            return [t.split() for t in texts]

    fake = types.ModuleType("tiktoken")
    fake.get_encoding = lambda name: Encoding() if name == "cl100k_base" else None
    monkeypatch.setitem(sys.modules, "tiktoken", fake)
    est = estimate_cost(["one two three", "four"])
    assert (est["tokens"], est["exact"]) == (4, True)
    assert est["usd"] == pytest.approx(4 * 0.02 / 1e6)


def test_estimate_cost_errors():
    with pytest.raises(InvalidInputError, match="Unknown OpenAI embedding model 'gpt-4o'"):
        estimate_cost(["x"], "gpt-4o")
    with pytest.raises(InvalidInputError, match="empty list"):
        estimate_cost([])
