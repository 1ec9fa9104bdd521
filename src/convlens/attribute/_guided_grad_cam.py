"""Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times the Grad-CAM map."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._base import Method, Pipeline
from ._grad_cam import GradCam
from ._guided_backprop import GuidedBackprop


class GuidedGradCam(Method):
    name = "guided_grad_cam"

    def attribute(
        self,
        pipe: Pipeline,
        x: torch.Tensor,
        rows: torch.Tensor | None,
        *,
        layer: str | None = None,
    ) -> torch.Tensor:
        heat = GradCam().attribute(pipe, x, rows, layer=layer, upsample=True)
        return GuidedBackprop().attribute(pipe, x, rows) * heat


_guided_grad_cam = GuidedGradCam()


def guided_grad_cam(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Any = "predicted",
    *,
    layer: str,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Guided backprop map times the upsampled Grad-CAM of ``layer``: (N, C, H, W).

    >>> # maps = guided_grad_cam(model, x, 3, layer="features.conv3_1")
    """
    return _guided_grad_cam(model, inputs, target, layer=layer, batch_size=batch_size)
