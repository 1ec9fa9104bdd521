"""Integrated gradients (Sundararajan et al. 2017), interpolation steps batched.

attribution = (x - x') * integral over a in [0, 1] of d score / d x at x' + a (x - x'),
with the integral taken by a quadrature rule over ``steps`` points. Completeness:
the attributions sum to score(x) - score(x'); :class:`Completeness` reports how
far they are from it. With several inputs all of them move along the path at once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConvlensError, SpecError
from ._base import Inputs, Method, Pipeline, accumulate, rows_of
from ._inputs import make_baseline, make_baselines

__all__ = ["RULES", "Completeness", "integrated_gradients", "make_baseline", "quadrature"]

#: quadrature rules; captum's names ("riemann_left", ...) are accepted too
RULES = ("gausslegendre", "left", "right", "midpoint", "trapezoid")
_ALIASES = {
    "riemann_left": "left",
    "riemann_right": "right",
    "riemann_middle": "midpoint",
    "riemann_trapezoid": "trapezoid",
}


@dataclass
class Completeness:
    """How well integrated gradients kept completeness, per sample.

    ``delta`` (N,) = score(x) - score(baseline); ``total`` (N,) the sum of the
    attributions over every input; ``error`` (N,) = |total - delta| / max(|delta|,
    1e-12); ``gap`` (N,) = total - delta (captum's convergence delta).
    """

    delta: torch.Tensor
    total: torch.Tensor

    @property
    def error(self) -> torch.Tensor:
        return (self.total - self.delta).abs() / self.delta.abs().clamp_min(1e-12)

    @property
    def gap(self) -> torch.Tensor:
        return self.total - self.delta


def quadrature(steps: int, rule: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Points in [0, 1] and weights summing to 1 for ``rule`` (see :data:`RULES`).

    >>> quadrature(2, "left")[0].tolist()
    [0.0, 0.5]
    """
    rule = _ALIASES.get(rule, rule)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise SpecError(f"steps={steps!r} must be a positive number of interpolation steps")
    a, w = _nodes(steps, rule)
    return torch.tensor(a, dtype=torch.float64), torch.tensor(w, dtype=torch.float64)


@functools.lru_cache(maxsize=32)
def _nodes(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    w = np.full(steps, 1.0 / steps)
    if rule == "left":
        a = np.arange(steps) / steps
    elif rule == "right":
        a = (np.arange(steps) + 1) / steps
    elif rule == "midpoint":
        a = (np.arange(steps) + 0.5) / steps
    elif rule == "trapezoid":
        if steps < 2:
            raise ConvlensError("the trapezoid rule needs steps >= 2")
        a = np.linspace(0.0, 1.0, steps)
        w = np.full(steps, 1.0 / (steps - 1))
        w[[0, -1]] /= 2
    elif rule == "gausslegendre":
        from scipy.special import roots_legendre  # fast for many nodes, unlike leggauss

        a, w = roots_legendre(steps)
        a, w = (a + 1) / 2, w / 2
    else:
        raise ConvlensError(
            f"unknown quadrature {rule!r}: expected one of {', '.join(map(repr, RULES))} "
            "(or captum's 'riemann_left', 'riemann_right', 'riemann_middle', "
            "'riemann_trapezoid')"
        )
    a.setflags(write=False)
    w.setflags(write=False)
    return a, w


class IntegratedGradients(Method):
    name = "integrated_gradients"

    def attribute(
        self,
        pipe: Pipeline,
        xs: Inputs,
        rows: torch.Tensor | None,
        *,
        steps: int = 32,
        baseline: Any = None,
        rule: str = "gausslegendre",
        multiply_by_inputs: bool = True,
        report: list[Completeness] | None = None,
    ) -> Inputs:
        n, x0 = len(xs[0]), xs[0]
        rows = rows_of(xs, rows)
        bases = make_baselines(xs, baseline, rows, pipe.n or n)
        alphas, weights = (t.to(x0.device, x0.dtype) for t in quadrature(steps, rule))
        pipe.fix_target(xs)
        totals = [torch.zeros_like(x) for x in xs]
        for sl in pipe.chunks(steps * n, n):
            flat = torch.arange(sl.start, sl.stop, device=x0.device)
            step, i = flat // n, flat % n
            points = tuple(
                b[i] + alphas[step].view(-1, *([1] * (x.ndim - 1))) * (x[i] - b[i])
                for x, b in zip(xs, bases, strict=True)
            )
            grads = pipe.backward(points, rows[i]).grads
            for total, g in zip(totals, grads, strict=True):
                accumulate(total, sl.start, g * weights[step].view(-1, *([1] * (g.ndim - 1))))
        paths = tuple((x - b) * t for x, b, t in zip(xs, bases, totals, strict=True))
        if report is not None:
            delta = pipe.scores(xs, rows) - pipe.scores(bases, rows)
            total = sum(p.reshape(n, -1).sum(1) for p in paths)
            report.append(Completeness(delta, total))
        return paths if multiply_by_inputs else tuple(totals)


_ig = IntegratedGradients()


def integrated_gradients(
    model: nn.Module,
    inputs: Any,
    target: Any = "predicted",
    *,
    steps: int = 32,
    baseline: Any = None,
    rule: str = "gausslegendre",
    multiply_by_inputs: bool = True,
    return_completeness: bool = False,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
) -> Any:
    """Integrated gradients: (N, C, H, W) -> (N, C, H, W) (a tuple for a tuple of inputs).

    - ``steps``: quadrature points; rows of all steps are run in batches of
      ``batch_size`` (default max(N, 64)) rows.
    - ``baseline``: None/"zeros", a number, "mean" (per-sample channel mean) or a
      tensor that broadcasts to the inputs; with several inputs one value for all
      or a tuple with one per input.
    - ``rule``: "gausslegendre" (default), "left", "right", "midpoint" or
      "trapezoid" (captum's "riemann_*" names work too).
    - ``multiply_by_inputs=False`` returns the path-averaged gradient alone,
      without the factor (x - x') (captum's "global" attribution).
    - ``return_completeness=True`` returns ``(maps, Completeness)``; its ``.error``
      (N,) is the relative completeness error (two extra forward passes).

    >>> # maps, check = integrated_gradients(model, x, 3, steps=64, return_completeness=True)
    >>> # float(check.error.max()) < 0.01
    """
    report: list[Completeness] = []
    maps = _ig(
        model,
        inputs,
        target,
        steps=steps,
        baseline=baseline,
        rule=rule,
        multiply_by_inputs=multiply_by_inputs,
        report=report if return_completeness else None,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
    )
    return (maps, report[0]) if return_completeness else maps
