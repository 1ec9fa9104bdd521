"""Input x gradient: the elementwise product of the input and its gradient."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._base import Method, Step


class InputXGradient(Method):
    name = "input_x_gradient"

    def combine(self, x: torch.Tensor, step: Step, **options: Any) -> torch.Tensor:
        return x * super().combine(x, step, **options)


_input_x_gradient = InputXGradient()


def input_x_gradient(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Any = "predicted",
    *,
    batch_size: int | None = None,
) -> torch.Tensor:
    """``inputs * d score / d inputs``: (N, C, H, W) -> (N, C, H, W).

    >>> # maps = input_x_gradient(model, x, target=0)
    """
    return _input_x_gradient(model, inputs, target, batch_size=batch_size)
