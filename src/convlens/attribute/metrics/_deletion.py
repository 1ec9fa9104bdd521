"""Deletion and insertion curves (Petsiuk et al. 2018, RISE), batched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConvlensError, InputShapeError
from .._base import Pipeline, untouched
from .._inputs import check_inputs, make_baseline


@dataclass
class Curve:
    """``fractions`` (S+1,) of pixels changed; ``scores`` (N, S+1); ``auc`` (N,)."""

    fractions: torch.Tensor
    scores: torch.Tensor

    @property
    def auc(self) -> torch.Tensor:
        return torch.trapezoid(self.scores, self.fractions, dim=1)


def importance_order(attributions: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Rank (N, H*W) of every pixel, 0 = most important (channels summed)."""
    a = attributions.detach()
    n, _, h, w = shape
    if a.ndim == 3:
        a = a.unsqueeze(1)
    if a.ndim != 4 or a.shape[0] != n or tuple(a.shape[2:]) != (h, w):
        raise InputShapeError(
            f"attributions of shape {tuple(attributions.shape)} do not fit inputs of shape "
            f"{shape}: expected (N, C, H, W), (N, 1, H, W) or (N, H, W)"
        )
    order = a.sum(1).reshape(n, -1).argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    positions = torch.arange(h * w, device=order.device)
    rank.scatter_(1, order, positions.expand(n, -1).contiguous())
    return rank


def blurred(x: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Gaussian blur of (N, C, H, W) inputs, the usual insertion start."""
    radius = max(1, int(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def perturbation_curve(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: Any = "predicted",
    *,
    mode: str = "deletion",
    steps: int = 32,
    baseline: Any = None,
    probabilities: bool = True,
    batch_size: int | None = None,
) -> Curve:
    """Score curves as pixels are deleted (replaced by ``baseline``) or inserted.

    - ``mode``: "deletion" starts from the input and removes the most important
      pixels first; "insertion" starts from ``baseline`` (default: the input
      blurred) and puts them back.
    - ``steps``: the curve has ``steps + 1`` points, fractions 0, 1/steps, ..., 1.
    - ``probabilities``: score class targets by softmax probability (else raw score).

    All N x (steps + 1) rows run in batches of ``batch_size`` (default max(N, 64)).

    >>> # curve = perturbation_curve(model, x, maps, 3, mode="insertion"); curve.auc
    """
    if mode not in ("deletion", "insertion"):
        raise ConvlensError(f"mode {mode!r} is unknown: expected 'deletion' or 'insertion'")
    if steps < 1:
        raise ConvlensError(f"steps={steps!r} must be at least 1")
    x = check_inputs(inputs)
    if x.ndim != 4:
        raise InputShapeError(f"inputs of shape {tuple(x.shape)}: expected (N, C, H, W)")
    n, _, h, w = x.shape
    rank = importance_order(attributions, tuple(x.shape)).view(n, 1, h, w)
    if baseline is None:
        base = torch.zeros_like(x) if mode == "deletion" else blurred(x)
    else:
        base = make_baseline(x, baseline)
    start, end = (x, base) if mode == "deletion" else (base, x)
    counts = torch.round(torch.arange(steps + 1, device=x.device) * (h * w) / steps).long()
    scores = torch.empty(n, steps + 1, device=x.device)
    with untouched(model):
        pipe = Pipeline(model, target, batch_size, n=n)
        pipe.fix_target((x,))
        for sl in pipe.chunks(n * (steps + 1), n):
            flat = torch.arange(sl.start, sl.stop, device=x.device)
            k, i = flat // n, flat % n
            changed = rank[i] < counts[k].view(-1, 1, 1, 1)
            rows = torch.where(changed, end[i], start[i])
            with torch.no_grad():
                out = pipe.forward(rows)
                target = pipe.resolve(out, n)
                if probabilities and target.kind == "class":
                    out = out.softmax(1)
                scores[i, k] = target.score(out, i).float()
    return Curve(counts.float().cpu() / (h * w), scores.cpu())


def deletion(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: Any = "predicted",
    **options: Any,
) -> torch.Tensor:
    """Deletion AUC (N,): lower means the map found what the score depends on.

    >>> # deletion(model, x, saliency(model, x, abs=True), steps=32).mean()
    """
    return perturbation_curve(model, inputs, attributions, target, mode="deletion", **options).auc


def insertion(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: Any = "predicted",
    **options: Any,
) -> torch.Tensor:
    """Insertion AUC (N,): higher means the map found what the score depends on.

    >>> # insertion(model, x, maps, "predicted", steps=32).mean()
    """
    return perturbation_curve(model, inputs, attributions, target, mode="insertion", **options).auc
