"""SmoothGrad (Smilkov et al. 2017): average a gradient method over noisy copies."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConvlensError
from ._base import Method, Pipeline


class SmoothGrad(Method):
    name = "smoothgrad"

    def attribute(
        self,
        pipe: Pipeline,
        x: torch.Tensor,
        rows: torch.Tensor | None,
        *,
        method: Method,
        samples: int = 25,
        noise: float = 0.15,
        generator: torch.Generator | None = None,
        **method_options: Any,
    ) -> torch.Tensor:
        if samples < 1:
            raise ConvlensError(f"samples={samples!r} must be at least 1")
        n = len(x)
        rows = torch.arange(n, device=x.device) if rows is None else rows.to(x.device)
        pipe.fix_target(x)
        dims = tuple(range(1, x.ndim))
        spread = (x.amax(dims, keepdim=True) - x.amin(dims, keepdim=True)).clamp_min(1e-12)
        sigma = noise * spread
        total = torch.zeros_like(x)
        for sl in pipe.chunks(samples * n, n):
            i = torch.arange(sl.start, sl.stop, device=x.device) % n
            # drawn on the CPU generator, so results do not depend on the device
            eps = torch.randn(x[i].shape, generator=generator, dtype=x.dtype).to(x.device)
            noisy = x[i] + sigma[i] * eps
            total.index_add_(0, i, method.attribute(pipe, noisy, rows[i], **method_options))
        return total / samples


_smoothgrad = SmoothGrad()


def smoothgrad(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Any = "predicted",
    *,
    method: Any = "saliency",
    samples: int = 25,
    noise: float = 0.15,
    seed: int | None = 0,
    batch_size: int | None = None,
    **method_options: Any,
) -> torch.Tensor:
    """Mean of ``method`` over ``samples`` noisy copies: (N, C, H, W) -> (N, C, H, W).

    - ``method``: the name of a gradient method ("saliency", "guided_backprop",
      "deconvnet", "input_x_gradient", "integrated_gradients") or its
      :class:`~convlens.attribute.Method`; ``method_options`` go to it
      (``abs=True``, ``steps=16``, ...).
    - ``noise``: the standard deviation as a fraction of each input's value range.
    - ``seed``: the noise generator's seed (None: torch's global generator).

    >>> # maps = smoothgrad(model, x, 3, method="guided_backprop", samples=16, noise=0.1)
    """
    from ._registry import method_named

    inner = method_named(method) if isinstance(method, str) else method
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return _smoothgrad(
        model,
        inputs,
        target,
        method=inner,
        samples=samples,
        noise=noise,
        generator=generator,
        batch_size=batch_size,
        **method_options,
    )
