"""Targets: what one score per sample an attribution explains.

A target is anything that maps the model output to one score per sample, (N,).
The user may give:

- an ``int`` class index ``k``: ``output[:, k]`` of an (N, K) output; of an
  (N, K, ...) output (a segmentation, a document's fields per cell) the class
  map ``output[:, k]`` summed over the remaining axes;
- one class index per sample (a list, numpy array or 1-D tensor of N ints; one
  entry is used for every sample);
- ``"predicted"``: per sample, the class of the largest score (for (N, K, ...)
  outputs, of the largest summed class map), fixed on the clean inputs;
- ``None``: the output is already one score per sample, (N,) or (N, 1);
- a ``tuple`` of ints, an index into each sample's output: ``(1,)`` is coordinate
  1 of an (N, 2) embedding, ``(3, 5, 7)`` is element ``[3, 5, 7]`` of an
  (N, K, H, W) output; a list of N such tuples (or an (N, r) int tensor) gives one
  index per sample;
- a callable ``fn(output) -> (N,)`` for anything else (e.g. the sum of one
  field's logits over a region of a structured output). It must score each
  sample from that sample's own output row; a method that runs several rows per
  sample calls it on outputs of N rows, one copy of the samples at a time.

:func:`resolve_target` turns any of these into a :class:`Target`, which scores
any batch of rows drawn from the original samples. Any other target, or one that
does not fit the output, raises a one-line :class:`~convlens.errors.TargetError`
that names the output's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import TargetError

TargetSpec = int | str | None | tuple[int, ...] | Sequence[int] | torch.Tensor | Callable[..., Any]

__all__ = ["Target", "TargetSpec", "resolve_target"]

_KINDS = (
    "expected 'predicted', None, a class index, one class index per sample, an output "
    "index tuple, one index tuple per sample, or a callable output -> (N,) scores"
)


def _shape(out: torch.Tensor, n: int | None) -> tuple[int, ...]:
    """The output's shape for N samples (a batch of many rows per sample shows N)."""
    shape = tuple(out.shape)
    return (n, *shape[1:]) if n is not None and shape else shape


def describe(output: Any, n: int | None = None) -> str:
    """``a tensor of shape (2, 10)``, ``a tuple of 2`` ... for messages."""
    if isinstance(output, torch.Tensor):
        return f"a tensor of shape {_shape(output, n)}"
    if isinstance(output, (tuple, list, dict)):
        return f"a {type(output).__name__} of {len(output)}"
    return f"a {type(output).__name__}"


def _tensor_output(output: Any) -> torch.Tensor:
    if not isinstance(output, torch.Tensor):
        raise TargetError(
            f"the model returns {describe(output)}, not one tensor: pass a callable target "
            "fn(output) -> (N,) scores that picks the score to explain, e.g. "
            "target=lambda out: out[0][:, 3]"
        )
    return output


def _identity(rows: torch.Tensor, n: int | None) -> bool:
    return (
        n is not None
        and len(rows) == n
        and bool((rows == torch.arange(n, device=rows.device)).all())
    )


