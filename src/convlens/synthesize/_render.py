"""Private helpers that turn synthesis results into files: grids, sidecars, frames."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_bytes, write_json
from ..render import grid, save_png, upscale

__all__ = ["display", "save_frames", "save_grid", "save_sidecar"]


def display(pixels: np.ndarray) -> np.ndarray:
    """uint8 (K, C, H, W) -> (K, H, W) for one channel or (K, H, W, 3) otherwise.

    Two channels get a zero blue channel; more than three show the first three.
    """
    pixels = np.asarray(pixels)
    c = pixels.shape[1]
    if c == 1:
        return pixels[:, 0]
    if c == 2:
        pixels = np.concatenate([pixels, np.zeros_like(pixels[:, :1])], axis=1)
    return np.ascontiguousarray(np.transpose(pixels[:, :3], (0, 2, 3, 1)))


def save_grid(
    path: str | Path, pixels: np.ndarray, ncols: int | None = None, min_side: int = 64
) -> Path:
    """Save uint8 images (K, C, H, W) as one PNG grid, enlarged so a side is >= ``min_side``."""
    images = display(pixels)
    factor = max(1, math.ceil(min_side / max(1, min(images.shape[1:3]))))
    if factor > 1:
        images = np.stack([upscale(im, factor) for im in images])
    return save_png(path, grid(images, ncols=ncols))


def save_sidecar(png: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as JSON beside ``png`` (same name, ``.json``)."""
    path = Path(png).with_suffix(".json")
    write_json(path, record)
    return path


def save_frames(
    folder: str | Path, frames: Sequence[np.ndarray], gif: str | Path, fps: float = 8.0
) -> list[Path]:
    """Save frames (H, W[, 3]) uint8 as ``folder/frame_0000.png`` ... and an animated GIF."""
    import imageio.v3 as iio

    folder = Path(folder)
    paths = [save_png(folder / f"frame_{i:04d}.png", f) for i, f in enumerate(frames)]
    buf = io.BytesIO()
    iio.imwrite(buf, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)
    write_bytes(gif, buf.getvalue())
    return paths
