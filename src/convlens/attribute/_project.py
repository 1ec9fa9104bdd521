"""Projecting one unit of a layer back to the input (Zeiler & Fergus 2013).

Used by the probe and the explorer to show what a feature-map position, or a
whole channel, responds to in one image.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import TargetError
from ..model.hooks import Hooks, StopForward
from ..model.modules import get_layer
from ..model.rectifiers import rewrite_rectifiers
from ._base import Pipeline, untouched
from ._inputs import as_inputs

__all__ = ["project_units"]


def _per_sample(values: Any, n: int, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(values), dtype=torch.long)
    if t.ndim == 0:
        return t.expand(n).clone()
    if t.shape[0] != n:
        raise TargetError(f"{what} has {t.shape[0]} entries for {n} inputs: give one per sample")
    return t


def project_units(
    model: nn.Module,
    inputs: Any,
    layer: str,
    channels: int | Any,
    positions: Any = None,
    rule: str = "deconvnet",
    *,
    batch_size: int | None = None,
) -> Any:
    """Gradient of one unit of ``layer`` per sample with respect to the input.

    - ``inputs`` (N, C, H, W), or a tuple of tensors sharing N (a tuple of maps
      comes back); ``channels`` an int or (N,) ints;
    - ``positions`` None (the whole channel: the sum over its map; for a fully
      connected layer the unit itself) or (N, 2) (row, col) per sample;
    - ``rule``: ``"deconvnet"``, ``"guided"`` or ``"gradient"`` (no rewrite).

    Returns (N, C, H, W). The forward pass stops at ``layer``; the model is left
    unchanged.

    >>> # proj = project_units(model, x, "features.conv2_1", channels=7, positions=[[3, 4]])
    """
    xs_all, single = as_inputs(inputs)
    get_layer(model, layer)
    n = len(xs_all[0])
    chans = _per_sample(channels, n, "channels")
    pos = None if positions is None else _per_sample(positions, n, "positions").reshape(n, -1)
    outs = [torch.empty_like(x) for x in xs_all]
    size = batch_size or n
    with untouched(model):
        pipe = Pipeline(model, None)
        for start in range(0, n, size):
            sl = slice(start, min(start + size, n))
            xs = tuple(x[sl].requires_grad_(True) for x in xs_all)
            act = _layer_output(pipe, model, xs, layer, rule)
            units = _select(act, chans[sl], None if pos is None else pos[sl], layer)
            grads = torch.autograd.grad(units.sum(), xs, allow_unused=True)
            for out, g in zip(outs, grads, strict=True):
                out[sl] = 0 if g is None else g
    return outs[0] if single else tuple(outs)


def _layer_output(
    pipe: Pipeline, model: nn.Module, x: tuple[torch.Tensor, ...], layer: str, rule: str
) -> torch.Tensor:
    seen: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        seen["out"] = output
        raise StopForward

    with (
        Hooks(model) as hooks,
        rewrite_rectifiers(model, rule),
        suppress(StopForward),
    ):
        hooks.forward(layer, hook)
        pipe.forward(x)
    if "out" not in seen or not isinstance(seen["out"], torch.Tensor):
        raise TargetError(f"layer {layer!r} produced no tensor output in the forward pass")
    return seen["out"]


def _select(
    act: torch.Tensor, chans: torch.Tensor, pos: torch.Tensor | None, layer: str
) -> torch.Tensor:
    shape = tuple(act.shape[1:])
    c = shape[0]
    if bool(((chans < 0) | (chans >= c)).any()):
        bad = int(chans[(chans < 0) | (chans >= c)][0])
        raise TargetError(
            f"channel {bad} is out of range for layer {layer!r} with output shape {shape}: "
            f"expected 0..{c - 1}"
        )
    idx = torch.arange(len(act))
    picked = act[idx, chans]
    if pos is None:
        return picked.reshape(len(act), -1).sum(1)
    if act.ndim != 4 or pos.shape[1] != 2:
        raise TargetError(
            f"positions need a spatial layer and (N, 2) (row, col) pairs; layer {layer!r} has "
            f"output shape {shape} and positions have shape {tuple(pos.shape)}"
        )
    h, w = shape[1:]
    if bool(((pos[:, 0] < 0) | (pos[:, 0] >= h) | (pos[:, 1] < 0) | (pos[:, 1] >= w)).any()):
        raise TargetError(
            f"a position is outside the {h}x{w} map of layer {layer!r}: expected rows 0..{h - 1} "
            f"and cols 0..{w - 1}"
        )
    return picked[idx, pos[:, 0], pos[:, 1]]
