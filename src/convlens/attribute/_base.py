"""The one pipeline every attribution method shares.

:class:`Method` checks the inputs, resolves the target, runs the forward pass
(with rectifiers rewritten and a layer hooked when the method asks), takes one
backward pass, and leaves the model as it found it. A method overrides one step:

- ``rule`` (class attribute): the rectifier backward rule (guided backprop, deconvnet);
- ``combine(x, step)``: what to make of one forward+backward :class:`Step`
  (``x * grad`` for input x gradient);
- ``attribute(pipe, x, rows)``: the whole computation, for methods that need many
  rows per sample (integrated gradients, smoothgrad, occlusion).

``rows`` (M,) maps each row of a batch to its original sample, so the target of
sample i is applied to every row made from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import InputShapeError, LayerError, TargetError
from ..model.hooks import Hooks
from ..model.modules import get_layer
from ..model.rectifiers import RectifierWarning, rewrite_rectifiers
from ._targets import Target, resolve_target

__all__ = ["Method", "Pipeline", "Step", "check_inputs", "untouched"]


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


def check_inputs(inputs: Any) -> torch.Tensor:
    """A detached float copy of ``inputs`` (N, ...), or an :class:`InputShapeError`."""
    if not isinstance(inputs, torch.Tensor):
        raise InputShapeError(
            f"inputs of type {type(inputs).__name__} are not a tensor: pass a float tensor "
            "(N, C, H, W) of preprocessed inputs"
        )
    if not inputs.is_floating_point():
        raise InputShapeError(
            f"inputs have dtype {inputs.dtype}: expected a float tensor of preprocessed inputs "
            "(convert uint8 images with the run's normalisation)"
        )
    if inputs.ndim < 2 or inputs.shape[0] == 0:
        raise InputShapeError(
            f"inputs of shape {tuple(inputs.shape)} have no batch: expected (N, C, H, W) with "
            "N >= 1; add a batch dimension with inputs[None]"
        )
    if not bool(torch.isfinite(inputs).all()):
        bad = (~torch.isfinite(inputs)).reshape(len(inputs), -1).any(1).nonzero().flatten()
        raise InputShapeError(
            f"inputs hold NaN or infinite values (samples {bad[:8].tolist()}): expected finite "
            "preprocessed inputs; check the image files or the normalisation"
        )
    return inputs.detach()


@dataclass
class Step:
    """One forward+backward pass over M rows.

    ``output`` the model output (detached), ``scores`` (M,) the target scores,
    ``grad`` (M, ...) their gradient with respect to the inputs (or None),
    ``activation`` and ``layer_grad`` (M, C, h, w) the hooked layer's output and
    its gradient (or None).
    """

    output: Any
    scores: torch.Tensor
    grad: torch.Tensor | None = None
    activation: torch.Tensor | None = None
    layer_grad: torch.Tensor | None = None


class Pipeline:
    """Forward and backward passes of one model towards one target, in batches."""

    def __init__(self, model: nn.Module, target: Any, batch_size: int | None = None):
        self.model = model
        self.spec = target
        self.target: Target | None = target if isinstance(target, Target) else None
        self.batch_size = batch_size
        self.rewritten = 0
        self.n: int | None = None  # number of original samples, once known

    # ----------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> Any:
        try:
            return self.model(x)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputShapeError(
                f"inputs of shape {tuple(x.shape)} do not fit the model ({first}); pass "
                "(N, C, H, W) inputs of the shape the model was built for"
            ) from None

    def resolve(self, output: Any, n: int) -> Target:
        if self.target is None:
            self.target = resolve_target(self.spec, output, self.n or n)
        return self.target

    def fix_target(self, x: torch.Tensor) -> None:
        """Before running many rows per sample: resolve a target that depends on the
        clean inputs ("predicted") with one forward pass; others resolve on the first
        batch, at no extra cost."""
        self.n = self.n or len(x)
        if self.target is None and isinstance(self.spec, str):
            self.prepare(x)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Resolve the target on the clean inputs ``x`` (N, ...); returns their scores (N,)."""
        rows = torch.arange(len(x), device=x.device)
        with torch.no_grad():
            output = self.forward(x)
            return self.resolve(output, len(x)).score(output, rows).detach()

    def scores(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Target scores (M,) of rows ``x`` without gradients (target resolved already)."""
        with torch.no_grad():
            output = self.forward(x)
            return self.resolve(output, len(x)).score(output, rows).detach()

    def chunks(self, total: int, n: int) -> Iterator[slice]:
        """Slices of ``range(total)`` of at most ``batch_size`` (default max(N, 64)) rows."""
        size = self.batch_size or max(n, 64)
        for start in range(0, total, size):
            yield slice(start, min(start + size, total))

    # ---------------------------------------------------------------- backward
    def backward(
        self,
        x: torch.Tensor,
        rows: torch.Tensor | None = None,
        *,
        rule: str = "gradient",
        layer: str | None = None,
        input_grad: bool = True,
    ) -> Step:
        """One forward+backward pass of the target score over rows ``x`` (M, ...)."""
        rows = torch.arange(len(x), device=x.device) if rows is None else rows.to(x.device)
        x = x.detach().requires_grad_(input_grad)
        seen: dict[str, torch.Tensor] = {}
        with Hooks(self.model) as hooks, rewrite_rectifiers(self.model, rule, warn=False) as rep:
            if layer is not None:
                hooks.forward(layer, _keep_output(seen))
            output = self.forward(x)
        self._note_rectifiers(rule, rep)
        target = self.resolve(output, len(x))
        scores = target.score(output, rows)
        _check_finite_scores(scores)
        wrt: list[torch.Tensor] = [x] if input_grad else []
        if layer is not None:
            wrt.append(_spatial_output(layer, seen.get("out")))
        if not scores.requires_grad:
            grads = [torch.zeros_like(t) for t in wrt]
        else:
            grads = list(torch.autograd.grad(scores.sum(), wrt, allow_unused=True))
            grads = [
                torch.zeros_like(t) if g is None else g for t, g in zip(wrt, grads, strict=True)
            ]
        step = Step(output=_detach(output), scores=scores.detach())
        if input_grad:
            step.grad = grads.pop(0)
        if layer is not None:
            step.activation, step.layer_grad = wrt[-1].detach(), grads[0]
        return step

    def _note_rectifiers(self, rule: str, report: Any) -> None:
        import warnings

        self.rewritten += report.count
        if report.unreached:
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


def _keep_output(seen: dict[str, torch.Tensor]) -> Any:
    # Keep the layer's own output and hand the network a copy, so that a later
    # in-place op (nn.ReLU(inplace=True)) changes the copy, not what we keep.
    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if isinstance(output, torch.Tensor):
            seen["out"] = output
            return output.clone()
        return None

    return hook


def _spatial_output(layer: str, out: torch.Tensor | None) -> torch.Tensor:
    if out is None:
        raise LayerError(f"layer {layer!r} did not produce a tensor in the forward pass")
    if out.ndim != 4:
        raise LayerError(
            f"layer {layer!r} has output of shape {tuple(out.shape)}, not a spatial map "
            "(N, C, H, W): choose a convolutional layer (see `convlens layers`)"
        )
    return out


def _detach(output: Any) -> Any:
    if isinstance(output, torch.Tensor):
        return output.detach()
    if isinstance(output, (tuple, list)):
        return type(output)(_detach(o) for o in output)
    if isinstance(output, dict):
        return {k: _detach(v) for k, v in output.items()}
    return output


class Method:
    """Base of every attribution method: ``method(model, inputs, target, **options)``.

    Subclasses set ``rule`` and override ``combine`` or ``attribute``.
    """

    rule = "gradient"
    name = "gradient"

    def __call__(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        target: Any = "predicted",
        *,
        batch_size: int | None = None,
        **options: Any,
    ) -> torch.Tensor:
        x = check_inputs(inputs)
        with untouched(model):
            pipe = Pipeline(model, target, batch_size)
            pipe.n = len(x)
            out = self.attribute(pipe, x, None, **options)
        if self.rule != "gradient" and pipe.rewritten == 0:
            import warnings

            warnings.warn(
                f"{self.name}: the model computed no ReLU, so the map equals the plain "
                "gradient; the rule applies to nn.ReLU, F.relu, torch.relu and Tensor.relu",
                RectifierWarning,
                stacklevel=2,
            )
        return out

    def attribute(
        self, pipe: Pipeline, x: torch.Tensor, rows: torch.Tensor | None, **options: Any
    ) -> torch.Tensor:
        """Attribution (M, ...) for rows ``x``; default: one gradient pass, then combine."""
        return self.combine(x, pipe.backward(x, rows, rule=self.rule), **options)

    def combine(self, x: torch.Tensor, step: Step, **options: Any) -> torch.Tensor:
        if options:
            raise TypeError(f"{self.name}() got unexpected options {sorted(options)}")
        if step.grad is None:
            raise RuntimeError("no input gradient was computed")
        return step.grad


def get_spatial_layer(model: nn.Module, layer: str | None, method: str) -> str:
    """Check that ``layer`` names a module of ``model``; a clear error otherwise."""
    if not layer:
        raise LayerError(
            f"{method} needs layer=NAME, a convolutional layer whose output is (N, C, H, W) "
            "(see `convlens layers`)"
        )
    get_layer(model, layer)
    return layer
