"""Targets: what one score per sample an attribution explains.

A target is anything that maps the model output to one score per sample, (N,).
The user may give:

- an ``int`` class index: ``output[:, k]``;
- one int per sample (a list, numpy array or 1-D tensor of N ints);
- ``"predicted"``: the arg-max class of each sample, fixed on the clean inputs;
- a ``tuple`` of ints, an index into each sample's output, for outputs that are
  not class scores: ``(1,)`` is coordinate 1 of a ``(N, 2)`` embedding,
  ``(3, 5, 7)`` is element ``[3, 5, 7]`` of a ``(N, K, H, W)`` output;
- a callable ``fn(output) -> (N,)`` for anything else (e.g. the sum of one
  field's logits over a region of a structured output).

:func:`resolve_target` turns any of these into a :class:`Target`, which scores
any batch of rows drawn from the original samples (methods such as integrated
gradients run many rows per sample).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import TargetError

TargetSpec = int | str | tuple[int, ...] | Sequence[int] | torch.Tensor | Callable[..., Any]

__all__ = ["Target", "TargetSpec", "resolve_target"]


def _describe(output: Any) -> str:
    if isinstance(output, torch.Tensor):
        return f"a tensor of shape {tuple(output.shape)}"
    return f"a {type(output).__name__}"


def _check_tensor_output(output: Any) -> torch.Tensor:
    if not isinstance(output, torch.Tensor):
        raise TargetError(
            f"the model returns {_describe(output)}, not one tensor: pass a callable target "
            "fn(output) -> (N,) scores that picks the score to explain, e.g. "
            "target=lambda out: out[0][:, 3]"
        )
    return output


@dataclass(frozen=True)
class Target:
    """A resolved target. ``score(output, rows)`` -> (M,) for a batch of M rows.

    ``rows`` (M,) says which original sample each row came from; ``kind`` is
    ``"class"`` (one class index per sample in ``classes``), ``"index"`` (an
    output index tuple in ``index``) or ``"callable"`` (``fn``).
    """

    kind: str
    classes: torch.Tensor | None = None
    index: tuple[int, ...] | None = None
    fn: Callable[[Any], torch.Tensor] | None = None

    def score(self, output: Any, rows: torch.Tensor) -> torch.Tensor:
        if self.kind == "callable":
            scores = self.fn(output)
            m = len(rows)
            if not isinstance(scores, torch.Tensor) or tuple(scores.shape) not in ((m,), (m, 1)):
                got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores)
                raise TargetError(
                    f"the target function returned {got!r}: expected a tensor of one score "
                    f"per sample, shape ({m},); reduce the output over everything but the batch"
                )
            return scores.reshape(m)
        out = _check_tensor_output(output)
        if self.kind == "index":
            return out[(slice(None), *self.index)]
        return out.gather(1, self.classes.to(out.device)[rows].view(-1, 1)).view(-1)

    def class_of(self, rows: torch.Tensor) -> torch.Tensor | None:
        """The class index per row, for class targets (None otherwise)."""
        return None if self.classes is None else self.classes.to(rows.device)[rows]


def _classes_from(output: Any, what: str) -> int:
    out = _check_tensor_output(output)
    if out.ndim < 2:
        raise TargetError(
            f"target {what} needs class scores of shape (N, K), but the model returns "
            f"{_describe(out)}; pass an index tuple like (0,) or a callable target"
        )
    return out.shape[1]


def _check_range(classes: torch.Tensor, k: int, given: Any) -> None:
    bad = (classes < 0) | (classes >= k)
    if bool(bad.any()):
        value = int(classes[bad][0])
        raise TargetError(
            f"target {given!r} is out of range: class index {value} does not exist in an "
            f"output with {k} classes; expected an index in 0..{k - 1}"
        )


def resolve_target(spec: Any, output: Any, n: int) -> Target:
    """Resolve ``spec`` against the model ``output`` on the clean inputs (N = ``n``).

    >>> out = torch.tensor([[0.1, 0.9], [0.8, 0.2]])
    >>> resolve_target("predicted", out, 2).classes
    tensor([1, 0])
    """
    if isinstance(spec, Target):
        return spec
    if callable(spec) and not isinstance(spec, torch.Tensor):
        return Target("callable", fn=spec)
    if isinstance(spec, str):
        if spec != "predicted":
            raise TargetError(
                f"target {spec!r} is unknown: expected 'predicted', a class index, one index "
                "per sample, an output index tuple or a callable"
            )
        _classes_from(output, "'predicted'")
        return Target("class", classes=output.detach().argmax(1).reshape(n))
    if isinstance(spec, bool):
        raise TargetError(f"target {spec!r} is not a class index: pass an int")
    if isinstance(spec, (int, np.integer)):
        k = _classes_from(output, repr(spec))
        classes = torch.full((n,), int(spec), dtype=torch.long)
        _check_range(classes, k, spec)
        return Target("class", classes=classes)
    if isinstance(spec, tuple):
        out = _check_tensor_output(output)
        shape = tuple(out.shape[1:])
        if len(spec) != len(shape) or not all(isinstance(i, (int, np.integer)) for i in spec):
            raise TargetError(
                f"target index {spec!r} does not fit a model output of per-sample shape "
                f"{shape}: expected a tuple of {len(shape)} ints"
            )
        for i, (j, size) in enumerate(zip(spec, shape, strict=True)):
            if not 0 <= int(j) < size:
                raise TargetError(
                    f"target index {spec!r} is out of range: position {i} must be in "
                    f"0..{size - 1} for a model output of per-sample shape {shape}"
                )
        return Target("index", index=tuple(int(j) for j in spec))
    try:
        classes = torch.as_tensor(np.asarray(spec), dtype=torch.long).reshape(-1)
    except (TypeError, ValueError):
        raise TargetError(
            f"target {spec!r} is not understood: expected an int, one int per sample, "
            "'predicted', an output index tuple or a callable"
        ) from None
    if len(classes) != n:
        raise TargetError(
            f"target has {len(classes)} class indices for {n} inputs: give one per sample"
        )
    k = _classes_from(output, "list")
    _check_range(classes, k, spec if len(classes) <= 8 else "list")
    return Target("class", classes=classes)
