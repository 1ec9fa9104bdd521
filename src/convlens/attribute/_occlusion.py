"""Occlusion (Zeiler & Fergus 2013): the score drop when a window is covered.

Each position of a sliding window over the spatial axes is replaced by the
baseline; each input element gets the mean score drop over the windows that
cover it. All (sample, window) rows run in batches.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConvlensError
from ._base import Method, Pipeline
from ._integrated_gradients import make_baseline


def _pair(v: int | tuple[int, int], what: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or any(int(a) < 1 for a in t):
        raise ConvlensError(f"{what}={v!r} must be a positive int or a (height, width) pair")
    return int(t[0]), int(t[1])


def window_masks(size: tuple[int, int], window: Any, stride: Any) -> torch.Tensor:
    """(P, H, W) float masks, one per window position (1 inside the window)."""
    h, w = size
    wh, ww = _pair(window, "window")
    sh, sw = _pair(stride, "stride")
    if wh > h or ww > w:
        raise ConvlensError(f"window {(wh, ww)} is larger than the input's {h}x{w} plane")
    ys = list(range(0, h - wh + 1, sh))
    xs = list(range(0, w - ww + 1, sw))
    if ys[-1] != h - wh:
        ys.append(h - wh)
    if xs[-1] != w - ww:
        xs.append(w - ww)
    masks = torch.zeros(len(ys) * len(xs), h, w)
    for k, (y, x) in enumerate((y, x) for y in ys for x in xs):
        masks[k, y : y + wh, x : x + ww] = 1
    return masks


class Occlusion(Method):
    name = "occlusion"

    def attribute(
        self,
        pipe: Pipeline,
        x: torch.Tensor,
        rows: torch.Tensor | None,
        *,
        window: Any = 8,
        stride: Any = 4,
        baseline: Any = None,
    ) -> torch.Tensor:
        if x.ndim != 4:
            raise ConvlensError(f"occlusion needs (N, C, H, W) inputs, got shape {tuple(x.shape)}")
        n = len(x)
        rows = torch.arange(n, device=x.device) if rows is None else rows.to(x.device)
        base = make_baseline(x, baseline)
        masks = window_masks(tuple(x.shape[2:]), window, stride).to(x.device, x.dtype)
        clean = pipe.prepare(x) if pipe.target is None else pipe.scores(x, rows)
        drop = torch.zeros_like(x[:, :1])
        for sl in pipe.chunks(len(masks) * n, n):
            flat = torch.arange(sl.start, sl.stop, device=x.device)
            k, i = flat // n, flat % n
            m = masks[k].unsqueeze(1)
            covered = x[i] * (1 - m) + base[i] * m
            diff = clean[i] - pipe.scores(covered, rows[i])
            drop.index_add_(0, i, diff.view(-1, 1, 1, 1) * m)
        counts = masks.sum(0).clamp_min(1)
        return (drop / counts).expand_as(x).clone()


_occlusion = Occlusion()


def occlusion(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Any = "predicted",
    *,
    window: int | tuple[int, int] = 8,
    stride: int | tuple[int, int] = 4,
    baseline: Any = None,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Mean score drop when covering windows: (N, C, H, W) -> (N, C, H, W).

    The map is the same for every channel (the window covers all channels).
    ``baseline``: None/"zeros", a number, "mean" or a tensor. Window positions run
    with ``stride`` and always include the last row and column.

    >>> # maps = occlusion(model, x, 3, window=8, stride=4)
    """
    return _occlusion(
        model,
        inputs,
        target,
        window=window,
        stride=stride,
        baseline=baseline,
        batch_size=batch_size,
    )
