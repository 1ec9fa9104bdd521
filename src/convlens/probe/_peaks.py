"""Per-image peaks and the channel range of a small layer, in one compiled loop.

For a small output (pooled maps, fully connected layers) three torch reductions
cost more in calls and thread wake-ups than in arithmetic; one compiled pass on
the calling thread does all three. Large maps stay with torch, whose reductions
are vectorised and use every core. NaN propagates as in ``torch.amax``: a NaN
makes the peak, minimum and maximum it reaches NaN (which the probe refuses).

Example::

    peak, low, high = peaks_and_range(activation.reshape(b, c, -1).numpy())
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["SMALL_LAYER", "peaks_and_range"]

SMALL_LAYER = 1 << 18  # values per batch up to which the compiled loop is the faster


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _fill(x: np.ndarray, peak: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    rows, channels, size = x.shape
    for c in range(channels):
        low[c] = np.inf
        high[c] = -np.inf
    for b in range(rows):
        for c in range(channels):
            top = x[b, c, 0]
            bottom = top
            for p in range(1, size):
                v = x[b, c, p]
                if v > top or v != v:
                    top = v
                if v < bottom or v != v:
                    bottom = v
            peak[b, c] = top
            if bottom < low[c] or bottom != bottom:
                low[c] = bottom
            if top > high[c] or top != top:
                high[c] = top


def peaks_and_range(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x`` (B, C, P) float32 -> peak (B, C) the maximum over P, and low, high (C,)
    the minimum and maximum over B and P."""
    rows, channels, size = x.shape
    if rows == 0 or size == 0:
        raise ValueError(f"no values to reduce in an array of shape {x.shape}")
    peak = np.empty((rows, channels), x.dtype)
    low = np.empty(channels, x.dtype)
    high = np.empty(channels, x.dtype)
    _fill(x, peak, low, high)
    return peak, low, high
