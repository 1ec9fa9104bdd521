"""Regularisers: natural-image priors on the image before transforms.

Each penalty is an :class:`~convlens.synthesize.objectives.Objective` reading the
image (key ``IMAGE``) and returning a positive penalty per image, so a prior is
subtracted from what is maximised::

    obj = channel("conv2", range(50)) - 1e-3 * l2() - 0.1 * total_variation()

The blur of Yosinski et al. (2015) is not a term of the objective but a step
taken every ``k`` optimiser steps: :class:`BlurEvery`.

Definitions for one image x (C, H, W):

- ``l2``: mean of x^2;
- ``alpha_norm(alpha)``: mean over pixels of ||x_ij||^alpha, ||.|| over channels
  (Mahendran & Vedaldi 2015);
- ``total_variation(beta)``: mean over pixels of
  ((x_{i,j+1} - x_ij)^2 + (x_{i+1,j} - x_ij)^2)^(beta/2) (the same paper; beta=1
  is ordinary TV, beta=2 a smoothness prior).
"""

from __future__ import annotations

import torch

from .objectives import IMAGE, Objective

__all__ = ["BlurEvery", "alpha_norm", "l2", "total_variation", "tv_map"]


def l2() -> Objective:
    """Mean squared value of each image, (N,).

    >>> l2()({IMAGE: torch.full((1, 1, 2, 2), 3.0)}).item()
    9.0
    """
    return Objective(lambda a: a[IMAGE].pow(2).flatten(1).mean(1), [IMAGE], "l2()")


def alpha_norm(alpha: float = 6.0) -> Objective:
    """Mean over pixels of the channel vector's norm to the power ``alpha``, (N,).

    >>> alpha_norm(2)({IMAGE: torch.full((1, 2, 1, 1), 1.0)}).item()
    2.0
    """

    def fn(a):
        norm2 = a[IMAGE].pow(2).sum(1)
        return (norm2 + 1e-12).pow(alpha / 2).flatten(1).mean(1)

    return Objective(fn, [IMAGE], f"alpha_norm(alpha={alpha:g})")


def tv_map(x: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Per-pixel total variation (N, H-1, W-1) of images (N, C, H, W)."""
    dx = x[:, :, :-1, 1:] - x[:, :, :-1, :-1]
    dy = x[:, :, 1:, :-1] - x[:, :, :-1, :-1]
    sq = (dx * dx + dy * dy).sum(1)
    return sq if beta == 2 else (sq + 1e-12).pow(beta / 2)


def total_variation(beta: float = 2.0) -> Objective:
    """Mean over pixels of the squared-gradient norm to the power ``beta / 2``, (N,).

    >>> x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    >>> total_variation(2)({IMAGE: x}).item()
    1.0
    """
    return Objective(
        lambda a: tv_map(a[IMAGE], beta).flatten(1).mean(1),
        [IMAGE],
        f"total_variation(beta={beta:g})",
    )


class BlurEvery:
    """Blur the image every ``every`` steps by a Gaussian of ``sigma`` pixels.

    Called by the optimiser as ``hook(param, step)``; works on any
    parameterisation with a ``blur_`` method (pixel and Fourier).
    """

    def __init__(self, every: int = 4, sigma: float = 0.5):
        self.every, self.sigma = int(every), float(sigma)
        self.name = f"blur(every={self.every}, sigma={self.sigma:g})"

    def __repr__(self) -> str:
        return self.name

    def __call__(self, param, step: int) -> None:
        if self.every > 0 and (step + 1) % self.every == 0:
            param.blur_(self.sigma)
