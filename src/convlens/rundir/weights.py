"""Weights files a user brings: safetensors, or a PyTorch state dict read without code.

A ``.pt``/``.pth``/``.bin`` file is read with ``torch.load(weights_only=True)``, which
refuses any pickle that would construct objects other than tensors and containers:
a file whose pickle would run code is an error, never a call. A state dict nested
under ``"state_dict"``, ``"model"`` or ``"model_state_dict"`` (Lightning and common
training scripts) is unwrapped, and the ``module.`` prefix that ``DataParallel``
adds is dropped when the model's own names lack it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..errors import ModelError, PathNotFoundError, first_line

__all__ = ["fit_state", "load_safetensors", "native_path", "read_weights"]

_NESTED = ("state_dict", "model_state_dict", "model")


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file or a PyTorch state dict, by name."""
    path = Path(path)
    if not path.exists():
        raise PathNotFoundError(
            f"weights file {str(path)!r} does not exist: expected a .safetensors file or a "
            "PyTorch state dict (.pt); check the path"
        )
    if path.is_dir():
        raise ModelError(f"weights {str(path)!r} is a folder, expected a weights file")
    if path.suffix == ".safetensors" or _is_safetensors(path):
        return load_safetensors(
            path,
            f"weights file {str(path)!r} is not a readable safetensors file",
            "save it again with safetensors.torch.save_file",
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle and zip errors come in many types
        reason = first_line(exc)
        raise ModelError(
            f"weights file {str(path)!r} cannot be read as a state dict without running code "
            f"({reason[:200]}); save model.state_dict() with torch.save, or use safetensors"
        ) from None
    return _state_dict(obj, path)


@contextmanager
def native_path(path: str | Path) -> Iterator[str]:
    """A path string that safetensors' native code accepts for ``path``: the path itself
    when it is valid UTF-8, else ``/proc/self/fd/N`` of a descriptor held open meanwhile
    (a run directory may sit at a path whose bytes are not UTF-8)."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        fd = os.open(path, os.O_RDONLY)
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    yield text


def load_safetensors(path: Path, what: str, fix: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a damaged file is one :class:`ModelError`
    (``what`` and ``fix`` frame the reason)."""
    try:
        with native_path(path) as native:
            return load_file(native)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{what} ({first_line(exc)}); {fix}") from None


def _is_safetensors(path: Path) -> bool:
    """A safetensors file starts with an 8-byte header size and then ``{``."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in _NESTED:
            inner = obj.get(key)
            if (
                isinstance(inner, Mapping)
                and inner
                and all(torch.is_tensor(v) for v in inner.values())
            ):
                obj = inner
                break
    if (
        not isinstance(obj, Mapping)
        or not obj
        or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items())
    ):
        kind = type(obj).__name__
        keys = ", ".join(map(str, list(obj)[:5])) if isinstance(obj, Mapping) else ""
        raise ModelError(
            f"weights file {str(path)!r} holds a {kind}{f' with keys {keys}' if keys else ''}, "
            "not a state dict of tensors; save model.state_dict()"
        )
    return dict(obj)


def fit_state(model: nn.Module, state: Mapping[str, torch.Tensor], what: str, fix: str) -> None:
    """Load ``state`` into ``model``; names and shapes must match exactly.

    A mismatch is one :class:`ModelError` naming the first missing and unexpected
    keys and shape differences; ``what`` names the file, ``fix`` says what to do.
    """
    own = model.state_dict()
    state = dict(state)
    prefix = "module."
    if (
        state
        and all(k.startswith(prefix) for k in state)
        and not any(k.startswith(prefix) for k in own)
    ):
        state = {k[len(prefix) :]: v for k, v in state.items()}
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or extra or wrong:
        detail = "; ".join(
            part
            for part in (
                f"shape mismatch: {', '.join(wrong[:3])}" if wrong else "",
                _listed("missing", missing),
                _listed("unexpected", extra),
            )
            if part
        )
        raise ModelError(f"{what} does not fit the model ({detail}); {fix}")
    model.load_state_dict(state)


def _listed(label: str, keys: list[str]) -> str:
    if not keys:
        return ""
    more = f" (and {len(keys) - 3} more)" if len(keys) > 3 else ""
    return f"{label} {', '.join(keys[:3])}{more}"
