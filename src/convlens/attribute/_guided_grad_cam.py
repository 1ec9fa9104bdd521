"""Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times the Grad-CAM map."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import InputShapeError, LayerError
from ._base import Inputs, Method, Pipeline
from ._grad_cam import GradCam, upsample_mode, upsample_to
from ._guided_backprop import GuidedBackprop
from ._layer import Layer, as_layer


class GuidedGradCam(Method):
    name = "guided_grad_cam"

    def attribute(
        self,
        pipe: Pipeline,
        xs: Inputs,
        rows: torch.Tensor | None,
        *,
        layer: Any = None,
        upsample: Any = True,
    ) -> Inputs:
        spec = as_layer(layer, self.name)
        mode = upsample_mode(upsample) or "bilinear"
        heat = GradCam().attribute(pipe, xs, rows, layer=spec, relu=True, upsample=False)
        if isinstance(heat, tuple):
            raise LayerError(
                f"guided_grad_cam needs a layer with one tensor, but {spec.label()!r} gives "
                f"{len(heat)}: choose one of its inner layers"
            )
        guided = GuidedBackprop().attribute(pipe, xs, rows)
        out = []
        for k, (x, g) in enumerate(zip(xs, guided, strict=True)):
            if heat.ndim == 2:  # a non-spatial layer: one weight per sample
                out.append(g * heat.view(-1, *([1] * (g.ndim - 1))))
                continue
            if x.ndim != heat.ndim:
                raise InputShapeError(
                    f"inputs[{k}] of shape {tuple(x.shape)} has {x.ndim - 2} spatial axes but "
                    f"the Grad-CAM map of {spec.label()!r} has {heat.ndim - 2}: guided "
                    "Grad-CAM multiplies maps of the same spatial rank; pass only the inputs "
                    "that match the layer"
                )
            out.append(g * upsample_to(heat, tuple(x.shape[2:]), mode))
        return tuple(out)


_guided_grad_cam = GuidedGradCam()


def guided_grad_cam(
    model: nn.Module,
    inputs: Any,
    target: Any = "predicted",
    *,
    layer: str | Layer,
    upsample: bool | str = True,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
) -> Any:
    """Guided backprop map times the (rectified) Grad-CAM of ``layer``: (N, C, H, W).

    The Grad-CAM map is resized to each input's spatial size, linearly
    (``upsample=True`` or "bilinear", the default) or by repeating cells
    ("nearest", captum's default). ``layer`` as in :func:`grad_cam`.

    >>> # maps = guided_grad_cam(model, x, 3, layer="features.conv3_1")
    """
    return _guided_grad_cam(
        model,
        inputs,
        target,
        layer=layer,
        upsample=upsample,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
    )