@dataclass(frozen=True)
class Target:
    """A resolved target. ``score(output, rows)`` -> (M,) for a batch of M rows.

    ``rows`` (M,) says which original sample each row came from. ``kind`` is
    ``"class"`` (one class index per sample in ``classes`` (N,)), ``"index"`` (one
    output index per sample in ``index`` (N, r)), ``"whole"`` (the output is the
    score) or ``"callable"`` (``fn``); ``n`` is the number of original samples.
    """

    kind: str
    classes: torch.Tensor | None = None
    index: torch.Tensor | None = None
    fn: Callable[[Any], torch.Tensor] | None = None
    n: int | None = None

    def score(self, output: Any, rows: torch.Tensor) -> torch.Tensor:
        m = len(rows)
        if self.kind == "callable":
            if _identity(rows, self.n) or self.n is None:
                return self._call(output, m)
            return self._call_by_copies(output, rows)
        out = _tensor_output(output)
        if self.kind == "whole":
            return out.reshape(m)
        ar = torch.arange(m, device=out.device)
        if self.kind == "index":
            index = self.index.to(out.device)[rows.to(out.device)]
            return out[(ar, *index.T)]
        picked = out[ar, self.classes.to(out.device)[rows.to(out.device)]]
        return picked.reshape(m, -1).sum(1) if picked.ndim > 1 else picked

    def _call(self, output: Any, m: int) -> torch.Tensor:
        scores = self.fn(output)
        if not isinstance(scores, torch.Tensor) or tuple(scores.shape) not in ((m,), (m, 1)):
            got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores)
            raise TargetError(
                f"the target function returned {got!r} for a model that returns "
                f"{describe(output)}: expected a tensor of one score per sample, shape "
                f"({m},); reduce the output over everything but the batch"
            )
        return scores.reshape(m)

    def _call_by_copies(self, output: Any, rows: torch.Tensor) -> torch.Tensor:
        # Rows of one batch come from the N samples, each possibly several times. Call
        # the function on N-row outputs, one "copy" of the samples at a time: row r
        # goes to slot rows[r] of copy c (its rank among the rows of its sample), and
        # the slots no row of copy c fills hold zeros whose scores are dropped.
        n, m = self.n, len(rows)
        rows = rows.cpu()
        order = torch.argsort(rows, stable=True)
        counts = torch.bincount(rows, minlength=n)
        starts = torch.cumsum(counts, 0) - counts
        copy = torch.empty(m, dtype=torch.long)
        copy[order] = torch.arange(m) - starts[rows[order]]
        pieces, where = [], []
        for c in range(int(copy.max()) + 1):
            sel = (copy == c).nonzero().flatten()
            slots = rows[sel]
            full = _spread(output, sel, slots, m, n)
            pieces.append(self._call(full, n)[slots.to(_device(output))])
            where.append(sel)
        flat = torch.cat(pieces)
        inverse = torch.empty(m, dtype=torch.long)
        inverse[torch.cat(where)] = torch.arange(m)
        return flat[inverse.to(flat.device)]

    def class_of(self, rows: torch.Tensor) -> torch.Tensor | None:
        """The class index per row, for class targets (None otherwise)."""
        return None if self.classes is None else self.classes.to(rows.device)[rows]


def _device(output: Any) -> torch.device:
    if isinstance(output, torch.Tensor):
        return output.device
    if isinstance(output, (tuple, list)):
        for o in output:
            if isinstance(o, torch.Tensor):
                return o.device
    if isinstance(output, dict):
        return _device(list(output.values()))
    return torch.device("cpu")


def _spread(output: Any, sel: torch.Tensor, slots: torch.Tensor, m: int, n: int) -> Any:
    """An output of N rows holding rows ``sel`` of ``output`` (M rows) at ``slots``."""
    if isinstance(output, torch.Tensor):
        if output.ndim == 0 or output.shape[0] != m:
            return output
        dev = output.device
        full = output.new_zeros((n, *output.shape[1:]))
        return full.index_copy(0, slots.to(dev), output[sel.to(dev)])
    if isinstance(output, (tuple, list)):
        return type(output)(_spread(o, sel, slots, m, n) for o in output)
    if isinstance(output, dict):
        return {k: _spread(v, sel, slots, m, n) for k, v in output.items()}
    return output


def _class_output(output: Any, given: str, n: int) -> torch.Tensor:
    out = _tensor_output(output)
    if out.ndim < 2:
        raise TargetError(
            f"target {given} needs class scores (N, K, ...), but the model returns "
            f"{describe(out, n)}; pass target=None (the output is one score per sample) or a "
            "callable"
        )
    return out


def _check_range(classes: torch.Tensor, out: torch.Tensor, given: Any) -> None:
    n = len(classes)
    k = out.shape[1]
    bad = (classes < 0) | (classes >= k)
    if bool(bad.any()):
        value = int(classes[bad][0])
        raise TargetError(
            f"target {given!r} is out of range: class index {value} does not exist in a "
            f"model output of shape {_shape(out, n)} with {k} classes; expected an index "
            f"in 0..{k - 1}"
        )


def _predicted(out: torch.Tensor, n: int) -> torch.Tensor:
    scores = out.detach().reshape(out.shape[0], out.shape[1], -1).sum(2)
    return scores.argmax(1).reshape(n)


