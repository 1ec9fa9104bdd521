"""Deconvnet (the backward rule of Zeiler & Fergus 2013).

At every ReLU the backward pass keeps the positive part of the gradient,
whatever the forward input was.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ._base import Method


class Deconvnet(Method):
    name = "deconvnet"
    rule = "deconvnet"


_deconvnet = Deconvnet()


def deconvnet(
    model: nn.Module,
    inputs: Any,
    target: Any = "predicted",
    *,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
) -> Any:
    """Deconvnet map of the target score: (N, C, H, W) -> (N, C, H, W) (a tuple for a
    tuple of inputs).

    >>> # maps = deconvnet(model, x, target="predicted")
    """
    return _deconvnet(
        model,
        inputs,
        target,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
    )
