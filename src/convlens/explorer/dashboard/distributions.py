"""Weight and gradient distributions over time: percentile bands and ridgelines.

The training log stores, every ``hist_every`` steps, a summary of each parameter
(percentiles at fixed levels and a 64-bin histogram over its own min..max; see
:mod:`convlens.record.histograms`). These functions shape those summaries for
drawing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...record import Histograms
from .errors import DashboardError
from .series import bucket_of


class Bands(NamedTuple):
    """Percentile bands over time: ``step`` (T,), ``levels`` (P,) percent,
    ``percentiles`` (T, P) float32, ``mean`` (T,), ``buckets`` (0: every summary kept)."""

    step: np.ndarray
    levels: np.ndarray
    percentiles: np.ndarray
    mean: np.ndarray
    buckets: int


def percentile_bands(h: Histograms, rows: int = 2000) -> Bands:
    """The stored percentiles of ``h`` over time, at most ``rows`` time points.

    With more than ``rows`` summaries the steps are cut into ``rows`` equal step
    ranges; in each range a level below 50 keeps its minimum, a level above 50
    its maximum and the median its median, so a band is never narrower than any
    summary it stands for. The step of a range is its last summary's step.

    >>> # b = percentile_bands(log.histograms("conv1", "weight")); b.percentiles[:, 4]
    """
    if rows < 1:
        raise DashboardError(f"rows {rows!r} must be at least 1")
    levels = np.asarray(h.levels, np.float32)
    pct = np.asarray(h.percentiles, np.float32)
    if len(h.step) <= rows:
        return Bands(h.step.copy(), levels, pct.copy(), h.mean.astype(np.float32), 0)
    bucket = bucket_of(h.step, rows)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(h.step)]
    out = np.empty((len(starts), len(levels)), np.float32)
    low, high = levels < 50, levels > 50
    with np.errstate(all="ignore"):
        out[:, low] = np.minimum.reduceat(pct[:, low], starts, axis=0)
        out[:, high] = np.maximum.reduceat(pct[:, high], starts, axis=0)
        for j in np.flatnonzero(levels == 50):
            out[:, j] = [np.median(pct[a:b, j]) for a, b in zip(starts, ends, strict=True)]
        mean = np.add.reduceat(h.mean, starts) / (ends - starts)
    return Bands(h.step[ends - 1].copy(), levels, out, mean.astype(np.float32), rows)


def rebin(edges: np.ndarray, counts: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Move a histogram onto other bin edges, spreading each bin's count evenly
    over its width (mass outside ``grid`` is dropped).

    ``edges`` (B + 1,) ascending, ``counts`` (B,), ``grid`` (G + 1,) -> (G,) float64.

    >>> rebin(np.array([0.0, 2.0]), np.array([4]), np.array([0.0, 1.0, 2.0, 3.0])).tolist()
    [2.0, 2.0, 0.0]
    """
    if len(edges) < 2:
        return np.zeros(len(grid) - 1)
    cdf = np.r_[0.0, np.cumsum(counts, dtype=np.float64)]
    return np.diff(np.interp(grid, edges, cdf))


class Ridgeline(NamedTuple):
    """Histograms of several runs on common bins, at common target steps.

    ``edges`` (B + 1,) value bins; ``targets`` (K,) the rows' steps; ``steps``
    (R, K) the step of the summary drawn in each row (-1: the run had none yet);
    ``density`` (R, K, B) float32, the fraction of the parameter's values in each
    bin (each drawn row sums to 1 minus what fell outside the edges)."""

    edges: np.ndarray
    targets: np.ndarray
    steps: np.ndarray
    density: np.ndarray


def ridgeline(
    runs: list[Histograms],
    rows: int = 12,
    bins: int = 64,
    lo: float | None = None,
    hi: float | None = None,
) -> Ridgeline:
    """Ridgeline rows of one parameter for one or more runs, overlayable.

    The ``rows`` target steps are logged steps (of any run) spread evenly by
    index, first and last included; each run shows at each target its latest
    summary at or before it. The bins span ``lo..hi`` (default: the min and max of all those
    summaries) in ``bins`` equal steps.

    >>> # r = ridgeline([log_a.histograms("conv2"), log_b.histograms("conv2")])
    """
    if not 1 <= rows <= 200:
        raise DashboardError(f"rows {rows!r} is out of range: expected 1..200")
    if not 2 <= bins <= 512:
        raise DashboardError(f"bins {bins!r} is out of range: expected 2..512")
    present = [h.step for h in runs if len(h.step)]
    if not present:
        edges = np.linspace(-1.0, 1.0, bins + 1)
        shape = (len(runs), 0)
        return Ridgeline(edges, np.zeros(0), np.full(shape, -1), np.zeros((*shape, bins), "f4"))
    logged = np.unique(np.concatenate(present))
    targets = logged[np.unique(np.round(np.linspace(0, len(logged) - 1, rows)).astype(int))]
    picks = []
    for h in runs:
        at = np.searchsorted(h.step, targets, side="right") - 1
        picks.append(np.where(at >= 0, at, -1))
    chosen = [(h, i) for h, at in zip(runs, picks, strict=True) for i in at if i >= 0]
    finite = [(h.min[i], h.max[i]) for h, i in chosen if np.isfinite(h.min[i])]
    a = lo if lo is not None else (min(m for m, _ in finite) if finite else -1.0)
    b = hi if hi is not None else (max(m for _, m in finite) if finite else 1.0)
    if not (np.isfinite(a) and np.isfinite(b) and b > a):
        if lo is not None or hi is not None:
            raise DashboardError(f"value range lo={a!r}, hi={b!r} is empty: expected lo < hi")
        a, b = a - 0.5, b + 0.5
    edges = np.linspace(a, b, bins + 1)
    density = np.zeros((len(runs), len(targets), bins), np.float32)
    steps = np.full((len(runs), len(targets)), -1, np.int64)
    for r, (h, at) in enumerate(zip(runs, picks, strict=True)):
        for k, i in enumerate(at):
            if i < 0:
                continue
            steps[r, k] = h.step[i]
            total = float(h.counts[i].sum())
            if total > 0:
                density[r, k] = rebin(h.edges[i], h.counts[i], edges) / total
    return Ridgeline(edges, targets, steps, density)
