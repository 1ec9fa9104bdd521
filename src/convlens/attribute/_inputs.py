"""Inputs of an attribution: one tensor or several, per-input options, extra arguments.

A model may take several inputs, ``model(x1, x2, *additional_forward_args)``.
Every method accepts ``inputs`` as one tensor (N, ...) or a tuple of tensors that
share the batch size N, and answers with one map or a tuple of maps alike.
Options that depend on the input (baselines, occlusion windows, noise levels)
are given once for all inputs or as a tuple with one entry per input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..errors import ConvlensError, InputShapeError

__all__ = ["ForwardArgs", "as_inputs", "check_inputs", "make_baseline", "per_input"]


def _check_one(x: Any, where: str) -> torch.Tensor:
    plural = where == "inputs"
    is_, has, hold = ("are", "have", "hold") if plural else ("is", "has", "holds")
    if not isinstance(x, torch.Tensor):
        raise InputShapeError(
            f"{where} of type {type(x).__name__} {is_} not a tensor: pass a float tensor "
            "(N, C, H, W) of preprocessed inputs, or a tuple of such tensors"
        )
    if not x.is_floating_point():
        raise InputShapeError(
            f"{where} {has} dtype {x.dtype}: expected a float tensor of preprocessed inputs "
            "(convert uint8 images with the run's normalisation)"
        )
    if x.ndim < 1 or x.shape[0] == 0:
        raise InputShapeError(
            f"{where} of shape {tuple(x.shape)} {has} no batch: expected (N, ...) with "
            "N >= 1; add a batch dimension with inputs[None]"
        )
    if not bool(torch.isfinite(x).all()):
        bad = (~torch.isfinite(x)).reshape(len(x), -1).any(1).nonzero().flatten()
        raise InputShapeError(
            f"{where} {hold} NaN or infinite values (samples {bad[:8].tolist()}): expected "
            "finite preprocessed inputs; check the image files or the normalisation"
        )
    return x.detach()


def as_inputs(inputs: Any) -> tuple[tuple[torch.Tensor, ...], bool]:
    """``(tensors, single)``: detached float tensors sharing N, and whether one was given.

    >>> xs, single = as_inputs(torch.zeros(2, 3))
    >>> len(xs), single
    (1, True)
    """
    if isinstance(inputs, torch.Tensor):
        return (_check_one(inputs, "inputs"),), True
    if not isinstance(inputs, (tuple, list)) or len(inputs) == 0:
        raise InputShapeError(
            f"inputs of type {type(inputs).__name__} are not a tensor: pass a float tensor "
            "(N, C, H, W) of preprocessed inputs, or a non-empty tuple of such tensors"
        )
    xs = tuple(_check_one(x, f"inputs[{k}]") for k, x in enumerate(inputs))
    n = len(xs[0])
    for k, x in enumerate(xs[1:], start=1):
        if len(x) != n:
            raise InputShapeError(
                f"inputs[{k}] of shape {tuple(x.shape)} has {len(x)} samples but inputs[0] "
                f"has {n}: every input needs the same batch size N (axis 0)"
            )
    return xs, False


def check_inputs(inputs: Any) -> torch.Tensor:
    """A detached float copy of one input tensor (N, ...), or an :class:`InputShapeError`."""
    return _check_one(inputs, "inputs")


def per_input(value: Any, count: int, what: str, sizes: bool = False) -> tuple[Any, ...]:
    """``value`` once per input: a tuple or list of ``count`` entries is taken as given
    (with several inputs); anything else is repeated. Wrong lengths raise.

    With one input, a one-entry tuple is unwrapped as captum writes it
    (``baselines=(b,)``); for ``sizes`` (windows, strides) only when its entry is
    itself a tuple, since ``(3,)`` is a window of size 3 on one axis.

    >>> per_input(0.5, 2, "baseline")
    (0.5, 0.5)
    """
    if count > 1 and isinstance(value, (tuple, list)):
        if len(value) != count:
            raise ConvlensError(
                f"{what} has {len(value)} entries for {count} inputs: give one per input, "
                f"or one value for all of them"
            )
        return tuple(value)
    if (
        count == 1
        and isinstance(value, (tuple, list))
        and len(value) == 1
        and (not sizes or isinstance(value[0], (tuple, list)))
    ):
        return (value[0],)
    return (value,) * count


def make_baseline(x: torch.Tensor, baseline: Any, k: int | None = None) -> torch.Tensor:
    """A baseline broadcast to ``x`` (N, ...): None/"zeros", a number, "mean" (per-sample,
    per-channel mean over the axes after the channel axis) or a tensor that broadcasts.

    ``k`` is the input's position, for the message when there are several inputs.
    """
    if baseline is None or (isinstance(baseline, str) and baseline == "zeros"):
        return torch.zeros_like(x)
    if isinstance(baseline, str) and baseline == "mean":
        dims = tuple(range(2, x.ndim))
        if not dims:
            return x.clone()
        return x.mean(dims, keepdim=True).expand_as(x).clone()
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if isinstance(baseline, torch.Tensor):
        try:
            return baseline.detach().to(x.device, x.dtype).expand_as(x).clone()
        except RuntimeError:
            pass
    where = "inputs" if k is None else f"inputs[{k}]"
    given = tuple(baseline.shape) if isinstance(baseline, torch.Tensor) else baseline
    raise ConvlensError(
        f"baseline {'of shape ' if isinstance(baseline, torch.Tensor) else ''}{given!r} does "
        f"not fit {where} of shape {tuple(x.shape)}: expected a number, 'zeros', 'mean', or "
        "a tensor that broadcasts to the inputs"
    )


def make_baselines(
    xs: Sequence[torch.Tensor], baseline: Any, rows: torch.Tensor | None = None, n: int = 0
) -> tuple[torch.Tensor, ...]:
    """One baseline per input (see :func:`make_baseline` and :func:`per_input`).

    When ``xs`` are rows (M,) made from ``n`` original samples (SmoothGrad's noisy
    copies), a baseline tensor with one entry per original sample, (n, ...), is
    taken at ``rows``.
    """
    values = per_input(baseline, len(xs), "baseline")
    one = len(xs) == 1
    out = []
    for k, (x, b) in enumerate(zip(xs, values, strict=True)):
        if (
            rows is not None
            and isinstance(b, torch.Tensor)
            and b.ndim == x.ndim
            and n > 1
            and b.shape[0] == n
            and len(rows) != n
        ):
            b = b.to(rows.device)[rows]
        out.append(make_baseline(x, b, None if one else k))
    return tuple(out)


class ForwardArgs:
    """``additional_forward_args``: passed to the model after the inputs.

    A tuple is spread as several arguments; anything else is one argument. Tensors
    whose first axis has the batch size N are per-sample: a pass over rows made
    from the samples (integrated gradients' steps, SmoothGrad's noisy copies,
    occlusion's windows) receives the rows of those tensors that match; every other
    argument is passed as it is.
    """

    def __init__(self, args: Any, n: int):
        if args is None:
            self.args: tuple[Any, ...] = ()
        elif isinstance(args, tuple):
            self.args = args
        else:
            self.args = (args,)
        self.n = n

    def select(self, rows: torch.Tensor | None) -> tuple[Any, ...]:
        """The arguments for a pass over ``rows`` (M,) of the original samples."""
        if rows is None or not self.args:
            return self.args
        if len(rows) == self.n and bool((rows == torch.arange(self.n, device=rows.device)).all()):
            return self.args
        return tuple(
            a[rows.to(a.device)]
            if isinstance(a, torch.Tensor) and a.ndim > 0 and a.shape[0] == self.n
            else a
            for a in self.args
        )
