"""Where torch work runs: one ``device`` option, resolved in one place.

``resolve_device("auto")`` picks the first CUDA GPU when there is one, else the CPU.
``"cpu"``, ``"cuda"`` and ``"cuda:N"`` ask for a device explicitly; asking for CUDA on a
machine without a GPU is a user error, not a silent fallback. Algorithm code makes
no hard-coded GPU call: the device comes from this option or from the model (:func:`model_device`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Union

from .errors import InputError, bad_value

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEVICE_CHOICES = "'auto', 'cpu', 'cuda' or 'cuda:N'"
_CUDA = re.compile(r"^cuda(?::(\d+))?$")

DeviceLike = Union[str, "torch.device"]


def resolve_device(device: DeviceLike = "auto") -> "torch.device":
    """Turn a ``device`` option into a concrete :class:`torch.device`.

    ``"auto"`` gives ``cuda:<current>`` when ``torch.cuda.is_available()``, else ``cpu``.
    ``"cuda"`` is normalised to ``cuda:<current device index>`` so the result always
    names one GPU. Raises :class:`InputError` for anything else, for CUDA without a GPU
    and for a GPU index that does not exist.
    """
    import torch

    if isinstance(device, torch.device):
        text = str(device)
    elif isinstance(device, str):
        text = device.strip().lower()
    else:
        raise bad_value("device", DEVICE_CHOICES, device)

    if text == "cpu":
        return torch.device("cpu")
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    match = _CUDA.match(text)
    if match is None:
        raise bad_value("device", DEVICE_CHOICES, device)
    if not torch.cuda.is_available():
        raise InputError(
            f"device {text!r} was requested but no CUDA GPU is available; use 'auto' or 'cpu'"
        )
    count = torch.cuda.device_count()
    index = int(match.group(1)) if match.group(1) is not None else torch.cuda.current_device()
    if index >= count:
        raise InputError(
            f"device {text!r} was requested but this machine has {count} CUDA GPU(s) "
            f"(cuda:0 to cuda:{count - 1}); use 'auto', 'cpu' or an existing index"
        )
    return torch.device("cuda", index)


def model_device(module: "torch.nn.Module") -> "torch.device":
    """The device of a module's first parameter (or buffer); CPU for a module with neither."""
    import torch

    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def model_dtype(module: "torch.nn.Module") -> "torch.dtype":
    """The dtype of a module's first floating-point parameter (or buffer); float32 if none."""
    import torch

    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def cuda_index(device: "torch.device") -> int:
    """The GPU index of a CUDA device (the current device when the index is unset)."""
    import torch

    return device.index if device.index is not None else torch.cuda.current_device()


def synchronize(device: "torch.device") -> None:
    """Wait for queued GPU work on ``device`` (no-op on CPU); call before reading a clock."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
