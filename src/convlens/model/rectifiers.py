"""Rewriting the backward rule of rectifiers, for guided backprop and deconvnet.

Inside ``with rewrite_rectifiers(model, rule) as report:`` every ReLU the forward
pass computes, whether it comes from an ``nn.ReLU`` module (in place or not),
``F.relu``, ``F.relu_``, ``torch.relu``, ``torch.relu_``, ``Tensor.relu`` or
``Tensor.relu_``, runs through a custom autograd function whose forward is the
ordinary ReLU (in-place calls stay in place) and whose backward follows ``rule``:

- ``"gradient"``: the true gradient, ``g * (y > 0)`` (no rewrite);
- ``"guided"`` (Springenberg et al. 2014): ``g * (y > 0) * (g > 0)``;
- ``"deconvnet"`` (Zeiler & Fergus 2013): ``max(g, 0)``, independent of the forward.

The calls are caught by a :class:`torch.overrides.TorchFunctionMode`, so the
model itself is never touched: no module is swapped, no flag changed and no hook
added. Other rectifier-like functions (``ReLU6``, ``LeakyReLU``, ``GELU``, ...)
cannot be rewritten meaningfully; seeing one adds a line to ``report.warnings``
and emits a :class:`RectifierWarning` on exit.

Example::

    with rewrite_rectifiers(model, "guided") as report:
        x = inputs.detach().requires_grad_()
        model(x)[:, 3].sum().backward()
    report.count            # rectifier calls rewritten during the block
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import ConvlensError

__all__ = ["RULES", "RectifierReport", "RectifierWarning", "rectified", "rewrite_rectifiers"]

RULES = ("gradient", "guided", "deconvnet")


class RectifierWarning(UserWarning):
    """Some rectifier-like function in the model was not rewritten."""


@dataclass
class RectifierReport:
    """What a :func:`rewrite_rectifiers` block did.

    ``count`` is the number of rectifier calls rewritten (a module called twice
    counts twice); ``unreached`` counts, by function name, the rectifier-like
    calls that were left with their ordinary gradient; ``warnings`` holds one
    line per such function.
    """

    rule: str
    count: int = 0
    unreached: Counter[str] = field(default_factory=Counter)

    @property
    def warnings(self) -> list[str]:
        return [
            f"{name} ({n} call(s)) is not a ReLU and keeps its ordinary gradient; "
            f"use nn.ReLU/F.relu for exact {self.rule} maps"
            for name, n in sorted(self.unreached.items())
        ]


# --------------------------------------------------------------------- the rules
def _save_mask(ctx: Any, out: torch.Tensor, rule: str) -> None:
    # The sign of the forward output is kept as a separate bool mask, so that a
    # later in-place op on the output cannot invalidate it; deconvnet needs none.
    ctx.rule = rule
    if rule != "deconvnet":
        ctx.save_for_backward(out > 0)


def _backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
    if ctx.rule == "deconvnet":
        return grad.clamp(min=0)
    (positive,) = ctx.saved_tensors
    if ctx.rule == "guided":
        return grad.clamp(min=0) * positive
    return grad * positive


class _Relu(torch.autograd.Function):
    """ReLU with the backward of ``rule``; out of place."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, rule: str) -> torch.Tensor:
        out = x.clamp(min=0)
        _save_mask(ctx, out, rule)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _backward(ctx, grad), None


