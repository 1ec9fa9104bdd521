"""Heatmaps of unsigned maps, diverging maps of signed ones, overlays on the input."""

from __future__ import annotations

import numpy as np

# anchor colours (position, r, g, b) of two colour maps, interpolated linearly
_HEAT = np.array(
    [
        [0.00, 0, 0, 4],
        [0.25, 87, 16, 110],
        [0.50, 188, 55, 84],
        [0.75, 249, 142, 9],
        [1.00, 252, 255, 164],
    ],
    dtype=np.float64,
)
_DIVERGING = np.array(
    [
        [0.00, 5, 48, 97],
        [0.25, 67, 147, 195],
        [0.50, 247, 247, 247],
        [0.75, 214, 96, 77],
        [1.00, 103, 0, 31],
    ],
    dtype=np.float64,
)


def _lut(anchors: np.ndarray, size: int = 256) -> np.ndarray:
    t = np.linspace(0, 1, size)
    return np.stack([np.interp(t, anchors[:, 0], anchors[:, k]) for k in (1, 2, 3)], -1).round()


HEAT_LUT = _lut(_HEAT).astype(np.uint8)
DIVERGING_LUT = _lut(_DIVERGING, 255).astype(np.uint8)  # odd: 0 falls on white


def _per_image_max(values: np.ndarray) -> np.ndarray:
    m = np.abs(values).reshape(len(values), -1).max(1)
    return np.where(m > 0, m, 1.0).reshape(-1, *([1] * (values.ndim - 1)))


def heatmap(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Unsigned maps (N, H, W) -> uint8 (N, H, W, 3); 0 dark, each map's max bright.

    Negative values are clipped to 0. ``vmax`` fixes the top of the scale for all maps.

    >>> heatmap(np.array([[[0.0, 1.0]]]))[0, 0].tolist()
    [[0, 0, 4], [252, 255, 164]]
    """
    v = np.asarray(values, dtype=np.float64)
    top = _per_image_max(v) if vmax is None else max(float(vmax), 1e-30)
    idx = np.clip(v / top, 0, 1) * 255
    return HEAT_LUT[idx.round().astype(np.int64)]


def diverging(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Signed maps (N, H, W) -> uint8 (N, H, W, 3): blue < 0, white = 0, red > 0.

    Symmetric around zero, scaled per map by its largest absolute value (or ``vmax``).

    >>> diverging(np.array([[[-1.0, 0.0, 1.0]]]))[0, 0].tolist()
    [[5, 48, 97], [247, 247, 247], [103, 0, 31]]
    """
    v = np.asarray(values, dtype=np.float64)
    top = _per_image_max(v) if vmax is None else max(float(vmax), 1e-30)
    idx = (np.clip(v / top, -1, 1) + 1) / 2 * 254
    return DIVERGING_LUT[idx.round().astype(np.int64)]


def overlay(images: np.ndarray, colours: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend uint8 colour maps (N, H, W, 3) over uint8 images (N, H, W[, 1|3]).

    The images are shown in grey so the colours read clearly; ``alpha`` is the
    weight of the colours.

    >>> overlay(np.zeros((1, 1, 1), np.uint8), np.full((1, 1, 1, 3), 200, np.uint8))[0, 0, 0]
    array([100, 100, 100], dtype=uint8)
    """
    img = np.asarray(images, dtype=np.float64)
    if img.ndim == 4 and img.shape[-1] == 3:
        img = img @ np.array([0.299, 0.587, 0.114])
    elif img.ndim == 4:
        img = img[..., 0]
    grey = np.repeat(img[..., None], 3, -1)
    out = (1 - alpha) * grey + alpha * np.asarray(colours, dtype=np.float64)
    return np.clip(out.round(), 0, 255).astype(np.uint8)