def _index_target(spec: Any, out: torch.Tensor, n: int, given: Any) -> Target:
    """One output index per sample: ``spec`` is (r,) or (N, r) ints."""
    shape = tuple(out.shape[1:])
    full = _shape(out, n)
    idx = torch.as_tensor(np.asarray(spec), dtype=torch.long)
    if idx.ndim == 1:
        idx = idx.expand(n, -1)
    if idx.shape[1] != len(shape):
        raise TargetError(
            f"target index {given!r} does not fit a model output of shape {full} "
            f"(per-sample shape {shape}): expected a tuple of {len(shape)} ints"
        )
    if len(idx) != n:
        raise TargetError(
            f"target has {len(idx)} index tuples for {n} inputs (model output of shape "
            f"{full}): give one per sample, or one tuple for all"
        )
    size = torch.tensor(shape, dtype=torch.long).expand_as(idx)
    bad = ((idx < 0) | (idx >= size)).any(0)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise TargetError(
            f"target index {given!r} is out of range: position {i} must be in "
            f"0..{shape[i] - 1} for a model output of shape {full} (per-sample "
            f"shape {shape})"
        )
    return Target("index", index=idx.clone(), n=n)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def resolve_target(spec: Any, output: Any, n: int) -> Target:
    """Resolve ``spec`` against a model ``output`` whose per-sample shape it must fit.

    ``n`` is the number of original samples; "predicted" must be resolved on the
    output of the clean inputs (N rows).

    >>> out = torch.tensor([[0.1, 0.9], [0.8, 0.2]])
    >>> resolve_target("predicted", out, 2).classes
    tensor([1, 0])
    """
    if isinstance(spec, Target):
        return spec
    if callable(spec) and not isinstance(spec, torch.Tensor):
        return Target("callable", fn=spec, n=n)
    if spec is None:
        out = _tensor_output(output)
        if out[0].numel() != 1:
            raise TargetError(
                f"target None takes the output as one score per sample, but the model "
                f"returns {describe(out, n)}; pass a class index, 'predicted', an index tuple "
                "or a callable"
            )
        return Target("whole", n=n)
    if isinstance(spec, str):
        if spec != "predicted":
            raise TargetError(
                f"target {spec!r} is unknown for a model that returns {describe(output, n)}: "
                + _KINDS
            )
        out = _class_output(output, "'predicted'", n)
        return Target("class", classes=_predicted(out, n), n=n)
    if isinstance(spec, (torch.Tensor, np.ndarray)) and spec.ndim == 0:
        spec = spec.item()
    if _is_int(spec):
        out = _class_output(output, repr(spec), n)
        classes = torch.full((n,), int(spec), dtype=torch.long)
        _check_range(classes, out, spec)
        return Target("class", classes=classes, n=n)
    if isinstance(spec, tuple):
        out = _tensor_output(output)
        if not all(_is_int(i) for i in spec):
            raise TargetError(
                f"target index {spec!r} does not fit a model output of shape "
                f"{_shape(out, n)}: expected a tuple of {out.ndim - 1} ints"
            )
        return _index_target(spec, out, n, spec)
    if isinstance(spec, list) and spec and all(isinstance(s, tuple) for s in spec):
        out = _tensor_output(output)
        if not all(len(s) == len(spec[0]) and all(_is_int(i) for i in s) for s in spec):
            raise TargetError(
                f"target {spec!r} mixes index tuples of different lengths or non-integers "
                f"for a model output of shape {_shape(out, n)}: expected one tuple of "
                f"{out.ndim - 1} ints per sample"
            )
        return _index_target(spec, out, n, spec if len(spec) <= 4 else "list")
    try:
        arr = np.asarray(spec.detach().cpu() if isinstance(spec, torch.Tensor) else spec)
        if arr.dtype.kind not in "iu" or arr.ndim not in (1, 2) or arr.size == 0:
            raise ValueError
    except (TypeError, ValueError):
        raise TargetError(
            f"target {spec!r} is not understood for a model that returns "
            f"{describe(output, n)}: " + _KINDS
        ) from None
    if arr.ndim == 2:
        return _index_target(arr, _tensor_output(output), n, "tensor")
    classes = torch.as_tensor(arr, dtype=torch.long).reshape(-1)
    out = _class_output(output, "list", n)
    if len(classes) == 1:
        classes = classes.expand(n).clone()
    if len(classes) != n:
        raise TargetError(
            f"target has {len(classes)} class indices for {n} inputs (model output of shape "
            f"{_shape(out, n)}): give one per sample, or one for all"
        )
    _check_range(classes, out, spec if len(classes) <= 8 else "list")
    return Target("class", classes=classes, n=n)
