"""Scalar curves for drawing: debiased EMA smoothing and honest min/max downsampling.

TensorBoard keeps a reservoir sample of a long curve, so early steps and spikes
can vanish. Here a curve of T points is cut into ``buckets`` equal ranges of
steps and each bucket keeps the points holding its minimum and its maximum: at
one bucket per pixel column the drawn envelope is exactly the envelope of the
full curve, every bucket that holds a point is drawn, and nothing is averaged.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.signal import lfilter

from .errors import DashboardError


class Smoothed(NamedTuple):
    """``value`` (T,) float64 the smoothed curve; ``acc`` and ``count``: the EMA state
    after the last point (the biased accumulator and the number of finite points)."""

    value: np.ndarray
    acc: float
    count: int


def ema_smooth(values: np.ndarray, weight: float) -> Smoothed:
    """Exponential moving average with start-up debiasing, as TensorBoard's slider.

    For the finite values ``v_1..v_n`` (in order): ``acc_i = w * acc_{i-1} +
    (1 - w) * v_i`` with ``acc_0 = 0`` and ``smoothed_i = acc_i / (1 - w**i)``.
    Non-finite values pass through unchanged and do not move the average.
    ``weight`` 0 returns the values themselves.

    >>> ema_smooth(np.array([1.0, 3.0]), 0.5).value.tolist()
    [1.0, 2.333333333333333]
    """
    if not 0.0 <= weight < 1.0:
        raise DashboardError(
            f"smoothing weight {weight!r} is out of range: expected 0 <= weight < 1 "
            "(0 = no smoothing, 0.6 is TensorBoard's default)"
        )
    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    finite = np.isfinite(v)
    x = v[finite]
    if x.size == 0:
        return Smoothed(out, 0.0, 0)
    acc = lfilter([1.0 - weight], [1.0, -weight], x)
    debias = 1.0 - weight ** np.arange(1, x.size + 1, dtype=np.float64)
    out[finite] = acc / debias
    return Smoothed(out, float(acc[-1]), int(x.size))


class Downsampled(NamedTuple):
    """Points kept for drawing: ``index`` (K,) into the input, ``step`` (K,) and
    ``value`` (K,); ``buckets`` used (0 when every point in range was kept),
    ``in_range`` points in the step range and ``nonfinite`` of them NaN or inf."""

    index: np.ndarray
    step: np.ndarray
    value: np.ndarray
    buckets: int
    in_range: int
    nonfinite: int


def step_range(steps: np.ndarray, start: float | None, end: float | None) -> tuple[int, int]:
    """Index range ``[i0, i1)`` of the sorted ``steps`` with ``start <= step <= end``."""
    i0 = 0 if start is None else int(np.searchsorted(steps, start, side="left"))
    i1 = len(steps) if end is None else int(np.searchsorted(steps, end, side="right"))
    return i0, max(i0, i1)


def bucket_of(steps: np.ndarray, buckets: int) -> np.ndarray:
    """Bucket ``floor((step - first) * buckets / (last - first + 1))`` of each sorted
    step: ``buckets`` equal step ranges (exact integer arithmetic for integer steps).

    >>> bucket_of(np.array([0, 1, 2, 3, 9]), 2).tolist()
    [0, 0, 0, 0, 1]
    """
    if steps.dtype.kind in "iu":
        span = int(steps[-1]) - int(steps[0]) + 1
        return (steps.astype(np.int64) - int(steps[0])) * buckets // span
    lo, hi = float(steps[0]), float(steps[-1])
    width = (hi - lo + 1.0) / buckets
    return np.minimum(((steps - lo) / width).astype(np.int64), buckets - 1)


def minmax_downsample(
    steps: np.ndarray,
    values: np.ndarray,
    buckets: int,
    start: float | None = None,
    end: float | None = None,
) -> Downsampled:
    """Keep, in each of ``buckets`` equal step ranges, the points of min and max value.

    ``steps`` (T,) ascending, ``values`` (T,). Only steps in ``[start, end]`` are
    considered (both default to the whole curve). When the range holds at most
    ``2 * buckets`` points all of them are kept, non-finite ones included; otherwise
    non-finite values are left out of the min/max and counted in ``nonfinite``.
    The result is in step order; a bucket whose min and max are one point keeps it once.

    >>> d = minmax_downsample(np.arange(8), np.array([0, 5, 1, 2, 9, 3, 4, 4.0]), 2)
    >>> d.step.tolist(), d.value.tolist()
    ([0, 1, 4, 5], [0.0, 5.0, 9.0, 3.0])
    """
    if buckets < 1:
        raise DashboardError(f"buckets {buckets!r} must be at least 1")
    steps = np.asarray(steps)
    values = np.asarray(values, dtype=np.float64)
    i0, i1 = step_range(steps, start, end)
    n = i1 - i0
    s, v = steps[i0:i1], values[i0:i1]
    finite = np.isfinite(v)
    nonfinite = int(n - np.count_nonzero(finite))
    if n <= 2 * buckets:
        index = np.arange(i0, i1)
        return Downsampled(index, steps[index], values[index], 0, n, nonfinite)
    bucket = bucket_of(s, buckets)
    keep = np.flatnonzero(finite)
    if keep.size == 0:
        empty = np.zeros(0, np.int64)
        return Downsampled(empty, steps[empty], values[empty], buckets, n, nonfinite)
    b, x = bucket[keep], v[keep]
    order = keep[np.lexsort((x, b))]  # by bucket, then by value
    ob = bucket[order]
    first = np.flatnonzero(np.r_[True, ob[1:] != ob[:-1]])
    last = np.r_[first[1:] - 1, ob.size - 1]
    index = np.unique(np.concatenate([order[first], order[last]])) + i0
    return Downsampled(index, steps[index], values[index], buckets, n, nonfinite)
