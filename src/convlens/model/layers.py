"""The layer table: name, type, output shape, parameters and receptive field.

>>> from convlens import zoo
>>> table = layer_table(zoo.create("lenet"), (1, 28, 28))
>>> [(i.name, i.output_shape, i.params) for i in table[:2]]
[('conv1', (20, 24, 24), 520), ('pool1', (20, 12, 12), 0)]
>>> table[1].rf_size, table[1].rf_stride, table[1].rf_offset
((6, 6), (2, 2), (2.5, 2.5))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ConvlensError, InputShapeError, first_line
from ._rf_field import Field, input_field
from ._rf_trace import FieldTracer, attach, field_of
from .blocks import default_layers
from .hooks import Hooks
from .receptive_field import ReceptiveField

__all__ = ["LayerInfo", "layer_table"]


@dataclass(frozen=True)
class LayerInfo:
    """One row of the layer table.

    ``output_shape`` excludes the batch dimension: (C, H, W) for spatial layers,
    (D,) after flattening. ``params`` counts the layer's own parameters, not its
    children's. ``rf_size``/``rf_stride`` (ints) and ``rf_offset`` (input
    coordinate of the centre of position (0, 0)) are given per spatial axis, e.g.
    (h, w), for layers with a spatial output and are None otherwise. ``rf_note``
    says why a receptive field is an over-estimate (None when it is exact).
    ``default`` marks the layers tools take when none are named: what the network
    passes on from stage to stage (:func:`convlens.model.default_layers`).
    """

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    rf_size: tuple[int, ...] | None = None
    rf_stride: tuple[int, ...] | None = None
    rf_offset: tuple[float, ...] | None = None
    rf_note: str | None = None
    default: bool = False

    @property
    def spatial(self) -> bool:
        """True for layers with a spatial output such as (C, H, W)."""
        return self.rf_size is not None

    @property
    def receptive_field(self) -> ReceptiveField | None:
        if self.rf_size is None or self.rf_stride is None or self.rf_offset is None:
            return None
        return ReceptiveField(
            self.rf_size, self.rf_stride, self.rf_offset, self.rf_note is None, self.rf_note
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: name, type, output_shape, params, default (+ rf_* when spatial)."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "default": self.default,
        }
        if self.spatial:
            out["rf_size"] = list(self.rf_size or ())
            out["rf_stride"] = list(self.rf_stride or ())
            out["rf_offset"] = list(self.rf_offset or ())
            if self.rf_note is not None:
                out["rf_note"] = self.rf_note
        return out


def layer_table(
    model: nn.Module, input_shape: Sequence[int], defaults: bool = True
) -> list[LayerInfo]:
    """Every sub-module that runs in a forward pass, in ``named_modules`` order.

    One dry forward pass on zeros of shape ``(1, *input_shape)`` (input_shape is
    (C, H, W)), in eval mode and without gradients, and one more on random input
    to find the default layers (``defaults=False`` leaves every ``default`` False and
    skips that pass); each module's training flag is restored and every hook removed
    afterwards, also on error.
    """
    shape = _check_shape(input_shape)
    seen = _trace(model, shape)
    chosen = set(default_layers(model, shape)) if defaults else set()
    spatial_rank = len(shape)
    k = len(shape) - 1
    table: list[LayerInfo] = []
    for name, module in model.named_modules():
        if not name or name not in seen:
            continue
        out_shape, field = seen[name]
        info = LayerInfo(
            name=name,
            type=type(module).__name__,
            output_shape=out_shape,
            params=sum(p.numel() for p in module.parameters(recurse=False)),
            default=name in chosen,
        )
        if k >= 1 and len(out_shape) == spatial_rank:
            info = _with_field(info, field, shape[1:])
        table.append(info)
    return table


def _check_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if not shape or any(v <= 0 for v in shape):
        raise InputShapeError(
            f"input_shape={input_shape!r}: expected positive sizes without the batch "
            "dimension, like (1, 28, 28) for (C, H, W)"
        )
    return shape


def _trace(
    model: nn.Module, shape: tuple[int, ...]
) -> dict[str, tuple[tuple[int, ...], Field | None]]:
    """Run the dry pass; ``{name: (output shape without batch, field)}``."""
    seen: dict[str, tuple[tuple[int, ...], Field | None]] = {}

    def make_hook(name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            t = _first_tensor(output)
            if t is not None and t.ndim >= 1:
                seen[name] = (tuple(int(v) for v in t.shape[1:]), field_of(t))

        return hook

    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    device = param.device if param is not None else torch.device("cpu")
    flags = {m: m.training for m in model.modules()}
    x = torch.zeros((1, *shape), dtype=dtype, device=device)
    if len(shape) >= 2:
        attach(x, input_field(shape[1:]))
    try:
        model.eval()
        with Hooks(model) as hooks, torch.no_grad():
            for name, module in model.named_modules():
                if name:
                    hooks.module_forward(module, make_hook(name))
            with FieldTracer():
                model(x)
    except ConvlensError:
        raise
    except Exception as exc:
        reason = first_line(exc)
        raise InputShapeError(
            f"a dry forward pass of {type(model).__name__} on input shape {shape} failed "
            f"({type(exc).__name__}: {reason}); pass the input shape (C, H, W) the model expects"
        ) from None
    finally:
        for m, flag in flags.items():
            m.training = flag
    return seen


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (list, tuple)):
        for item in output:
            if (t := _first_tensor(item)) is not None:
                return t
    if isinstance(output, dict):
        for item in output.values():
            if (t := _first_tensor(item)) is not None:
                return t
    return None


def _with_field(info: LayerInfo, field: Field | None, spatial: tuple[int, ...]) -> LayerInfo:
    """Fill the rf_* entries of a spatial layer from its traced field."""
    k = len(spatial)
    if field is None:
        axes = [(0, n - 1, 0) for n in spatial]
        note = "the output was not traced back to the input; taken as the whole input"
    elif field.axes is None or len(field.axes) != k:
        axes = [(lo, hi, 0) for lo, hi in field.hull]
        note = "; ".join((*field.notes, "the output mixes all positions of its input")) or None
    else:
        axes = list(field.axes)
        note = "; ".join(field.notes) or None
    return LayerInfo(
        name=info.name,
        type=info.type,
        output_shape=info.output_shape,
        params=info.params,
        rf_size=tuple(hi - lo + 1 for lo, hi, _ in axes),
        rf_stride=tuple(j for _, _, j in axes),
        rf_offset=tuple((lo + hi) / 2 for lo, hi, _ in axes),
        rf_note=note,
        default=info.default,
    )
