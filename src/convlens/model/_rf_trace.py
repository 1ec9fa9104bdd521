"""Tracing receptive fields through any forward pass.

:class:`FieldTracer` is a ``TorchFunctionMode``: during one dry forward pass it
sees every torch function, method and operator the model calls (module layers
and functional calls alike) and attaches a :class:`~._rf_field.Field` to each
tensor it produces:

- convolutions and pooling (max, average, LP) apply their kernel, stride,
  padding and dilation; adaptive pooling whose output size divides the input is
  the same as a plain pooling, otherwise it sees the whole input;
- padding and slicing shift and subsample;
- reductions over spatial axes (``mean``, ``amax``, ...) see the whole input
  along those axes; ``softmax``, ``cumsum``, ``flip`` ... along their ``dim``;
- permutes follow the spatial axes to their new place;
- everything else (element-wise ops, normalisation, ``+``, ``torch.cat`` along
  channels, ``linear`` on the last axis ...) takes the union of its inputs;
- an unknown op that changes a spatial size sees everything its inputs saw,
  with a note saying the field is an over-estimate.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from ._rf_field import (
    Axis,
    Field,
    cover,
    flat_field,
    merge_notes,
    shift,
    spatial_field,
    whole_axis,
    window,
)

ATTR = "_convlens_field"

_CONV = re.compile(r"^conv([123])d$")
_POOL = re.compile(r"^_?(max|avg|lp)_pool([123])d(_with_indices)?$")
_ADAPTIVE = re.compile(r"^adaptive_(avg|max)_pool([123])d(_with_indices)?$")
_CONSTANT = {
    "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like",
    "randint_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor",
}  # fmt: skip
_REDUCERS = {
    "mean", "sum", "nansum", "nanmean", "amax", "amin", "max", "min", "std", "var",
    "logsumexp", "prod", "median", "nanmedian", "all", "any", "argmax", "argmin",
    "std_mean", "var_mean", "aminmax", "mode", "count_nonzero",
}  # fmt: skip
_MIXERS = {
    "softmax", "log_softmax", "softmin", "cumsum", "cumprod", "logcumsumexp",
    "cummax", "cummin", "flip", "sort", "argsort", "roll",
}  # fmt: skip
_PERMUTERS = {"permute", "transpose", "swapaxes", "swapdims", "movedim", "moveaxis"}
_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47)


def field_of(t: object) -> Field | None:
    """The field attached to a traced tensor, or None."""
    return getattr(t, ATTR, None) if isinstance(t, torch.Tensor) else None


def attach(t: torch.Tensor, field: Field) -> None:
    setattr(t, ATTR, field)


class FieldTracer(TorchFunctionMode):
    """Attach a receptive field to every tensor computed from a traced input."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        inputs = [(t, f) for t in _tensors((args, kwargs)) if (f := field_of(t)) is not None]
        out = func(*args, **kwargs)
        if not inputs:
            return out
        outs = list(_tensors(out))
        if not outs:
            return out
        name = getattr(func, "__name__", "")
        if name in _CONSTANT:
            return out
        for t in outs:
            try:
                field = _propagate(func, name, t, inputs, args, kwargs)
            except Exception:  # never break the user's forward pass: fall back safely
                field = _unfollowed(name, [f for _, f in inputs])
            if field is not None:
                attach(t, field)
        return out


def _unfollowed(name: str, fields: list[Field]) -> Field:
    """Everything the inputs saw, for an op whose arguments convlens could not read."""
    flat = flat_field(fields)
    note = f"convlens could not follow {name or 'an op'}; taken as the whole input"
    return Field(None, (), flat.hull, merge_notes(flat.notes, [note]))


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[i] if len(args) > i else default


