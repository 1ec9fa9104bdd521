"""Resizing uint8 image stacks with Pillow."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ..errors import DataError


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (N, C, H, W) -> uint8 (N, C, size[0], size[1]), bilinear per channel."""
    n, c, h, w = images.shape
    if (h, w) == tuple(size):
        return images
    check_memory(n * c * size[0] * size[1], f"{n:,} images of {c} x {size[0]} x {size[1]}")
    out = np.empty((n, c, size[0], size[1]), dtype=np.uint8)
    for i in range(n):
        for k in range(c):
            img = Image.fromarray(images[i, k])
            out[i, k] = np.asarray(img.resize((size[1], size[0]), Image.BILINEAR))
    return out


def available_memory() -> int:
    """Bytes of memory available now: Linux's ``MemAvailable`` (free memory plus the page
    cache and buffers the kernel can give back; not ``MemFree``, which a full page cache
    keeps small), else the free pages, else 8 GiB where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def check_memory(need: int, what: str) -> None:
    """Refuse (:class:`DataError`), before allocating, ``need`` bytes for ``what`` when they
    are more than half the memory free now."""
    free = available_memory()
    if need > free // 2:
        raise DataError(
            f"{what} need {need / 2**30:,.1f} GiB, more than half the {free / 2**30:,.1f} GiB "
            "of memory available; give a smaller input size or fewer images"
        )
