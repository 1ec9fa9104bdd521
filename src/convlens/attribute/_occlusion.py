"""Occlusion (Zeiler & Fergus 2013): the score drop when a window is covered.

A window slides over the axes of each input; each position is replaced by the
baseline and the target score drops by some amount. Each input element gets the
mean drop over the windows that cover it. Window positions start at 0 and move by
``stride`` until the window reaches the far edge; the last window along an axis
may be cut by the edge (captum's grid). A stride larger than the window would
leave elements uncovered and is refused. Inputs are occluded one at a time, the
others kept; all (sample, window) rows run in batches.

Windows and strides name the axes they slide over: an int slides over every axis
after the channel axis (covering all channels; for (N, F) inputs, over F); a
tuple gives one size per axis, either for every axis but the batch axis
(``(1, 4, 4)`` for a (C, H, W) sample: one channel at a time) or for every axis
after the channel axis (``(4, 4)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ConvlensError
from ._base import Inputs, Method, Pipeline, accumulate, rows_of
from ._inputs import make_baselines, per_input


@dataclass(frozen=True)
class Windows:
    """The windows of one input: per windowed axis (of the per-sample shape) its
    ``size``, ``starts`` and the input's ``extent`` along it."""

    axes: tuple[int, ...]
    size: tuple[int, ...]
    starts: tuple[tuple[int, ...], ...]
    shape: tuple[int, ...]

    @property
    def count(self) -> int:
        return math.prod(len(s) for s in self.starts)

    def masks(self, p: torch.Tensor) -> torch.Tensor:
        """(M, *shape with 1 on unwindowed axes) bool masks of window positions ``p`` (M,)."""
        dims = [1] * len(self.shape)
        mask = torch.ones((len(p), *dims), dtype=torch.bool, device=p.device)
        rest = p
        per_axis = list(zip(self.axes, self.size, self.starts, strict=True))
        for axis, size, starts in reversed(per_axis):
            k = rest % len(starts)
            rest = rest // len(starts)
            start = torch.tensor(starts, device=p.device)[k].view(-1, 1)
            coord = torch.arange(self.shape[axis], device=p.device).view(1, -1)
            inside = (coord >= start) & (coord < start + size)
            view = [len(p)] + [1] * len(self.shape)
            view[1 + axis] = self.shape[axis]
            mask = mask & inside.view(view)
        return mask

    def coverage(self, device: torch.device) -> torch.Tensor:
        """(1, *shape with 1 on unwindowed axes): how many windows cover each element."""
        counts = torch.ones([1] * (1 + len(self.shape)), device=device)
        for axis, size, starts in zip(self.axes, self.size, self.starts, strict=True):
            coord = torch.arange(self.shape[axis], device=device).view(-1, 1)
            s = torch.tensor(starts, device=device).view(1, -1)
            per = ((coord >= s) & (coord < s + size)).sum(1).float()
            view = [1] * (1 + len(self.shape))
            view[1 + axis] = self.shape[axis]
            counts = counts * per.view(view)
        return counts


