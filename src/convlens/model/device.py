"""Where a model lives: the one place convlens asks a model for its device."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["device_of", "resolve_device"]


def device_of(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter, else of its first buffer, else the CPU.

    Every tensor convlens creates for a model (inputs, noise, index tensors) is
    put on this device, so a model moved with ``model.to("cuda")`` just works.

    >>> device_of(nn.Linear(2, 2))
    device(type='cpu')
    >>> device_of(nn.ReLU())
    device(type='cpu')
    """
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"cpu"`` -> CPU; ``"auto"`` -> CUDA when available, else CPU; else as given.

    A CUDA device always comes back with its index (``"cuda"`` -> ``cuda:N`` of the
    current device), so it compares equal to the device of a parameter on it.

    A device that is not available here is a :class:`~convlens.errors.ModelError`.

    >>> resolve_device(None), resolve_device("cpu")
    (device(type='cpu'), device(type='cpu'))
    """
    from ..errors import ModelError

    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device.strip().lower() == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ModelError(
            f"device {device!r} is not a device: expected 'cpu', 'cuda', 'cuda:N' or 'auto'"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            f"device {device!r} was asked for but CUDA is not available on this machine; "
            "use --device cpu or --device auto"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ModelError(
            f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
            "CUDA device(s); use cuda:0 .. or auto"
        )
    if dev.type not in ("cpu", "cuda"):
        raise ModelError(f"device {device!r} is not supported: expected 'cpu', 'cuda' or 'auto'")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev
