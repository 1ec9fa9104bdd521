"""The one pipeline every attribution method shares.

:class:`Method` checks the inputs (one tensor or a tuple), resolves the target,
runs the forward pass (with rectifiers rewritten and a layer tapped when the
method asks), takes one backward pass, and leaves the model as it found it. A
method overrides one step:

- ``rule`` (class attribute): the rectifier backward rule (guided backprop, deconvnet);
- ``combine(xs, step)``: what to make of one forward+backward :class:`Step`
  (``x * grad`` for input x gradient);
- ``attribute(pipe, xs, rows)``: the whole computation, for methods that need many
  rows per sample (integrated gradients, smoothgrad, occlusion).

Inputs travel as a tuple ``xs`` of tensors sharing the batch axis; ``rows`` (M,)
maps each row of a batch to its original sample, so the target of sample i and
its per-sample forward arguments apply to every row made from it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import InputShapeError, ModelError, TargetError, first_line
from ..model.hooks import Hooks
from ..model.rectifiers import RectifierWarning, rewrite_rectifiers
from ._inputs import ForwardArgs, as_inputs, check_inputs
from ._layer import Layer, Tap
from ._targets import Target, resolve_target

__all__ = ["Method", "Pipeline", "Step", "check_inputs", "untouched"]

Inputs = tuple[torch.Tensor, ...]


@contextmanager
def untouched(model: nn.Module) -> Iterator[nn.Module]:
    """Run the body in eval mode with gradients on; restore every training flag on exit.

    Attribution explains the deployed (eval-mode) network; BatchNorm statistics and
    dropout are never updated or sampled. Nothing else of the model is changed.
    """
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.enable_grad():
            yield model
    finally:
        for module, flag in flags:
            module.training = flag


@dataclass
class Step:
    """One forward+backward pass over M rows.

    ``output`` the model output (detached), ``scores`` (M,) the target scores,
    ``grads`` one gradient (M, ...) per input (or None), ``activations`` and
    ``layer_grads`` the tapped layer's tensors (M, C, ...) and their gradients
    (or None).
    """

    output: Any
    scores: torch.Tensor
    grads: Inputs | None = None
    activations: Inputs | None = None
    layer_grads: Inputs | None = None


# A RuntimeError whose message says the tensors do not fit: reported as a shape error.
_SHAPE_WORDS = re.compile(
    r"size mismatch|shape|mat1 and mat2|must match the size|size of tensor|expected input\[|"
    r"channels|dimension|Expected \d+D|Expected [a-z ]*\d+-?D|invalid for input of size|"
    r"Given groups|padded input size|Kernel size can't|out of range|too small",
    re.IGNORECASE,
)


def _forward_error(exc: RuntimeError, xs: Inputs) -> Exception:
    first = first_line(exc)
    shapes = ", ".join(str(tuple(x.shape)) for x in xs)
    given = f"inputs of shape {shapes}" if len(xs) == 1 else f"inputs of shapes {shapes}"
    if _SHAPE_WORDS.search(first):
        return InputShapeError(
            f"{given} do not fit the model ({first}); pass inputs of the shape the model "
            "was built for"
        )
    x = xs[0]
    return ModelError(
        f"the model's forward pass failed on {given} ({x.dtype}, {x.device}): "
        f"{type(exc).__name__}: {first}; this error comes from the model's own code"
    )


class Pipeline:
    """Forward and backward passes of one model towards one target, in batches.

    ``forward_args`` are the model's ``additional_forward_args`` (see
    :class:`~convlens.attribute._inputs.ForwardArgs`); ``n`` is the number of
    original samples.
    """

    def __init__(
        self,
        model: nn.Module,
        target: Any,
        batch_size: int | None = None,
        forward_args: Any = None,
        n: int | None = None,
    ):
        self.model = model
        self.spec = target
        self.target: Target | None = target if isinstance(target, Target) else None
        self.batch_size = batch_size
        self.n = n
        self.extra = ForwardArgs(forward_args, n or 0)
        self.rewritten = 0

    # ----------------------------------------------------------------- forward
    def forward(self, xs: Inputs | torch.Tensor, rows: torch.Tensor | None = None) -> Any:
        """``model(*xs, *forward args for rows)``; shape errors become one line."""
        xs = (xs,) if isinstance(xs, torch.Tensor) else tuple(xs)
        try:
            return self.model(*xs, *self.extra.select(rows))
        except RuntimeError as exc:
            raise _forward_error(exc, xs) from exc

    def resolve(self, output: Any, m: int) -> Target:
        if self.target is None:
            self.target = resolve_target(self.spec, output, self.n or m)
        return self.target

    def fix_target(self, xs: Inputs) -> None:
        """Before running many rows per sample: resolve a target that depends on the
        clean inputs ("predicted") with one forward pass; others resolve on the first
        batch, at no extra cost."""
        self.n = self.n or len(xs[0])
        if self.target is None and isinstance(self.spec, str):
            self.prepare(xs)

    def prepare(self, xs: Inputs) -> torch.Tensor:
        """Resolve the target on the clean inputs ``xs`` (N, ...); returns their scores (N,)."""
        rows = torch.arange(len(xs[0]), device=xs[0].device)
        with torch.no_grad():
            output = self.forward(xs, rows)
            return self.resolve(output, len(rows)).score(output, rows).detach()

    def scores(self, xs: Inputs, rows: torch.Tensor) -> torch.Tensor:
        """Target scores (M,) of rows ``xs`` without gradients."""
        with torch.no_grad():
            output = self.forward(xs, rows)
            return self.resolve(output, len(rows)).score(output, rows).detach()

    def chunks(self, total: int, n: int) -> Iterator[slice]:
        """Slices of ``range(total)`` of at most ``batch_size`` (default max(N, 64)) rows."""
        size = self.batch_size or max(n, 64)
        for start in range(0, total, size):
            yield slice(start, min(start + size, total))

    # ---------------------------------------------------------------- backward
    def backward(
        self,
        xs: Inputs,
        rows: torch.Tensor | None = None,
        *,
        rule: str = "gradient",
        layer: Layer | None = None,
        input_grad: bool = True,
    ) -> Step:
        """One forward+backward pass of the target score over rows ``xs`` (M, ...)."""
        m = len(xs[0])
        rows = torch.arange(m, device=xs[0].device) if rows is None else rows.to(xs[0].device)
        # The inputs always require gradients, so every tensor computed from them does,
        # also in a frozen model: a layer's tensors then have their full gradient (all
        # their uses), and autograd.grad computes nothing below what ``wrt`` asks for.
        xs = tuple(x.detach().requires_grad_(True) for x in xs)
        tap = Tap(layer) if layer is not None else None
        with Hooks(self.model) as hooks, rewrite_rectifiers(self.model, rule, warn=False) as rep:
            if tap is not None:
                tap.attach(hooks, self.model)
            output = self.forward(xs, rows)
        self._note_rectifiers(rule, rep)
        scores = self.resolve(output, m).score(output, rows)
        _check_finite_scores(scores)
        acts = tap.chosen() if tap is not None else ()
        wrt = [*xs, *acts] if input_grad else list(acts)
        if not scores.requires_grad:
            grads = [torch.zeros_like(t) for t in wrt]
        else:
            got = torch.autograd.grad(scores.sum(), wrt, allow_unused=True)
            grads = [torch.zeros_like(t) if g is None else g for t, g in zip(wrt, got, strict=True)]
        step = Step(output=_detach(output), scores=scores.detach())
        if input_grad:
            step.grads = tuple(grads[: len(xs)])
            grads = grads[len(xs) :]
        if tap is not None:
            step.activations = tuple(a.detach() for a in acts)
            step.layer_grads = tuple(grads)
        return step

    def _note_rectifiers(self, rule: str, report: Any) -> None:
        self.rewritten += report.count
        if report.unreached or report.scripted:
            warnings.warn(
                f"{rule}: some rectifier-like functions keep their ordinary gradient: "
                + "; ".join(report.warnings),
                RectifierWarning,
                stacklevel=4,
            )


def _check_finite_scores(scores: torch.Tensor) -> None:
    if not bool(torch.isfinite(scores).all()):
        bad = (~torch.isfinite(scores)).nonzero().flatten()
        raise TargetError(
            f"the model's target score is NaN or infinite for rows {bad[:8].tolist()}: "
            "expected finite scores; check the model's weights (a diverged checkpoint?) "
            "and its inputs"
        )


def _detach(output: Any) -> Any:
    if isinstance(output, torch.Tensor):
        return output.detach()
    if isinstance(output, (tuple, list)):
        return type(output)(_detach(o) for o in output)
    if isinstance(output, dict):
        return {k: _detach(v) for k, v in output.items()}
    return output


def accumulate(total: torch.Tensor, start: int, values: torch.Tensor) -> None:
    """Add rows ``values`` (M, ...) of flat indices start..start+M-1 into ``total`` (N, ...),
    row ``f`` going to sample ``f % N`` (the layout of every many-rows method).

    The rows are laid out on a zero-padded (blocks, N, ...) grid and summed over the
    blocks: deterministic, and on a busy CPU far steadier than ``index_add_`` with
    repeated indices into small slices (seen at 30-90 ms a call for a (64, 40) chunk).
    """
    n, m = len(total), len(values)
    lead = start % n
    if lead == 0 and m == n:  # one block: the rows are the samples
        total += values
        return
    if lead == 0 and m % n == 0:
        grid = values
    else:
        grid = values.new_zeros(((lead + m + n - 1) // n * n, *values.shape[1:]))
        grid[lead : lead + m] = values
    total += grid.view(-1, n, *values.shape[1:]).sum(0)


def rows_of(xs: Inputs, rows: torch.Tensor | None) -> torch.Tensor:
    """``rows`` on the inputs' device, or every sample (N,) when None."""
    if rows is None:
        return torch.arange(len(xs[0]), device=xs[0].device)
    return rows.to(xs[0].device)


class Method:
    """Base of every attribution method: ``method(model, inputs, target, **options)``.

    Subclasses set ``rule`` and override ``combine`` or ``attribute``. Methods whose
    maps are shaped like the inputs (``per_input = True``) return one map per input,
    unwrapped when a single tensor was given.
    """

    rule = "gradient"
    name = "gradient"
    per_input = True

    def __call__(
        self,
        model: nn.Module,
        inputs: Any,
        target: Any = "predicted",
        *,
        batch_size: int | None = None,
        additional_forward_args: Any = None,
        **options: Any,
    ) -> Any:
        xs, single = as_inputs(inputs)
        with untouched(model):
            pipe = Pipeline(model, target, batch_size, additional_forward_args, n=len(xs[0]))
            out = self.attribute(pipe, xs, None, **options)
        if self.rule != "gradient" and pipe.rewritten == 0:
            warnings.warn(
                f"{self.name}: the model computed no ReLU, so the map equals the plain "
                "gradient; the rule applies to nn.ReLU, F.relu, torch.relu, Tensor.relu, "
                "clamp(min=0) and maximum(x, 0)",
                RectifierWarning,
                stacklevel=3,
            )
        return out[0] if self.per_input and single else out

    def attribute(
        self, pipe: Pipeline, xs: Inputs, rows: torch.Tensor | None, **options: Any
    ) -> Inputs:
        """Attribution (M, ...) per input for rows ``xs``; default: one gradient pass,
        then combine."""
        return self.combine(xs, pipe.backward(xs, rows, rule=self.rule), **options)

    def combine(self, xs: Inputs, step: Step, **options: Any) -> Inputs:
        if options:
            raise TypeError(f"{self.name}() got unexpected options {sorted(options)}")
        if step.grads is None:
            raise RuntimeError("no input gradient was computed")
        return step.grads
