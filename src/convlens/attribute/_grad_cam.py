"""Grad-CAM (Selvaraju et al. 2017): layer activations weighted by pooled gradients."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._base import Method, Pipeline, get_spatial_layer


def upsample_to(maps: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Bilinear resize of (N, 1, h, w) maps to the input's spatial ``size``."""
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)


class GradCam(Method):
    name = "grad_cam"

    def attribute(
        self,
        pipe: Pipeline,
        x: torch.Tensor,
        rows: torch.Tensor | None,
        *,
        layer: str | None = None,
        upsample: bool = True,
    ) -> torch.Tensor:
        layer = get_spatial_layer(pipe.model, layer, self.name)
        step = pipe.backward(x, rows, layer=layer, input_grad=False)
        weights = step.layer_grad.mean(dim=(2, 3), keepdim=True)
        maps = (weights * step.activation).sum(1, keepdim=True).clamp(min=0)
        return upsample_to(maps, x.shape[2:]) if upsample else maps


_grad_cam = GradCam()


def grad_cam(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Any = "predicted",
    *,
    layer: str,
    upsample: bool = True,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Grad-CAM of ``layer`` (output (N, C, h, w)).

    Returns ReLU(sum_c mean_hw(d score / d A_c) * A_c): (N, 1, h, w) at the layer's
    resolution with ``upsample=False``, else bilinearly resized to (N, 1, H, W).

    >>> # heat = grad_cam(model, x, "predicted", layer="layer3", upsample=False)
    """
    return _grad_cam(model, inputs, target, layer=layer, upsample=upsample, batch_size=batch_size)
