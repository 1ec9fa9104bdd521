"""Saliency: the vanilla gradient of the target score (Simonyan et al. 2013)."""

from __future__ import annotations

from typing import Any

from torch import nn

from ._base import Inputs, Method, Step


class Saliency(Method):
    name = "saliency"

    def combine(self, xs: Inputs, step: Step, abs: bool = False) -> Inputs:
        grads = super().combine(xs, step)
        return tuple(g.abs() for g in grads) if abs else grads


_saliency = Saliency()


def saliency(
    model: nn.Module,
    inputs: Any,
    target: Any = "predicted",
    *,
    abs: bool = False,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
) -> Any:
    """d score / d input for each sample: (N, C, H, W) -> (N, C, H, W).

    ``inputs`` may be a tuple of tensors (N, ...), which gives a tuple of maps;
    ``additional_forward_args`` follow the inputs in the model's call. ``abs=True``
    returns the absolute value, as in the original paper.

    >>> # maps = saliency(model, x, target="predicted", abs=True)
    """
    return _saliency(
        model,
        inputs,
        target,
        abs=abs,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
    )
