"""Which tensor of a layer a layer method (Grad-CAM) weighs, and how it is tapped.

``layer="conv2"`` means the output of ``conv2``; :class:`Layer` says more: the
layer's input instead of its output, and which call when the forward pass runs
the layer several times (a shared block). The default is the **last** call, and
a :class:`LayerCallWarning` says so when there was more than one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ConvlensWarning, LayerError
from ..model.hooks import Hooks
from ..model.modules import get_layer

__all__ = ["Layer", "LayerCallWarning", "as_layer"]


class LayerCallWarning(ConvlensWarning):
    """The chosen layer ran several times and no call was chosen: the last one is used."""


@dataclass(frozen=True)
class Layer:
    """A tensor of a layer: ``Layer("conv2")``, ``Layer("relu1", input=True)``,
    ``Layer("block", call=0)``.

    - ``name``: the layer's dotted name (see ``convlens layers``);
    - ``input``: the tensor(s) the layer receives, rather than what it returns;
    - ``call``: which call of the layer, 0-based, negative from the end; None
      (the default) is the last call, with a :class:`LayerCallWarning` when the
      layer ran more than once.
    """

    name: str
    input: bool = False
    call: int | None = None

    def label(self) -> str:
        where = " input" if self.input else ""
        call = "" if self.call is None else f" call {self.call}"
        return f"{self.name}{where}{call}"


def as_layer(layer: Any, method: str) -> Layer:
    """``layer`` (a name or a :class:`Layer`) as a :class:`Layer`; a clear error otherwise."""
    if isinstance(layer, Layer):
        return layer
    if isinstance(layer, str) and layer:
        return Layer(layer)
    raise LayerError(
        f"{method} needs layer=NAME (or Layer(NAME, input=..., call=...)), got {layer!r}: "
        "choose a layer of the model (see `convlens layers`)"
    )


class Tap:
    """Hooks one layer so that its tensors at every call can be differentiated.

    Each floating tensor the layer returns (or, with ``input=True``, receives) is
    kept as a tensor of the graph, and the network goes on with a copy, so that a
    later in-place op (``nn.ReLU(inplace=True)``) cannot change what is kept. The
    pipeline's inputs always require gradients, so a kept tensor normally does too,
    frozen parameters or not, and its gradient covers all its uses; one that depends
    on no input is replaced by a leaf that requires gradients.
    """

    def __init__(self, spec: Layer):
        self.spec = spec
        self.calls: list[tuple[torch.Tensor, ...]] = []

    def attach(self, hooks: Hooks, model: nn.Module) -> None:
        get_layer(model, self.spec.name)
        if self.spec.input:
            hooks.forward_pre(self.spec.name, self._pre)
        else:
            hooks.forward(self.spec.name, self._post)

    def _swap(self, value: Any) -> tuple[Any, list[torch.Tensor]]:
        if isinstance(value, torch.Tensor):
            if not value.is_floating_point():
                return value, []
            kept = value if value.requires_grad else value.detach().requires_grad_(True)
            return kept.clone(), [kept]
        if isinstance(value, (tuple, list)):
            parts = [self._swap(v) for v in value]
            return type(value)(p for p, _ in parts), [t for _, ts in parts for t in ts]
        return value, []

    def _pre(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        new, kept = self._swap(tuple(args))
        self.calls.append(tuple(kept))
        return new

    def _post(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        new, kept = self._swap(output)
        self.calls.append(tuple(kept))
        return new

    def chosen(self) -> tuple[torch.Tensor, ...]:
        """The kept tensors of the chosen call; a clear error if there are none."""
        name, n = self.spec.name, len(self.calls)
        what = "input" if self.spec.input else "output"
        if n == 0:
            raise LayerError(
                f"layer {name!r} was not called in the forward pass: choose a layer the "
                "model runs (see `convlens layers`)"
            )
        call = self.spec.call
        if call is None:
            if n > 1:
                warnings.warn(
                    f"layer {name!r} ran {n} times in one forward pass; its last call is "
                    f"used; choose one with Layer({name!r}, call=0..{n - 1})",
                    LayerCallWarning,
                    stacklevel=5,
                )
            call = -1
        if not -n <= call < n:
            raise LayerError(
                f"call={call!r} of layer {name!r} does not exist: the layer ran {n} time(s) "
                f"in one forward pass; expected a call in {-n}..{n - 1}"
            )
        kept = self.calls[call]
        if not kept:
            raise LayerError(
                f"layer {name!r} has no floating-point tensor {what}: choose a layer whose "
                f"{what} is a float tensor (see `convlens layers`)"
            )
        return kept
