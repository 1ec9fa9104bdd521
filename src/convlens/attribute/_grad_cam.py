"""Grad-CAM (Selvaraju et al. 2017): layer activations weighted by pooled gradients.

For a layer tensor A (N, C, *spatial) and the gradient G of the target score with
respect to it, the map is ``sum_c mean_spatial(G_c) * A_c``: (N, 1, *spatial),
rectified by default. It works on 2-D and 1-D convolutional layers, and on
non-spatial layers (N, C), where the map is (N, 1) (``sum_c G_c * A_c``). The
gradient is taken with respect to the layer's tensor itself, so it never depends
on whether the model's parameters require gradients.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConvlensError, InputShapeError, LayerError
from ._base import Inputs, Method, Pipeline
from ._layer import Layer, as_layer

_MODES = {"nearest": "nearest", "bilinear": None}
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def upsample_mode(upsample: Any) -> str | None:
    """``upsample`` (True/"bilinear", "nearest", False) as "bilinear", "nearest" or None."""
    if upsample is True:
        return "bilinear"
    if upsample is False or upsample is None:
        return None
    if isinstance(upsample, str) and upsample in _MODES:
        return upsample
    raise ConvlensError(
        f"upsample={upsample!r} is unknown: expected True or 'bilinear' (the default), "
        "'nearest', or False (the map at the layer's resolution)"
    )


def upsample_to(maps: torch.Tensor, size: tuple[int, ...], mode: str = "bilinear") -> torch.Tensor:
    """Resize (N, 1, *s) maps to the spatial ``size`` (same number of axes).

    ``mode`` "bilinear" means linear interpolation along each axis (linear for 1-D,
    trilinear for 3-D); "nearest" repeats cells.
    """
    size = tuple(size)
    if maps.ndim - 2 != len(size) or not size:
        raise InputShapeError(
            f"a layer map of shape {tuple(maps.shape)} cannot be resized to spatial size "
            f"{size}: the layer and the input need the same number of spatial axes; pass "
            "upsample=False for the map at the layer's resolution"
        )
    if mode == "nearest":
        return F.interpolate(maps, size=size, mode="nearest")
    return F.interpolate(maps, size=size, mode=_LINEAR[len(size)], align_corners=False)


def cam_map(act: torch.Tensor, grad: torch.Tensor, layer: Layer, relu: bool) -> torch.Tensor:
    """The Grad-CAM map (N, 1, *spatial) of one layer tensor and its gradient."""
    if act.ndim < 2:
        raise LayerError(
            f"layer {layer.label()!r} gives a tensor of shape {tuple(act.shape)}: Grad-CAM "
            "needs (N, C, ...) with a channel axis; choose another layer (see `convlens layers`)"
        )
    spatial = tuple(range(2, act.ndim))
    weights = grad.mean(spatial, keepdim=True) if spatial else grad
    maps = (weights * act).sum(1, keepdim=True)
    return maps.clamp(min=0) if relu else maps


class GradCam(Method):
    name = "grad_cam"
    per_input = False

    def attribute(
        self,
        pipe: Pipeline,
        xs: Inputs,
        rows: torch.Tensor | None,
        *,
        layer: Any = None,
        relu: bool = True,
        upsample: Any = True,
    ) -> Any:
        spec = as_layer(layer, self.name)
        mode = upsample_mode(upsample)
        step = pipe.backward(xs, rows, layer=spec, input_grad=False)
        maps = []
        for act, grad in zip(step.activations, step.layer_grads, strict=True):
            m = cam_map(act, grad, spec, relu)
            if mode is not None and m.ndim > 2:
                m = upsample_to(m, tuple(xs[0].shape[2:]), mode)
            maps.append(m)
        return maps[0] if len(maps) == 1 else tuple(maps)


_grad_cam = GradCam()


def grad_cam(
    model: nn.Module,
    inputs: Any,
    target: Any = "predicted",
    *,
    layer: str | Layer,
    relu: bool = True,
    upsample: bool | str = True,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
) -> Any:
    """Grad-CAM of ``layer``: ``sum_c mean_spatial(d score / d A_c) * A_c``.

    - ``layer``: a layer name (its output) or a :class:`~convlens.attribute.Layer`
      (its input with ``input=True``; which call with ``call=``; the last call by
      default, with a warning when the layer ran more than once).
    - ``relu``: rectify the map (the paper's Grad-CAM); False gives the signed map.
    - ``upsample``: True or "bilinear" (default) resizes (N, 1, h, w) maps to the
      first input's spatial size (linearly along each axis), "nearest" repeats
      cells, False keeps the layer's resolution. Maps of non-spatial layers are
      (N, 1) and are never resized.

    A layer that returns (or receives) several tensors gives a tuple of maps.

    >>> # heat = grad_cam(model, x, "predicted", layer="layer3", upsample=False)
    >>> # signed = grad_cam(model, x, 3, layer=Layer("relu1", input=True), relu=False)
    """
    return _grad_cam(
        model,
        inputs,
        target,
        layer=layer,
        relu=relu,
        upsample=upsample,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
    )
