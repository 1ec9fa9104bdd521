"""Private helpers that turn synthesis results into files: labelled grids, sidecars, frames.

Every figure names what it shows: a title band (job, layer, parameterisation)
above the tiles and a caption under each tile (the unit, class, layer or
sample it shows); every PNG gets a JSON sidecar of the same name.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_bytes, write_json
from ..render import grid, save_png, upscale

__all__ = [
    "display",
    "labelled_grid",
    "save_figure",
    "save_frames",
    "save_grid",
    "save_sidecar",
    "with_alpha",
]

CAPTION = 14  # pixels of the caption band under each tile and of the title band
PAD = 2


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


def _text_band(text: str, width: int) -> np.ndarray:
    """A white band (CAPTION, width, 3) with ``text`` in black, left aligned."""
    from PIL import Image, ImageDraw

    band = Image.new("RGB", (width, CAPTION), (255, 255, 255))
    ImageDraw.Draw(band).text((2, 1), text, fill=(0, 0, 0))
    return np.asarray(band)


def _text_width(text: str) -> int:
    from PIL import ImageFont

    return int(ImageFont.load_default().getbbox(text)[2]) + 4


def labelled_grid(
    pixels: np.ndarray,
    captions: Sequence[str],
    title: str,
    ncols: int | None = None,
    min_side: int = 64,
) -> np.ndarray:
    """uint8 (K, C, H, W) -> one picture (H', W', 3): ``title`` above, ``captions[k]`` under tile k.

    Tiles are enlarged (nearest neighbour) so a side is at least ``min_side``
    and widened with white so their caption fits.

    >>> labelled_grid(np.zeros((2, 1, 8, 8), np.uint8), ["a", "b"], "t", min_side=8).shape[2]
    3
    """
    images = display(pixels)
    if len(captions) != len(images):
        raise ValueError(f"{len(captions)} captions for {len(images)} images")
    factor = max(1, math.ceil(min_side / max(1, min(images.shape[1:3]))))
    if factor > 1:
        images = np.stack([upscale(im, factor) for im in images])
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    _, h, w, _ = images.shape
    width = max(w, *(_text_width(c) for c in captions))
    tiles = []
    for im, caption in zip(images, captions, strict=True):
        tile = np.full((h + CAPTION, width, 3), 255, np.uint8)
        x0 = (width - w) // 2
        tile[:h, x0 : x0 + w] = im
        tile[h:] = _text_band(caption, width)
        tiles.append(tile)
    body = grid(np.stack(tiles), ncols=ncols, pad=PAD)
    full = max(body.shape[1], _text_width(title) + PAD)
    out = np.full((CAPTION + body.shape[0], full, 3), 255, np.uint8)
    out[:CAPTION] = _text_band(title, full)
    out[CAPTION:, : body.shape[1]] = body
    return out


def with_alpha(pixels: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 (K, C, H, W) images shown over white with opacity ``alpha`` (K, H, W) in [0, 1]."""
    a = np.clip(np.asarray(alpha, np.float64), 0, 1)[:, None]
    mixed = np.asarray(pixels, np.float64) * a + 255.0 * (1 - a)
    return np.round(mixed).astype(np.uint8)


def save_figure(path: str | Path, picture: np.ndarray, record: dict[str, Any]) -> tuple[Path, Path]:
    """Save ``picture`` as PNG and ``record`` as its JSON sidecar; return both paths."""
    png = save_png(path, picture)
    return png, save_sidecar(png, record)


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
