"""Guided backpropagation (Springenberg et al. 2014).

At every ReLU the backward pass keeps only positive gradients at positions where
the forward input was positive. Functional ReLUs are rewritten too (see
:mod:`convlens.model.rectifiers`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._base import Method


class GuidedBackprop(Method):
    name = "guided_backprop"
    rule = "guided"


_guided = GuidedBackprop()


def guided_backprop(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Any = "predicted",
    *,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Guided-backprop map of the target score: (N, C, H, W) -> (N, C, H, W).

    >>> # maps = guided_backprop(model, x, target=3)
    """
    return _guided(model, inputs, target, batch_size=batch_size)
