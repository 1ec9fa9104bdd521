"""Guided backpropagation (Springenberg et al. 2014).

At every ReLU the backward pass keeps only positive gradients at positions where
the forward input was positive. Functional ReLUs and ReLUs written as
``clamp(min=0)`` or ``maximum(x, 0)`` are rewritten too (see
:mod:`convlens.model.rectifiers`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ._base import Method


class GuidedBackprop(Method):
    name = "guided_backprop"
    rule = "guided"


_guided = GuidedBackprop()


def guided_backprop(
    model: nn.Module,
    inputs: Any,
    target: Any = "predicted",
    *,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
) -> Any:
    """Guided-backprop map of the target score: (N, C, H, W) -> (N, C, H, W) (a tuple
    for a tuple of inputs).

    >>> # maps = guided_backprop(model, x, target=3)
    """
    return _guided(
        model,
        inputs,
        target,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
    )
