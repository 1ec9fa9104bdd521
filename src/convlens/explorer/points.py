"""Point clouds for the embedding view: a layer's embeddings laid out for the GPU.

Every feature-map position of every image is one point (seed 004, section 3.2):
a layer of shape (H, W, C) over N images gives N*H*W points in C dimensions.
Point ``p`` belongs to image row ``p // (H*W)`` at position ``p % (H*W)``
(row-major over (H, W)). The arrays are dimension-major, (D, N*H*W), so one
dimension is one contiguous run that the browser can fetch from a texture.
"""

from __future__ import annotations

import numpy as np

ROWS_PER_CHUNK = 1 << 20
AUTO_U8_ABOVE = 16_000_000  # values; bigger layers travel quantised to 8 bits


def value_range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension (min, max) of ``values`` (..., D), float32, ignoring non-finite values."""
    flat = values.reshape(-1, values.shape[-1])
    lo = np.full(flat.shape[1], np.inf, np.float32)
    hi = np.full(flat.shape[1], -np.inf, np.float32)
    for start in range(0, len(flat), ROWS_PER_CHUNK):
        chunk = flat[start : start + ROWS_PER_CHUNK].astype(np.float32)
        finite = np.isfinite(chunk)
        lo = np.minimum(lo, np.where(finite, chunk, np.inf).min(0))
        hi = np.maximum(hi, np.where(finite, chunk, -np.inf).max(0))
    empty = ~np.isfinite(lo)
    lo[empty], hi[empty] = 0.0, 0.0
    return lo, hi


def dimension_major(values: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, [H, W,] D) values -> (D, N*H*W) array in ``dtype``, with per-dimension min and max.

    ``dtype="u8"`` quantises each dimension to 0..255 over its own [min, max]
    (decode: ``min + q / 255 * (max - min)``); ``"f16"`` keeps float16 values.

    >>> q, lo, hi = dimension_major(np.array([[0.0, 1.0], [2.0, 3.0]]), "u8")
    >>> q.tolist(), lo.tolist(), hi.tolist()
    ([[0, 255], [0, 255]], [0.0, 1.0], [2.0, 3.0])
    """
    lo, hi = value_range(values)
    flat = values.reshape(-1, values.shape[-1])
    n, d = flat.shape
    out = np.empty((d, n), np.uint8 if dtype == "u8" else np.float16)
    span = np.where(hi > lo, hi - lo, 1.0).astype(np.float32)
    for start in range(0, n, ROWS_PER_CHUNK):
        chunk = flat[start : start + ROWS_PER_CHUNK].astype(np.float32)
        chunk = np.nan_to_num(chunk, nan=0.0, posinf=0.0, neginf=0.0)
        if dtype == "u8":
            q = np.rint(np.clip((chunk - lo) / span, 0.0, 1.0) * 255.0).astype(np.uint8)
            out[:, start : start + len(chunk)] = q.T
        else:
            out[:, start : start + len(chunk)] = chunk.T.astype(np.float16)
    return out, lo, hi


def choose_dtype(requested: str, n_values: int) -> str:
    """``"auto"`` -> ``"u8"`` for layers over :data:`AUTO_U8_ABOVE` values, else ``"f16"``."""
    if requested != "auto":
        return requested
    return "u8" if n_values > AUTO_U8_ABOVE else "f16"
