"""Per-image peaks into each channel's top-k, by compiled insertion.

A channel's top-k is kept sorted under a total order: value descending, then
dataset index, then position (row, col) ascending. Empty slots hold -inf and the
largest int64 index, so they rank last. Folding a batch in takes two compiled
loops around one step on the activation's own device:

1. :func:`entrants`: the (channel, image) pairs whose peak ranks before the
   channel's current k-th entry (a pair tying on value and index is kept: its
   position decides);
2. the caller finds each entrant's position, the first maximum of that image's
   feature map;
3. :func:`insert`: each entrant is inserted where it belongs; one that a pair
   inserted before it in the same batch has pushed past the k-th place drops out.

The result is the k best of the old entries and the batch's peaks under that order,
whatever order the batches and entrants come in, so merges stay exact.

Example::

    channel, image = entrants(peak, indices, values, index)
    at = first_maximum_positions(...)            # (E,) flat positions
    insert(values, index, position, peak, indices, channel, image, at, width)
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["entrants", "insert"]


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _entrants(
    peak: np.ndarray, indices: np.ndarray, values: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    rows, channels = peak.shape
    last = values.shape[1] - 1
    channel = np.empty(rows * channels, np.int64)
    image = np.empty(rows * channels, np.int64)
    n = 0
    for c in range(channels):
        floor = values[c, last]
        if floor != floor:  # an unranked NaN slot counts as empty
            floor = -np.inf
        floor_index = index[c, last]
        for b in range(rows):
            v = peak[b, c]
            if v > floor or (v == floor and indices[b] <= floor_index):
                channel[n] = c
                image[n] = b
                n += 1
    return channel, image, n


def entrants(
    peak: np.ndarray, indices: np.ndarray, values: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The (channel, image) pairs of a batch that may enter the top-k, by channel.

    ``peak`` (B, C) float32 each image's maximum per channel; ``indices`` (B,) int64
    dataset indices; ``values`` and ``index`` (C, k) the current top-k.
    """
    channel, image, n = _entrants(peak, indices, values, index)
    return channel[:n], image[:n]


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _before(v1, i1, r1, c1, v2, i2, r2, c2) -> bool:
    """Whether entry 1 ranks strictly before entry 2."""
    if v1 != v2:
        return v1 > v2 or v2 != v2
    if i1 != i2:
        return i1 < i2
    if r1 != r2:
        return r1 < r2
    return c1 < c2


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _insert(values, index, position, peak, indices, channel, image, at, width) -> None:
    last = values.shape[1] - 1
    for e in range(len(channel)):
        c, b = channel[e], image[e]
        v, i = peak[b, c], indices[b]
        row, col = at[e] // width, at[e] % width
        held = position[c, last]
        if not _before(v, i, row, col, values[c, last], index[c, last], held[0], held[1]):
            continue
        s = last
        while s > 0:
            held = position[c, s - 1]
            if not _before(v, i, row, col, values[c, s - 1], index[c, s - 1], held[0], held[1]):
                break
            values[c, s] = values[c, s - 1]
            index[c, s] = index[c, s - 1]
            position[c, s, 0] = position[c, s - 1, 0]
            position[c, s, 1] = position[c, s - 1, 1]
            s -= 1
        values[c, s] = v
        index[c, s] = i
        position[c, s, 0] = row
        position[c, s, 1] = col


def insert(
    values: np.ndarray,
    index: np.ndarray,
    position: np.ndarray,
    peak: np.ndarray,
    indices: np.ndarray,
    channel: np.ndarray,
    image: np.ndarray,
    at: np.ndarray,
    width: int,
) -> None:
    """Insert entrants into the top-k (``values``, ``index``, ``position``), in place.

    ``channel``, ``image`` from :func:`entrants`; ``at`` (E,) each one's flat
    position in its feature map, ``row * width + col`` (0 for fc layers).
    """
    _insert(values, index, position, peak, indices, channel, image, at, width)
