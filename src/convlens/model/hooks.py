"""The one owner of hooks.

Every hook convlens puts on a user's model goes through a :class:`Hooks` context
manager, which removes all of them on exit, also when the body raises.
:func:`capture` builds on it to record layer outputs (and, on request, inputs).

Example::

    with capture(model, ["conv1", "fc1"]) as seen:
        model(x)
    seen["conv1"]            # (N, C, H, W) output of conv1
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .modules import get_layer

__all__ = ["Captured", "Hooks", "StopForward", "capture", "forward_until"]


class Hooks:
    """Context manager owning hooks on the layers of one model.

    ``forward(name, fn)`` registers ``fn(module, inputs, output)`` on layer ``name``,
    ``forward_pre(name, fn)`` a pre-hook ``fn(module, inputs)``, and ``tensor(t, fn)``
    a gradient hook on a tensor created inside the block. All are removed on exit.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def forward(self, name: str, fn: Callable[..., Any], *, with_kwargs: bool = False) -> None:
        module = get_layer(self.model, name) if name else self.model
        self._handles.append(module.register_forward_hook(fn, with_kwargs=with_kwargs))

    def forward_pre(self, name: str, fn: Callable[..., Any]) -> None:
        module = get_layer(self.model, name) if name else self.model
        self._handles.append(module.register_forward_pre_hook(fn))

    def module_forward(self, module: nn.Module, fn: Callable[..., Any]) -> None:
        """A forward hook on a module object (for hooks on every module of a type)."""
        self._handles.append(module.register_forward_hook(fn))

    def module_forward_pre(self, module: nn.Module, fn: Callable[..., Any]) -> None:
        """A forward pre-hook on a module object."""
        self._handles.append(module.register_forward_pre_hook(fn))

    def tensor(self, t: torch.Tensor, fn: Callable[[torch.Tensor], Any]) -> None:
        self._handles.append(t.register_hook(fn))

    def remove(self) -> None:
        while self._handles:
            self._handles.pop().remove()


class Captured(dict):
    """Outputs seen during a forward pass, by layer name; inputs in ``.inputs``."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, torch.Tensor] = {}


class StopForward(Exception):
    """Raised by a hook to end a forward pass once every wanted layer was seen."""


@contextmanager
def capture(
    model: nn.Module,
    layers: Sequence[str],
    *,
    inputs: bool = False,
    detach: bool = True,
    clone: bool = True,
    stop_after: bool = False,
) -> Iterator[Captured]:
    """Record the outputs (and with ``inputs=True`` the first inputs) of ``layers``.

    - ``clone=True`` copies each output when the layer produces it, so a later
      in-place operation (``nn.ReLU(inplace=True)``) cannot change what was seen.
    - ``detach=False`` keeps the autograd graph; with ``clone=False`` the captured
      tensor is the very tensor the network goes on with, so gradients with
      respect to it are the layer's gradients (Grad-CAM uses this).
    - ``stop_after=True`` raises :class:`StopForward` once all layers were seen;
      use :func:`forward_until` to run such a pass.

    A layer called several times keeps its last output. Every hook is removed on
    exit, also after an exception.
    """
    wanted = list(dict.fromkeys(layers))
    seen = Captured()

    def keep(t: Any) -> Any:
        if not isinstance(t, torch.Tensor):
            return t
        if detach:
            t = t.detach()
        return t.clone() if clone else t

    def make_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            seen[name] = keep(output)
            if inputs and args:
                seen.inputs[name] = keep(args[0])
            if stop_after and all(w in seen for w in wanted):
                raise StopForward

        return hook

    with Hooks(model) as hooks:
        for name in wanted:
            hooks.forward(name, make_hook(name))
        yield seen


def forward_until(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str], **options: Any
) -> Captured:
    """Run ``model(x)`` only as far as needed to see every layer in ``layers``.

    >>> # seen = forward_until(model, x, ["conv2"]); seen["conv2"].shape
    """
    with capture(model, layers, stop_after=True, **options) as seen, suppress(StopForward):
        model(x)
    return seen
