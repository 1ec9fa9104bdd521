"""Saliency: the vanilla gradient of the target score (Simonyan et al. 2013)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._base import Method, Step


class Saliency(Method):
    name = "saliency"

    def combine(self, x: torch.Tensor, step: Step, abs: bool = False) -> torch.Tensor:
        grad = super().combine(x, step)
        return grad.abs() if abs else grad


_saliency = Saliency()


def saliency(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Any = "predicted",
    *,
    abs: bool = False,
    batch_size: int | None = None,
) -> torch.Tensor:
    """d score / d input for each sample: (N, C, H, W) -> (N, C, H, W).

    ``abs=True`` returns its absolute value, as in the original paper.

    >>> # maps = saliency(model, x, target="predicted", abs=True)
    """
    return _saliency(model, inputs, target, abs=abs, batch_size=batch_size)
