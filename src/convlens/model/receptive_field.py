"""Receptive fields: which input box a feature-map position sees.

A layer's receptive field along each spatial axis is a ``size``, a ``stride``
and an ``offset``: position ``i`` of the layer is centred on input coordinate
``offset + i * stride`` and covers ``size`` pixels. They are computed by tracing
one forward pass (see ``docs/receptive-fields.md``), so they hold for any
architecture: padding, dilation, strides, pooling, residual branches (the union
of the branches), functional calls and global pooling (the whole input).

>>> from convlens import zoo
>>> rf = receptive_fields(zoo.create("lenet"), (1, 28, 28))["pool2"]
>>> rf.size, rf.stride, rf.offset
((16, 16), (4, 4), (7.5, 7.5))
>>> rf_box(rf, 0, 1)
(0, 4, 16, 20)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from torch import nn

from ..errors import LayerError

if TYPE_CHECKING:
    from .layers import LayerInfo

__all__ = ["ReceptiveField", "receptive_fields", "rf_box", "rf_boxes"]


@dataclass(frozen=True)
class ReceptiveField:
    """Size, stride (ints) and offset (float) per spatial axis, e.g. (h, w).

    ``offset`` is the input coordinate of the centre of position (0, 0); it may
    be negative when the network pads. A stride of 0 means every position sees
    the same box (the layer mixed all positions). ``exact`` is False when the
    box is a safe over-estimate; ``note`` then says why.
    """

    size: tuple[int, ...]
    stride: tuple[int, ...]
    offset: tuple[float, ...]
    exact: bool = True
    note: str | None = None

    def box(self, i: int, j: int, clip: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
        """Same as :func:`rf_box` for this field."""
        return rf_box(self, i, j, clip)


class _HasField(Protocol):
    rf_size: tuple[int, ...] | None
    rf_stride: tuple[int, ...] | None
    rf_offset: tuple[float, ...] | None
    name: str


def _parts(
    info: ReceptiveField | _HasField,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[float, ...]]:
    if isinstance(info, ReceptiveField):
        return info.size, info.stride, info.offset
    if info.rf_size is None or info.rf_stride is None or info.rf_offset is None:
        raise LayerError(
            f"layer {info.name!r} has no spatial output, so no receptive field; "
            "pick a convolution or pooling layer (see `convlens layers`)"
        )
    return info.rf_size, info.rf_stride, info.rf_offset


def rf_box(
    info: ReceptiveField | LayerInfo,
    i: int,
    j: int,
    clip: tuple[int, int] | None = None,
) -> tuple[int, int, int, int]:
    """The half-open input box ``(y0, x0, y1, x1)`` seen by position (i, j).

    Centre ``c = offset + i * stride``; rows ``c - (size-1)/2 .. c + (size-1)/2``
    inclusive, so ``y1 = y0 + size``. With ``clip=(H, W)`` the box is cut to the
    input (it may extend past the border where the network pads).

    >>> rf_box(ReceptiveField((6, 6), (2, 2), (2.5, 2.5)), 1, 0)
    (2, 0, 8, 6)
    """
    box = rf_boxes(info, np.array([[i, j]]), clip)[0]
    return int(box[0]), int(box[1]), int(box[2]), int(box[3])


def rf_boxes(
    info: ReceptiveField | LayerInfo,
    positions: np.ndarray | Sequence[Sequence[int]],
    clip: tuple[int, int] | None = None,
) -> np.ndarray:
    """Boxes for many positions: (M, 2) (row, col) -> int64 (M, 4) (y0, x0, y1, x1).

    >>> rf_boxes(ReceptiveField((5, 5), (1, 1), (2.0, 2.0)), [[0, 0], [3, 1]], clip=(6, 6))
    array([[0, 0, 5, 5],
           [3, 1, 6, 6]])
    """
    size, stride, offset = _parts(info)
    if len(size) != 2:
        raise LayerError(
            f"rf_box needs a 2-D receptive field (h, w), got {len(size)} axes; "
            "index the per-axis values (size, stride, offset) directly"
        )
    pos = np.asarray(positions, dtype=np.int64).reshape(-1, 2)
    first = np.array([o - (s - 1) / 2 for o, s in zip(offset, size, strict=True)])
    lo = np.rint(first[None, :] + pos * np.asarray(stride)[None, :]).astype(np.int64)
    hi = lo + np.asarray(size, dtype=np.int64)[None, :]
    if clip is not None:
        limit = np.asarray(clip, dtype=np.int64)[None, :]
        lo = np.clip(lo, 0, limit)
        hi = np.clip(hi, lo, limit)
    return np.concatenate([lo, hi], axis=1)


def receptive_fields(model: nn.Module, input_shape: Sequence[int]) -> dict[str, ReceptiveField]:
    """``{layer name: ReceptiveField}`` for every layer with a spatial output.

    One dry forward pass on zeros of shape ``(1, *input_shape)``; the model is
    left unchanged (mode restored, no hook left).

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2))
    >>> receptive_fields(net, (1, 8, 8))["1"].size
    (4, 4)
    """
    from .layers import layer_table

    out: dict[str, ReceptiveField] = {}
    for info in layer_table(model, input_shape):
        if info.receptive_field is not None:
            out[info.name] = info.receptive_field
    return out
