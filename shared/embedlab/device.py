"""Pick the compute device and describe the machine a notebook runs on."""

from __future__ import annotations

import os
import platform

from embedlab.errors import InvalidInputError

__all__ = ["pick_device", "device_info", "DEVICE_ENV_VAR"]

#: Set this environment variable (``cpu``, ``cuda``, ``cuda:1``, ``mps``) to override the choice.
DEVICE_ENV_VAR = "EMBEDLAB_DEVICE"

_VALID_PREFIXES = ("cpu", "cuda", "mps")


def _validate(device: str, source: str) -> str:
    dev = device.strip().lower()
    if dev.split(":")[0] not in _VALID_PREFIXES:
        raise InvalidInputError(
            f"{source} asks for device {device!r}, which is not one of 'cpu', 'cuda', "
            "'cuda:N' or 'mps'. Fix the value (or unset it to let embedlab choose)."
        )
    import torch

    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError(
            f"{source} asks for {device!r} but PyTorch sees no CUDA GPU here. Use 'cpu', or "
            "in Colab choose Runtime > Change runtime type > GPU."
        )
    if dev.startswith("cuda:"):
        index = dev.split(":", 1)[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise InvalidInputError(
                f"{source} asks for {device!r} but only {torch.cuda.device_count()} CUDA "
                "device(s) exist. Use 'cuda' or 'cuda:0'."
            )
    if dev == "mps" and not torch.backends.mps.is_available():
        raise InvalidInputError(
            f"{source} asks for 'mps' but Apple's Metal backend is not available here. Use 'cpu'."
        )
    return dev


def pick_device(device: str | None = None) -> str:
    """Return the device to run on: the argument, else ``$EMBEDLAB_DEVICE``, else the best.

    The automatic choice is ``cuda``, then ``mps``, then ``cpu``.

    Example:
        >>> pick_device()  # on a laptop without a GPU
        'cpu'
    """
    if device is not None:
        if not isinstance(device, str):
            raise InvalidInputError(
                f"device must be a string such as 'cpu' or 'cuda', got {type(device).__name__}."
            )
        return _validate(device, "device=")
    env = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if env:
        return _validate(env, f"${DEVICE_ENV_VAR}")
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def device_info(device: str | None = None) -> dict[str, object]:
    """What the run uses: device, its name, torch threads, CPU count, library versions.

    Example:
        >>> device_info()["device"]
        'cpu'
    """
    import sentence_transformers
    import torch

    dev = pick_device(device)
    if dev.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(dev))
    elif dev == "mps":
        name = "Apple GPU (mps)"
    else:
        name = platform.processor() or platform.machine()
    return {
        "device": dev,
        "device_name": name,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }
