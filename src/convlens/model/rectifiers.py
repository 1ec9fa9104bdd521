"""Rewriting the backward rule of rectifiers, for guided backprop and deconvnet.

Inside ``with rewrite_rectifiers(model, rule) as report:`` every ReLU the forward
pass computes, whether it comes from an ``nn.ReLU`` module (in place or not),
``F.relu``, ``F.relu_``, ``torch.relu``, ``torch.relu_``, ``Tensor.relu`` or
``Tensor.relu_``, or is written as a ReLU by other means (``x.clamp(min=0)``,
``torch.clamp_min(x, 0)``, ``torch.maximum(x, 0)``, ``F.threshold(x, 0, 0)`` and
their in-place forms), runs through a custom autograd function whose forward is
the ordinary ReLU (in-place calls stay in place) and whose backward follows ``rule``:

- ``"gradient"``: the true gradient, ``g * (y > 0)`` (no rewrite);
- ``"guided"`` (Springenberg et al. 2014): ``g * (y > 0) * (g > 0)``;
- ``"deconvnet"`` (Zeiler & Fergus 2013): ``max(g, 0)``, independent of the forward.

The calls are caught by a :class:`torch.overrides.TorchFunctionMode`, so the
model itself is never touched: no module is swapped, no flag changed and no hook
added. Other rectifier-like functions (``ReLU6``, ``LeakyReLU``, ``GELU``,
``clamp(0, 6)``, ...) cannot be rewritten meaningfully; seeing one adds a line to
``report.warnings`` and emits a :class:`RectifierWarning` on exit. So does a
scripted (``torch.jit``) sub-module, whose calls run outside Python where no
function mode reaches.

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

__all__ = [
    "RULES",
    "RectifierReport",
    "RectifierWarning",
    "rectified",
    "rewrite_rectifiers",
    "scripted_modules",
]

RULES = ("gradient", "guided", "deconvnet")


class RectifierWarning(UserWarning):
    """Some rectifier-like function in the model was not rewritten."""


@dataclass
class RectifierReport:
    """What a :func:`rewrite_rectifiers` block did.

    ``count`` is the number of rectifier calls rewritten (a module called twice
    counts twice), ``as_relu`` counts among them, by spelling, the ReLUs written
    as ``clamp(min=0)``, ``maximum(x, 0)`` and the like; ``unreached`` counts, by
    function name, the rectifier-like calls that were left with their ordinary
    gradient; ``scripted`` names the scripted sub-modules the rewrite cannot reach;
    ``warnings`` holds one line per unreached function and scripted sub-module.
    """

    rule: str
    count: int = 0
    unreached: Counter[str] = field(default_factory=Counter)
    scripted: list[str] = field(default_factory=list)
    as_relu: Counter[str] = field(default_factory=Counter)

    @property
    def warnings(self) -> list[str]:
        lines = [
            f"{name} ({n} call(s)) is not a ReLU and keeps its ordinary gradient; "
            f"use nn.ReLU/F.relu for exact {self.rule} maps"
            for name, n in sorted(self.unreached.items())
        ]
        lines += [
            f"scripted sub-module {name!r} (torch.jit) runs outside Python, so its ReLUs "
            f"keep their ordinary gradient; use the eager module for exact {self.rule} maps"
            for name in self.scripted
        ]
        return lines


# --------------------------------------------------------------------- the rules
def _save_mask(ctx: Any, out: torch.Tensor, rule: str) -> None:
    # In place: the sign of the output is kept as a separate bool mask, so that a
    # later in-place op on the same tensor (a second relu_) cannot invalidate it.
    ctx.rule = rule
    if rule != "deconvnet":
        ctx.save_for_backward(out > 0)


def _backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
    if ctx.rule == "deconvnet":
        return grad.clamp(min=0)
    (saved,) = ctx.saved_tensors
    if saved.dtype == torch.bool:
        out = grad * saved
    else:
        # out of place: ``saved`` is the output itself, as torch's own ReLU keeps it;
        # threshold_backward is the kernel of ReLU's backward (grad where out > 0)
        out = torch.ops.aten.threshold_backward(grad, saved, 0)
    # guided: a fresh tensor of our own, so clamped in place (no second allocation)
    return out.clamp_(min=0) if ctx.rule == "guided" else out


class _Relu(torch.autograd.Function):
    """ReLU with the backward of ``rule``; out of place.

    The output itself is saved for the backward pass, exactly what torch's ReLU
    saves, so the cost is that of a plain ReLU plus, for guided backprop, one clamp
    of the incoming gradient.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, rule: str) -> torch.Tensor:
        out = x.clamp(min=0)
        ctx.rule = rule
        if rule != "deconvnet":
            ctx.save_for_backward(out)
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

# ReLUs written by other means: ``clamp(min=0)``, ``clamp_min(0)``, ``maximum(x, 0)``
# and ``threshold(x, 0, 0)``; name -> (function, in place)
_CLAMPS: dict[Callable[..., Any], tuple[str, bool]] = {
    torch.clamp: ("torch.clamp", False),
    torch.clip: ("torch.clip", False),
    torch.Tensor.clamp: ("Tensor.clamp", False),
    torch.Tensor.clip: ("Tensor.clip", False),
    torch.clamp_: ("torch.clamp_", True),
    torch.clip_: ("torch.clip_", True),
    torch.Tensor.clamp_: ("Tensor.clamp_", True),
    torch.Tensor.clip_: ("Tensor.clip_", True),
}
_CLAMP_MINS: dict[Callable[..., Any], tuple[str, bool]] = {
    torch.clamp_min: ("torch.clamp_min", False),
    torch.Tensor.clamp_min: ("Tensor.clamp_min", False),
    torch.clamp_min_: ("torch.clamp_min_", True),
    torch.Tensor.clamp_min_: ("Tensor.clamp_min_", True),
}
_MAXIMUMS: dict[Callable[..., Any], str] = {
    torch.maximum: "torch.maximum",
    torch.Tensor.maximum: "Tensor.maximum",
    torch.max: "torch.max",
    torch.Tensor.max: "Tensor.max",
}

_SPELLED = {*_CLAMPS, *_CLAMP_MINS, *_MAXIMUMS, F.threshold, F.threshold_}


def _is_zero(value: Any, like: torch.Tensor) -> bool:
    """``value`` is the number 0, or a constant all-zero tensor that broadcasts to ``like``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return value == 0
    if not isinstance(value, torch.Tensor) or value.requires_grad:
        return False
    try:
        fits = torch.broadcast_shapes(value.shape, like.shape) == like.shape
    except RuntimeError:
        return False
    return fits and not bool(value.any())


def _relu_spelling(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str, Any, bool, bool] | None:
    """``(name, x, inplace, is_relu)`` for a clamp/maximum/threshold call, else None.

    ``is_relu`` is False for a clip with a lower bound of 0 and an upper bound
    (ReLU6-like), which cannot be rewritten and is reported instead.
    """
    if func not in _SPELLED:
        return None
    x = args[0] if args else kwargs.get("input", kwargs.get("self"))
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        return None
    if func in _CLAMPS:
        name, inplace = _CLAMPS[func]
        low = args[1] if len(args) > 1 else kwargs.get("min")
        high = args[2] if len(args) > 2 else kwargs.get("max")
        if low is None or not _is_zero(low, x):
            return None
        return f"{name}(min=0)", x, inplace, high is None
    if func in _CLAMP_MINS:
        name, inplace = _CLAMP_MINS[func]
        low = args[1] if len(args) > 1 else kwargs.get("min")
        return (f"{name}(0)", x, inplace, True) if _is_zero(low, x) else None
    if func in _MAXIMUMS:
        other = args[1] if len(args) > 1 else kwargs.get("other")
        if isinstance(other, torch.Tensor) and _is_zero(other, x):
            return f"{_MAXIMUMS[func]}(x, 0)", x, False, True
        return None
    if func is F.threshold or func is F.threshold_:
        th = args[1] if len(args) > 1 else kwargs.get("threshold")
        value = args[2] if len(args) > 2 else kwargs.get("value")
        inplace = func is F.threshold_ or bool(
            args[3] if len(args) > 3 else kwargs.get("inplace", False)
        )
        if _is_zero(th, x) and _is_zero(value, x):
            return "F.threshold(x, 0, 0)", x, inplace, True
    return None


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
        spelled = _relu_spelling(func, args, kwargs)
        if spelled is not None:
            name, x, inplace, is_relu = spelled
            if is_relu:
                self.report.as_relu[name] += 1
                return self._rewrite(x, inplace)
            self.report.unreached[name.replace("(min=0)", "(min=0, max=...)")] += 1
            return func(*args, **kwargs)
        name = self.unreached.get(func)
        if name is not None:
            self.report.unreached[name] += 1
        return func(*args, **kwargs)

    def _rewrite(self, x: torch.Tensor, inplace: bool) -> torch.Tensor:
        self.report.count += 1
        if inplace:
            return _ReluInplace.apply(x, self.report.rule)
        return _Relu.apply(x, self.report.rule)


def scripted_modules(model: nn.Module | None) -> list[str]:
    """Names of the outermost scripted (``torch.jit``) modules of ``model`` ('' = itself)."""
    if model is None:
        return []
    found: list[str] = []
    for name, module in model.named_modules():
        if isinstance(module, torch.jit.ScriptModule) and not any(
            name == f or name.startswith(f + ".") or f == "" for f in found
        ):
            found.append(name)
    return found


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
    report.scripted = scripted_modules(model)
    with _RectifierMode(report):
        yield report
    if warn and (report.unreached or report.scripted):
        warnings.warn(
            f"rewrite_rectifiers: {len(report.warnings)} rectifier-like function(s) or "
            f"scripted sub-module(s) keep their ordinary gradient under the {rule!r} rule: "
            + "; ".join(report.warnings),
            RectifierWarning,
            stacklevel=3,
        )
