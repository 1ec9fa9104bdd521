"""Input x gradient: the elementwise product of the input and its gradient."""

from __future__ import annotations

from typing import Any

from torch import nn

from ._base import Inputs, Method, Step


class InputXGradient(Method):
    name = "input_x_gradient"

    def combine(self, xs: Inputs, step: Step, **options: Any) -> Inputs:
        grads = super().combine(xs, step, **options)
        return tuple(x * g for x, g in zip(xs, grads, strict=True))


_input_x_gradient = InputXGradient()


def input_x_gradient(
    model: nn.Module,
    inputs: Any,
    target: Any = "predicted",
    *,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
) -> Any:
    """``inputs * d score / d inputs``: (N, C, H, W) -> (N, C, H, W) (a tuple for a
    tuple of inputs).

    >>> # maps = input_x_gradient(model, x, target=0)
    """
    return _input_x_gradient(
        model,
        inputs,
        target,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
    )
