"""Class activation mapping (Zhou et al. 2016), for networks that end in global
average pooling followed by one linear layer: CAM_k = sum_c w[k, c] * A_c."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ModelError, TargetError
from ..model.hooks import capture
from ._base import Inputs, Method, Pipeline, rows_of
from ._grad_cam import upsample_mode, upsample_to


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
    per_input = False

    def attribute(
        self,
        pipe: Pipeline,
        xs: Inputs,
        rows: torch.Tensor | None,
        *,
        upsample: Any = True,
    ) -> torch.Tensor:
        mode = upsample_mode(upsample)
        pool, fc = find_cam_layers(pipe.model)
        rows = rows_of(xs, rows)
        with torch.no_grad(), capture(pipe.model, [pool, fc], inputs=True) as seen:
            output = pipe.forward(xs, rows)
        target = pipe.resolve(output, len(rows))
        if target.kind != "class":
            raise TargetError(
                "cam explains class scores: pass a class index, one per sample or 'predicted', "
                "not None, an index tuple or a callable"
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
        return maps if mode is None else upsample_to(maps, tuple(xs[0].shape[2:]), mode)


_cam = Cam()


def cam(
    model: nn.Module,
    inputs: Any,
    target: Any = "predicted",
    *,
    upsample: bool | str = True,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Class activation map of a GAP + linear network: (N, 1, H, W) (signed, no ReLU).

    The pooled layer and the linear layer are found automatically; ``upsample``
    as in :func:`grad_cam` (False returns the (N, 1, h, w) map at the pooled
    layer's resolution).

    >>> # heat = cam(resnet8, x, "predicted")
    """
    return _cam(
        model,
        inputs,
        target,
        upsample=upsample,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
    )
