"""Grids and montages of images, saved as PNG."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from .._atomic import write_bytes
from .._limits import MAX_PIXELS
from ..errors import SpecError


def as_rgb(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W), (N, H, W, 1) or (N, H, W, 3) -> uint8 (N, H, W, 3)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an (H, W, ...) image by an integer factor.

    Refuses (:class:`~convlens.errors.SpecError`) a result above :data:`MAX_PIXELS`."""
    if factor <= 1:
        return image
    h, w = image.shape[:2]
    if h * w * factor * factor > MAX_PIXELS:
        raise SpecError(
            f"scale {factor} would enlarge a {h} x {w} image to {h * factor} x {w * factor} "
            f"pixels, above the limit of {MAX_PIXELS:,}; expected a scale of at most "
            f"{max(1, math.isqrt(MAX_PIXELS // max(1, h * w)))}"
        )
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def grid(
    images: np.ndarray, ncols: int | None = None, pad: int = 2, pad_value: int = 255
) -> np.ndarray:
    """Tile uint8 images (N, H, W[, C]) into one (H', W', 3) uint8 picture, row by row.

    >>> grid(np.zeros((4, 8, 8), np.uint8), ncols=2, pad=1).shape
    (19, 19, 3)
    """
    images = as_rgb(images)
    n, h, w, _ = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), pad_value, np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = images[i]
    return out


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of an (H, W) or (H, W, 3|4) uint8 image."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Save an (H, W) or (H, W, 3|4) uint8 image as PNG, atomically."""
    path = Path(path)
    write_bytes(path, png_bytes(image))
    return path