class _ReluInplace(torch.autograd.Function):
    """ReLU with the backward of ``rule``; modifies ``x`` in place and returns it."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, rule: str) -> torch.Tensor:
        x.clamp_(min=0)
        ctx.mark_dirty(x)
        _save_mask(ctx, x, rule)
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _backward(ctx, grad), None


def rectified(x: torch.Tensor, rule: str, inplace: bool = False) -> torch.Tensor:
    """``relu(x)`` whose backward follows ``rule`` (see the module docstring).

    >>> rectified(torch.tensor([-1.0, 2.0]), "guided")
    tensor([0., 2.])
    """
    _check_rule(rule)
    if inplace and torch.is_grad_enabled() and x.requires_grad and x.is_leaf:
        raise ConvlensError(
            "an in-place ReLU was applied to a leaf tensor that requires grad; "
            "apply it to a computed tensor (e.g. x * 1) instead"
        )
    if inplace:
        return _ReluInplace.apply(x, rule)
    return _Relu.apply(x, rule)


# ------------------------------------------------------------- catching the calls
def _first_tensor_inplace(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, bool]:
    x = args[0] if args else kwargs.get("input", kwargs.get("self"))
    inplace = bool(args[1]) if len(args) > 1 else bool(kwargs.get("inplace", False))
    return x, inplace


_OUT_OF_PLACE: set[Callable[..., Any]] = {torch.relu, torch.Tensor.relu}
_IN_PLACE: set[Callable[..., Any]] = {torch.relu_, torch.Tensor.relu_, F.relu_}


def _unreached_functions() -> dict[Callable[..., Any], str]:
    """Rectifier-like functions the rules do not apply to, by their public name."""
    named: dict[Callable[..., Any], str] = {}
    for name in (
        "relu6",  # nn.ReLU6 reaches F.hardtanh
        "leaky_relu",
        "leaky_relu_",
        "hardtanh",
        "hardtanh_",
        "elu",
        "elu_",
        "selu",
        "celu",
        "gelu",
        "silu",
        "mish",
        "softplus",
        "prelu",
        "rrelu",
        "rrelu_",
        "threshold",
        "threshold_",
        "hardswish",
    ):
        fn = getattr(F, name, None)
        if fn is not None:
            named.setdefault(fn, f"F.{name}")
    for name in ("hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "gelu", "silu"):
        fn = getattr(torch._C._nn, name, None)
        if fn is not None:
            named.setdefault(fn, f"F.{name}")
    for name in ("prelu", "threshold", "threshold_", "selu", "celu", "rrelu"):
        fn = getattr(torch, name, None)
        if fn is not None:
            named.setdefault(fn, f"torch.{name}")
    return named


class _RectifierMode(TorchFunctionMode):
    def __init__(self, report: RectifierReport):
        super().__init__()
        self.report = report
        self.unreached = _unreached_functions()

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func is F.relu:
            x, inplace = _first_tensor_inplace(args, kwargs)
            return self._rewrite(x, inplace)
        if func in _OUT_OF_PLACE:
            return self._rewrite(_first_tensor_inplace(args, kwargs)[0], False)
        if func in _IN_PLACE:
            return self._rewrite(_first_tensor_inplace(args, kwargs)[0], True)
        name = self.unreached.get(func)
        if name is not None:
            self.report.unreached[name] += 1
        return func(*args, **kwargs)

    def _rewrite(self, x: torch.Tensor, inplace: bool) -> torch.Tensor:
        self.report.count += 1
        if inplace:
            return _ReluInplace.apply(x, self.report.rule)
        return _Relu.apply(x, self.report.rule)


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ConvlensError(
            f"unknown rectifier rule {rule!r}: expected one of {', '.join(map(repr, RULES))}"
        )


@contextmanager
def rewrite_rectifiers(
    model: nn.Module | None, rule: str, *, warn: bool = True
) -> Iterator[RectifierReport]:
    """Within the block, every ReLU computed (by ``model`` or anything else) uses ``rule``.

    ``rule`` is ``"guided"``, ``"deconvnet"`` or ``"gradient"`` (no rewrite at all,
    ``count`` stays 0). Yields a :class:`RectifierReport`; on exit a
    :class:`RectifierWarning` lists rectifier-like calls that kept their ordinary
    gradient (``warn=False`` leaves that to the caller via ``report.warnings``).
    The model is not modified in any way, so nothing needs restoring, also when the
    block raises. Forward values, in-place ReLUs included, are exactly the usual ones.

    >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(inplace=True))
    >>> with rewrite_rectifiers(net, "guided") as report:
    ...     _ = net(torch.ones(1, 2))
    >>> report.count
    1
    """
    _check_rule(rule)
    report = RectifierReport(rule)
    if rule == "gradient":
        yield report
        return
    with _RectifierMode(report):
        yield report
    if warn and report.unreached:
        warnings.warn(
            f"rewrite_rectifiers: {len(report.unreached)} rectifier-like function(s) keep "
            f"their ordinary gradient under the {rule!r} rule: " + "; ".join(report.warnings),
            RectifierWarning,
            stacklevel=3,
        )
