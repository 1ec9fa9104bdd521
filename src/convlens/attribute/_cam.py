"""Class activation mapping (Zhou et al. 2016), for networks that end in global
average pooling followed by one linear layer: CAM_k = sum_c w[k, c] * A_c."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ModelError, TargetError
from ..model.hooks import capture
from ._base import Method, Pipeline
from ._grad_cam import upsample_to


def find_cam_layers(model: nn.Module) -> tuple[str, str]:
    """Names of (global pooling, final linear) layers, or a :class:`ModelError`."""
    modules = [(n, m) for n, m in model.named_modules() if n]
    linears = [(i, n) for i, (n, m) in enumerate(modules) if isinstance(m, nn.Linear)]
    if linears:
        i_fc, fc = linears[-1]
        for n, m in reversed(modules[:i_fc]):
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                break
            if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1)):
                return n, fc
    raise ModelError(
        f"cam needs a network that ends in global average pooling (AdaptiveAvgPool2d(1)) "
        f"followed by one nn.Linear; {type(model).__name__} does not; use grad_cam instead"
    )


class Cam(Method):
    name = "cam"

    def attribute(
        self,
        pipe: Pipeline,
        x: torch.Tensor,
        rows: torch.Tensor | None,
        *,
        upsample: bool = True,
    ) -> torch.Tensor:
        pool, fc = find_cam_layers(pipe.model)
        rows = torch.arange(len(x), device=x.device) if rows is None else rows.to(x.device)
        with torch.no_grad(), capture(pipe.model, [pool, fc], inputs=True) as seen:
            output = pipe.forward(x)
        target = pipe.resolve(output, len(x))
        if target.kind != "class":
            raise TargetError(
                "cam explains class scores: pass a class index, one per sample or 'predicted', "
                "not an index tuple or a callable"
            )
        features = seen.inputs[pool]
        pooled = seen[pool].flatten(1)
        if not torch.allclose(seen.inputs[fc], pooled, rtol=1e-5, atol=1e-6):
            raise ModelError(
                f"cam needs the pooled features fed straight into {fc!r}, but something "
                "changes them in between; use grad_cam instead"
            )
        weight = dict(pipe.model.named_modules())[fc].weight.detach()
        w = weight[target.class_of(rows)]
        maps = torch.einsum("nc,nchw->nhw", w, features).unsqueeze(1)
        return upsample_to(maps, x.shape[2:]) if upsample else maps


_cam = Cam()


def cam(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Any = "predicted",
    *,
    upsample: bool = True,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Class activation map of a GAP + linear network: (N, 1, H, W) (signed, no ReLU).

    The pooled layer and the linear layer are found automatically; ``upsample=False``
    returns the (N, 1, h, w) map at the pooled layer's resolution.

    >>> # heat = cam(resnet8, x, "predicted")
    """
    return _cam(model, inputs, target, upsample=upsample, batch_size=batch_size)
