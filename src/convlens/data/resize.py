"""Resizing uint8 image stacks with Pillow."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (N, C, H, W) -> uint8 (N, C, size[0], size[1]), bilinear per channel."""
    n, c, h, w = images.shape
    if (h, w) == tuple(size):
        return images
    out = np.empty((n, c, size[0], size[1]), dtype=np.uint8)
    for i in range(n):
        for k in range(c):
            img = Image.fromarray(images[i, k])
            out[i, k] = np.asarray(img.resize((size[1], size[0]), Image.BILINEAR))
    return out