def _per_axis(value: Any, k: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * k
    values = tuple(int(v) for v in value)
    return values * k if len(values) == 1 else values


def _propagate(
    func: Any,
    name: str,
    out: torch.Tensor,
    inputs: list[tuple[torch.Tensor, Field]],
    args: tuple,
    kw: dict,
) -> Field | None:
    main = args[0] if args else None
    main_field = field_of(main)
    if isinstance(main, torch.Tensor) and main_field is not None and main_field.axes is not None:
        special = _special(func, name, out, main, main_field, args, kw)
        if special is not None:
            return special
    return _generic(name, out, inputs, args, kw)


def _special(
    func: Any, name: str, out: torch.Tensor, x: torch.Tensor, f: Field, args: tuple, kw: dict
) -> Field | None:
    """Ops with their own rule (convolution, pooling, padding, slicing, ...)."""
    k = len(f.dims)
    trailing = f.dims == tuple(range(-k, 0))
    sizes = [out.shape[d] for d in f.dims] if out.ndim >= k else None
    if (m := _CONV.match(name)) and trailing and int(m.group(1)) == k:
        weight = _arg(args, kw, 1, "weight")
        kernel = tuple(weight.shape[2:])
        stride = _per_axis(_arg(args, kw, 3, "stride", 1), k)
        dilation = _per_axis(_arg(args, kw, 5, "dilation", 1), k)
        padding = _arg(args, kw, 4, "padding", 0)
        if padding == "same":
            before = tuple(d * (kk - 1) // 2 for kk, d in zip(kernel, dilation, strict=True))
        elif padding == "valid":
            before = (0,) * k
        else:
            before = _per_axis(padding, k)
        axes = [
            window(a, kk, s, p, d)
            for a, kk, s, p, d in zip(f.axes, kernel, stride, before, dilation, strict=True)
        ]
        return spatial_field(axes, f.dims, sizes, f.notes)
    if (m := _POOL.match(name)) and trailing and int(m.group(2)) == k:
        kind = m.group(1)
        if kind == "lp":
            kernel = _per_axis(_arg(args, kw, 2, "kernel_size"), k)
            stride_arg, padding, dilation = _arg(args, kw, 3, "stride"), 0, 1
        else:
            kernel = _per_axis(_arg(args, kw, 1, "kernel_size"), k)
            stride_arg = _arg(args, kw, 2, "stride")
            padding = _arg(args, kw, 3, "padding", 0)
            dilation = _arg(args, kw, 4, "dilation", 1) if kind == "max" else 1
        stride = kernel if stride_arg is None or stride_arg == [] else _per_axis(stride_arg, k)
        axes = [
            window(a, kk, s, p, d)
            for a, kk, s, p, d in zip(
                f.axes, kernel, stride, _per_axis(padding, k), _per_axis(dilation, k), strict=True
            )
        ]
        return spatial_field(axes, f.dims, sizes, f.notes)
    if _ADAPTIVE.match(name) and trailing:
        return _adaptive(name, out, x, f, sizes)
    if name == "pad" and trailing:
        return _pad(out, f, args, kw, sizes)
    if name == "__getitem__":
        return _getitem(out, x, f, args[1])
    if name in _REDUCERS:
        return _reduce(name, out, x, f, args, kw)
    if name in _PERMUTERS:
        return _permute(func, out, x, f, args, kw)
    return None


def _adaptive(name: str, out: torch.Tensor, x: torch.Tensor, f: Field, sizes: Any) -> Field:
    axes: list[Axis] = []
    notes = list(f.notes)
    for a, d in enumerate(f.dims):
        n, m = x.shape[d], out.shape[d]
        if n % m == 0:
            axes.append(window(f.axes[a], n // m, n // m, 0, 1))  # type: ignore[index]
        else:
            axes.append(whole_axis(f.hull[a]))
            notes.append(
                f"{name} from {n} to {m} positions (not a divisor) mixes all positions; "
                "each sees the whole input"
            )
    return spatial_field(axes, f.dims, sizes, merge_notes(notes))


def _pad(out: torch.Tensor, f: Field, args: tuple, kw: dict, sizes: Any) -> Field | None:
    pad = tuple(int(p) for p in _arg(args, kw, 1, "pad"))
    k = len(f.dims)
    if len(pad) > 2 * k:
        return None
    axes: list[Axis] = []
    for a in range(k):
        from_last = k - 1 - a
        before = pad[2 * from_last] if 2 * from_last < len(pad) else 0
        axes.append(shift(f.axes[a], -before))  # type: ignore[index]
    mode = _arg(args, kw, 2, "mode", "constant")
    notes = f.notes
    if mode != "constant":
        notes = merge_notes(notes, [f"{mode} padding repeats inner pixels at the border"])
    return spatial_field(axes, f.dims, sizes, notes)


def _getitem(out: torch.Tensor, x: torch.Tensor, f: Field, index: Any) -> Field | None:
    """Basic slicing ``x[:, :, a:b:s, ...]``; anything fancier goes to the union rule."""
    index = index if isinstance(index, tuple) else (index,)
    if any(i is not Ellipsis and not isinstance(i, (int, slice)) for i in index):
        return None
    if sum(i is Ellipsis for i in index) > 1:
        return None
    if Ellipsis in index:
        at = index.index(Ellipsis)
        fill = x.ndim - (len(index) - 1)
        index = index[:at] + (slice(None),) * fill + index[at + 1 :]
    index = index + (slice(None),) * (x.ndim - len(index))
    positive = [x.ndim + d for d in f.dims]
    axes: list[Axis] = []
    new_dims: list[int] = []
    for a, p in enumerate(positive):
        sel = index[p]
        if not isinstance(sel, slice):
            return None
        start, _, step = sel.indices(x.shape[p])
        if step <= 0:
            return None
        axes.append(shift(f.axes[a], start, step))  # type: ignore[index]
        dropped = sum(isinstance(i, int) for i in index[:p])
        new_dims.append(p - dropped - out.ndim)
    sizes = [out.shape[d] for d in new_dims]
    return spatial_field(axes, new_dims, sizes, f.notes)


def _reduce(name: str, out: torch.Tensor, x: torch.Tensor, f: Field, args: tuple, kw: dict):
    dim = _arg(args, kw, 2 if name == "norm" else 1, "dim")
    if isinstance(dim, torch.Tensor):
        return None  # binary max/min: element-wise
    reduced = (
        set(range(x.ndim))
        if dim is None
        else {d % x.ndim for d in ((dim,) if isinstance(dim, int) else dim)}
    )
    positive = [x.ndim + d for d in f.dims]
    keepdim = out.ndim == x.ndim
    if keepdim:
        axes = [
            whole_axis(f.hull[a]) if p in reduced else f.axes[a]  # type: ignore[index]
            for a, p in enumerate(positive)
        ]
        return spatial_field(axes, f.dims, [out.shape[d] for d in f.dims], f.notes)
    if reduced & set(positive):
        return flat_field([f])
    new_dims = [p - sum(r < p for r in reduced) - out.ndim for p in positive]
    return spatial_field(f.axes, new_dims, [out.shape[d] for d in new_dims], f.notes)  # type: ignore[arg-type]


def _permute(func: Any, out: torch.Tensor, x: torch.Tensor, f: Field, args: tuple, kw: dict):
    """Follow the spatial axes by running the op on a shape-only tensor of distinct sizes."""
    if x.ndim > len(_PRIMES):
        return None
    sizes = _PRIMES[: x.ndim]
    try:
        shape = list(func(torch.empty(sizes, device="meta"), *args[1:], **kw).shape)
        new_dims = [shape.index(sizes[x.ndim + d]) - len(shape) for d in f.dims]
    except Exception:  # an unusual signature: fall back to the union rule
        return None
    return spatial_field(f.axes, new_dims, [out.shape[d] for d in new_dims], f.notes)  # type: ignore[arg-type]


def _mixed_dims(name: str, args: tuple, kw: dict, ndim: int) -> set[int] | None:
    """Negative dims along which ``name`` mixes positions (None: all of them)."""
    if name not in _MIXERS:
        return set()
    if name == "roll":
        dims = _arg(args, kw, 2, "dims")
    elif name in ("sort", "argsort"):
        dims = _arg(args, kw, 1, "dim", -1)
    else:
        dims = kw.get("dims", _arg(args, kw, 1, "dim"))
    if dims is None:
        return None
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return {d % ndim - ndim for d in dims}


def _generic(
    name: str, out: torch.Tensor, inputs: list[tuple[torch.Tensor, Field]], args: tuple, kw: dict
) -> Field:
    """Union of the inputs, position by position, along axes whose size is kept."""
    spatial = [f for _, f in inputs if f.axes is not None]
    fields = [f for _, f in inputs]
    if not spatial:
        return flat_field(fields)
    dims = spatial[0].dims
    if any(-d > out.ndim for d in dims):
        return flat_field(fields)
    mixed = _mixed_dims(name, args, kw, out.ndim)
    notes = list(merge_notes(*(f.notes for f in fields)))
    axes: list[Axis] = []
    for a, d in enumerate(dims):
        n_out = out.shape[d]
        parts: list[Axis] = []
        for t, f in inputs:
            if f.axes is None or f.dims != dims or t.ndim < -d:
                parts.append(whole_axis(f.hull[a]))
                continue
            n_in = t.shape[d]
            if n_in == n_out and (mixed is not None and d not in mixed):
                parts.append(f.axes[a])
                continue
            parts.append(whole_axis(f.hull[a]))
            if n_in not in (n_out, 1):
                notes.append(
                    f"{name or 'an op'} changes a spatial size from {n_in} to {n_out}; "
                    "its receptive field is taken as everything its input sees"
                )
        axis, exact = cover(parts, n_out)
        if not exact:
            notes.append(
                f"{name or 'an op'} joins maps of different strides; one larger box covers them"
            )
        axes.append(axis)
    return spatial_field(axes, dims, [out.shape[d] for d in dims], merge_notes(notes))
