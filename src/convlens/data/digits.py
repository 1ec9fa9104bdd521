"""The embedded default dataset: scikit-learn's bundled handwritten digits.

1,797 real 8x8 scans with values 0..16, shipped inside scikit-learn, so no network
is needed. They are scaled to 0..255 and placed like MNIST digits: resized to 20/28
of the target size and centred with a margin, so that networks built for MNIST
take them unchanged.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .dataset import ImageDataset
from .resize import check_memory

NAME = "digits"


def load_digits(size: tuple[int, int] = (28, 28)) -> ImageDataset:
    """The digits as (1797, 1, H, W) uint8 with labels 0..9."""
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    raw = np.clip(bunch.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    h, w = size
    check_memory(len(raw) * h * w, f"{len(raw):,} digits of {h} x {w}")
    inner = (max(1, round(h * 20 / 28)), max(1, round(w * 20 / 28)))
    top, left = (h - inner[0]) // 2, (w - inner[1]) // 2
    out = np.zeros((len(raw), 1, h, w), dtype=np.uint8)
    for i, img in enumerate(raw):
        big = Image.fromarray(img).resize((inner[1], inner[0]), Image.BILINEAR)
        out[i, 0, top : top + inner[0], left : left + inner[1]] = np.asarray(big)
    return ImageDataset(out, bunch.target, [str(d) for d in range(10)], source=NAME)
