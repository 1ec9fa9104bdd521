"""Receptive-field arithmetic on one tensor: the ``Field`` carried through a trace.

Along each spatial axis a field is three integers ``(lo, hi, stride)``: position 0
of the tensor sees input pixels ``lo..hi`` (inclusive, may lie outside the input
when the network pads), and position ``i`` sees ``lo + i*stride .. hi + i*stride``.
A stride of 0 means every position sees the same pixels (a map that mixed all
positions). ``hull`` is the union over all positions, per axis.

Fields are immutable; every operation returns a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Axis = tuple[int, int, int]  # (lo, hi, stride) of position 0
Span = tuple[int, int]  # (lo, hi) inclusive


@dataclass(frozen=True)
class Field:
    """What one traced tensor sees of the model input.

    ``axes`` is None for a tensor with no spatial layout (after flatten or a
    linear layer). ``dims`` are the tensor's spatial dimensions as negative
    indices (``(-2, -1)`` for (N, C, H, W)). ``notes`` say why the field may be
    larger than the true one; empty means exact.
    """

    axes: tuple[Axis, ...] | None
    dims: tuple[int, ...]
    hull: tuple[Span, ...]
    notes: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        return not self.notes


def input_field(spatial_shape: Sequence[int]) -> Field:
    """The model input itself: position i sees pixel i, stride 1."""
    k = len(spatial_shape)
    return Field(
        axes=tuple((0, 0, 1) for _ in range(k)),
        dims=tuple(range(-k, 0)),
        hull=tuple((0, n - 1) for n in spatial_shape),
    )


def merge_notes(*groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for g in groups for n in g))


def spatial_field(
    axes: Sequence[Axis], dims: Sequence[int], sizes: Sequence[int], notes: Sequence[str] = ()
) -> Field:
    """A field for a tensor whose spatial axes have ``sizes`` positions."""
    hull = tuple((lo, hi + (n - 1) * j) for (lo, hi, j), n in zip(axes, sizes, strict=True))
    return Field(tuple(axes), tuple(dims), hull, tuple(notes))


def flat_field(fields: Sequence[Field]) -> Field:
    """A non-spatial tensor computed from ``fields``: it sees their whole hull."""
    hull = tuple(
        (min(s[0] for s in spans), max(s[1] for s in spans))
        for spans in zip(*(f.hull for f in fields), strict=True)
    )
    return Field(None, (), hull, merge_notes(*(f.notes for f in fields)))


def whole_axis(span: Span) -> Axis:
    """Every position sees all of ``span``."""
    return (span[0], span[1], 0)


def window(axis: Axis, kernel: int, stride: int, pad_before: int, dilation: int) -> Axis:
    """A sliding window (convolution or pooling) over one axis.

    Output position o reads input positions ``o*stride - pad_before + t*dilation``
    for t in 0..kernel-1, so position 0 reaches from input position ``-pad_before``
    to ``-pad_before + (kernel-1)*dilation``, each of which sees ``stride_in``
    further along the image.
    """
    lo, hi, j = axis
    first = -pad_before
    last = -pad_before + (kernel - 1) * dilation
    return (lo + first * j, hi + last * j, j * stride)


def shift(axis: Axis, start: int, step: int = 1) -> Axis:
    """Taking every ``step``-th position from ``start`` (slicing, padding)."""
    lo, hi, j = axis
    return (lo + start * j, hi + start * j, j * step)


def cover(parts: Sequence[Axis], n: int) -> tuple[Axis, bool]:
    """The smallest box per position holding every part, for n positions.

    Parts with one stride (residual branches, concatenation) have an exact union:
    ``lo = min lo``, ``hi = max hi``. Parts with different strides (a broadcast
    map has stride 0) are covered with the largest stride and widened so that
    every position is inside; then the result is not exact.
    """
    whole = (min(lo for lo, _, _ in parts), max(hi + (n - 1) * j for _, hi, j in parts))
    if any(j == 0 and (lo, hi) == whole for lo, hi, j in parts):
        return (whole[0], whole[1], 0), True  # one part already sees everything, everywhere
    big = max(j for _, _, j in parts)
    lo = min(p_lo + (n - 1) * (j - big) if n > 1 else p_lo for p_lo, _, j in parts)
    hi = max(p_hi for _, p_hi, _ in parts)
    exact = n == 1 or all(j == big for _, _, j in parts)
    return (lo, hi, big), exact
