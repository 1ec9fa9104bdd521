"""Top-k (image, position) pairs per channel under one total order, merged exactly.

The order: value descending, then dataset index, then position (row, col)
ascending. Empty slots hold -inf and the largest int64 index, so they rank last.
Whatever order batches, entrants and shards come in, the k best under this order
are the same, which keeps merges exact.

Example::

    v, i, p = select_topk(values, index, position, k)      # (C, M) candidates -> (C, k)
    fold_peaks(values, index, position, peak, indices, positions_of)  # a batch, in place
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

NO_INDEX = np.iinfo(np.int64).max

__all__ = ["NO_INDEX", "candidates_all", "fold_candidates", "fold_peaks", "select_topk"]


def select_topk(
    values: np.ndarray, index: np.ndarray, position: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the ``k`` best candidates per row under the total order.

    values (C, M) float32, index (C, M) int64, position (C, M, 2) int64 -> the same
    with M = k. Rows whose k best values are set apart from the rest (no tie across
    the k-th place) sort only those k; the other rows are sorted whole.
    """
    c, m = values.shape
    if m < k:
        pad = k - m
        values = np.concatenate([values, np.full((c, pad), -np.inf, np.float32)], 1)
        index = np.concatenate([index, np.full((c, pad), NO_INDEX, np.int64)], 1)
        position = np.concatenate([position, np.zeros((c, pad, 2), np.int64)], 1)
        m = k
    if m > k and c:
        kth = -np.partition(-values, k - 1, axis=1)[:, k - 1 : k]
        keep = values >= kth
        clear = keep.sum(1) == k  # exactly the k best are at or above the k-th value
        if clear.any():
            out_v = np.empty((c, k), values.dtype)
            out_i = np.empty((c, k), np.int64)
            out_p = np.empty((c, k, 2), np.int64)
            rows = np.nonzero(clear)[0]
            cols = np.nonzero(keep[rows])[1].reshape(len(rows), k)
            r = rows[:, None]
            parts = _sorted_rows(values[r, cols], index[r, cols], position[r, cols], k)
            out_v[rows], out_i[rows], out_p[rows] = parts
            rest = np.nonzero(~clear)[0]
            if len(rest):
                parts = _sorted_rows(values[rest], index[rest], position[rest], k)
                out_v[rest], out_i[rest], out_p[rest] = parts
            return out_v, out_i, out_p
    return _sorted_rows(values, index, position, k)


def _sorted_rows(
    values: np.ndarray, index: np.ndarray, position: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort each row by (value desc, index, row, col) and keep its first ``k``."""
    keys = (position[..., 1], position[..., 0], index, -values.astype(np.float64))
    order = np.lexsort(keys, axis=-1)[:, :k]
    rows = np.arange(len(values))[:, None]
    return values[rows, order], index[rows, order], position[rows, order]


def fold_candidates(
    held: tuple[np.ndarray, np.ndarray, np.ndarray],
    channel: np.ndarray,
    values: np.ndarray,
    index: np.ndarray,
    position: np.ndarray,
) -> None:
    """Merge candidates (one per entry of ``channel``, with its value, dataset index and
    (row, col) position) into the top-k arrays ``held`` = (values (C, k), index, position),
    in place."""
    if not len(channel):
        return
    top_v, top_i, top_p = held
    k = top_v.shape[1]
    order = np.argsort(channel, kind="stable")
    channel = channel[order]
    chans, starts, counts = np.unique(channel, return_index=True, return_counts=True)
    width = int(counts.max())
    slot = np.arange(len(channel)) - np.repeat(starts, counts)
    row = np.repeat(np.arange(len(chans)), counts)
    cand_v = np.full((len(chans), width), -np.inf, np.float32)
    cand_i = np.full((len(chans), width), NO_INDEX, np.int64)
    cand_p = np.zeros((len(chans), width, 2), np.int64)
    cand_v[row, slot] = values[order]
    cand_i[row, slot] = index[order]
    cand_p[row, slot] = position[order]
    merged = select_topk(
        np.concatenate([top_v[chans], cand_v], 1),
        np.concatenate([top_i[chans], cand_i], 1),
        np.concatenate([top_p[chans], cand_p], 1),
        k,
    )
    top_v[chans], top_i[chans], top_p[chans] = merged


def fold_peaks(
    held: tuple[np.ndarray, np.ndarray, np.ndarray],
    peak: np.ndarray,
    indices: np.ndarray,
    positions_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> None:
    """Each image's peak per channel into the top-k ``held``, in place.

    ``peak`` (B, C) float32 each image's maximum per channel; ``indices`` (B,) dataset
    indices; ``positions_of(image, channel)`` gives the (E, 2) position of the first
    maximum of the (image, channel) pairs that can still enter, the only ones looked up.
    """
    top_v, top_i, _ = held
    floor = top_v[:, -1]
    floor = np.where(np.isnan(floor), -np.inf, floor)
    can = (peak > floor) | ((peak == floor) & (indices[:, None] <= top_i[:, -1]))
    image, channel = np.nonzero(can)
    if not len(image):
        return
    fold_candidates(
        held, channel, peak[image, channel], indices[image], positions_of(image, channel)
    )


def candidates_all(
    flat: torch.Tensor, indices: np.ndarray, width: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (image, position) of a batch as a candidate, pruned to ties of each channel's
    k-th best in the batch: flat (B, C, P) -> channel, value, index, position (E,), (E, 2)."""
    b, c, p = flat.shape
    per_channel = flat.permute(1, 0, 2).reshape(c, b * p)  # (C, B*P), image-major
    kth = per_channel.topk(min(k, b * p), dim=1).values[:, -1:]
    chan_t, where_t = torch.nonzero(per_channel >= kth, as_tuple=True)
    values = per_channel[chan_t, where_t].float().cpu().numpy()
    channel, where = chan_t.cpu().numpy(), where_t.cpu().numpy()
    flat_pos = where % p
    position = np.stack([flat_pos // width, flat_pos % width], 1).astype(np.int64)
    return channel, values, np.asarray(indices)[where // p], position