def _sizes(value: Any, what: str, k: int, shape: tuple[int, ...]) -> tuple[tuple[int, ...], Any]:
    """(axes, sizes) that ``value`` (an int or a tuple) names on a per-sample ``shape``."""
    rank = len(shape)
    if isinstance(value, int) and not isinstance(value, bool):
        axes = tuple(range(1, rank)) if rank >= 2 else tuple(range(rank))
        return axes, (value,) * len(axes)
    if isinstance(value, (tuple, list)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        if len(value) == rank:
            return tuple(range(rank)), tuple(value)
        if rank >= 2 and len(value) == rank - 1:
            return tuple(range(1, rank)), tuple(value)
    spatial = f" or {rank - 1} (the axes after the channel axis)" if rank >= 2 else ""
    raise ConvlensError(
        f"{what} {value!r} does not fit inputs[{k}] of per-sample shape {shape}: expected an "
        f"int or a tuple of {rank} sizes (every axis but the batch axis){spatial}"
    )


def make_windows(shape: tuple[int, ...], window: Any, stride: Any, k: int = 0) -> Windows:
    """The :class:`Windows` of ``window`` and ``stride`` on a per-sample ``shape``.

    >>> make_windows((1, 4, 4), 2, 2).starts
    ((0, 2), (0, 2))
    """
    axes, size = _sizes(window, "window", k, shape)
    if isinstance(stride, int) and not isinstance(stride, bool):
        step = (stride,) * len(axes)
    elif isinstance(stride, (tuple, list)) and len(stride) in (len(axes), len(shape)):
        step = tuple(stride)[-len(axes) :] if axes else ()
    else:
        raise ConvlensError(
            f"stride {stride!r} does not fit window {window!r} of inputs[{k}] (per-sample "
            f"shape {shape}): give one int, or one stride per windowed axis ({len(axes)})"
        )
    starts = []
    for axis, w, s in zip(axes, size, step, strict=True):
        extent = shape[axis]
        if w < 1 or s < 1:
            raise ConvlensError(
                f"window {window!r} and stride {stride!r} must be positive for inputs[{k}]"
            )
        if w > extent:
            raise ConvlensError(
                f"window {window!r} is larger than inputs[{k}] along axis {axis + 1} "
                f"(size {extent}, per-sample shape {shape}): choose a window of at most "
                f"{extent} there"
            )
        if s > w:
            raise ConvlensError(
                f"stride {stride!r} is larger than window {window!r} for inputs[{k}] "
                f"(axis {axis + 1}: stride {s} > window {w}), which would leave elements "
                "uncovered: use a stride of at most the window's size"
            )
        starts.append(tuple(range(0, extent - w + s, s)))  # ceil((extent - w) / s) + 1
    return Windows(axes, size, tuple(starts), shape)


class Occlusion(Method):
    name = "occlusion"

    def attribute(
        self,
        pipe: Pipeline,
        xs: Inputs,
        rows: torch.Tensor | None,
        *,
        window: Any = 8,
        stride: Any = 4,
        baseline: Any = None,
    ) -> Inputs:
        n, x0 = len(xs[0]), xs[0]
        rows = rows_of(xs, rows)
        bases = make_baselines(xs, baseline, rows, pipe.n or n)
        sizes = per_input(window, len(xs), "window", sizes=True)
        steps = per_input(stride, len(xs), "stride", sizes=True)
        windows = [
            make_windows(tuple(x.shape[1:]), sizes[k], steps[k], k) for k, x in enumerate(xs)
        ]
        clean = pipe.prepare(xs) if pipe.target is None else pipe.scores(xs, rows)
        out = []
        for k, (x, base, win) in enumerate(zip(xs, bases, windows, strict=True)):
            drop = torch.zeros((n, *win.coverage(x.device).shape[1:]), device=x.device)
            for sl in pipe.chunks(win.count * n, n):
                flat = torch.arange(sl.start, sl.stop, device=x0.device)
                p, i = flat // n, flat % n
                mask = win.masks(p)
                covered = torch.where(mask, base[i], x[i])
                rows_in = tuple(covered if j == k else xj[i] for j, xj in enumerate(xs))
                diff = clean[i] - pipe.scores(rows_in, rows[i])
                accumulate(drop, sl.start, diff.view(-1, *([1] * (x.ndim - 1))) * mask)
            counts = win.coverage(x.device)
            out.append((drop / counts.clamp_min(1)).to(x.dtype).expand_as(x).clone())
        return tuple(out)


_occlusion = Occlusion()


def occlusion(
    model: nn.Module,
    inputs: Any,
    target: Any = "predicted",
    *,
    window: Any = 8,
    stride: Any = 4,
    baseline: Any = None,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
) -> Any:
    """Mean score drop when covering windows: (N, C, H, W) -> (N, C, H, W).

    - ``window``, ``stride``: an int (every axis after the channel axis, all
      channels covered at once) or a tuple of sizes (see the module docstring);
      with several inputs, one value for all or a tuple with one per input. A
      stride larger than its window is refused.
    - ``baseline``: None/"zeros", a number, "mean" or a tensor; per input likewise.

    >>> # maps = occlusion(model, x, 3, window=8, stride=4)
    """
    return _occlusion(
        model,
        inputs,
        target,
        window=window,
        stride=stride,
        baseline=baseline,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
    )
