"""Pictures of attribution maps: one map to colours, and grids of methods x images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..errors import ConvlensError
from .colormap import diverging, heatmap, overlay
from .grid import as_rgb, grid, upscale
from .reduce import _as_numpy, pca_rgb, reduce_channels

STYLES = ("heat", "diverging", "overlay", "grey", "pca")


def attribution_image(
    maps: object, images: np.ndarray | None = None, style: str = "heat", reduce: str = "norm"
) -> np.ndarray:
    """(N, C, H, W) attribution maps -> uint8 (N, H, W, 3).

    - ``style="heat"``: channel reduction ``reduce`` (norm/absmax) as a heatmap;
    - ``"grey"``: the reduction as grey levels; ``"pca"``: first three principal
      components as RGB (for many channels);
    - ``"diverging"``: the channel sum, blue (negative) to red (positive);
    - ``"overlay"``: the heatmap blended over ``images`` (uint8 (N, H, W[, C])).

    >>> attribution_image(np.ones((1, 3, 4, 4)), style="grey").shape
    (1, 4, 4, 3)
    """
    if style not in STYLES:
        raise ConvlensError(f"unknown style {style!r}: expected one of {', '.join(STYLES)}")
    a = _as_numpy(maps)
    if style == "pca":
        return pca_rgb(a)
    if style == "diverging":
        return diverging(a.sum(1))
    values = reduce_channels(a, reduce)
    if style == "grey":
        from .reduce import to_grey

        return as_rgb(to_grey(values))
    heat = heatmap(values)
    if style == "overlay":
        if images is None:
            raise ConvlensError("style 'overlay' needs the input images")
        return overlay(images, heat)
    return heat


def _label(tile: np.ndarray, text: str, height: int = 12) -> np.ndarray:
    band = Image.new("RGB", (tile.shape[1], height), (255, 255, 255))
    ImageDraw.Draw(band).text((1, 0), text[: max(1, tile.shape[1] // 6)], fill=(0, 0, 0))
    return np.concatenate([np.asarray(band), tile], 0)


def method_grid(
    images: np.ndarray,
    pictures: Mapping[str, np.ndarray],
    scale: int = 1,
    labels: bool = True,
    pad: int = 2,
) -> np.ndarray:
    """One row per image: the image, then one picture per method.

    ``images`` uint8 (N, H, W[, C]); ``pictures`` method name -> uint8 (N, H, W, 3)
    (from :func:`attribution_image`). Returns one uint8 (H', W', 3) picture with the
    method names above the first row when ``labels``.

    >>> method_grid(np.zeros((2, 8, 8), np.uint8), {"a": np.zeros((2, 8, 8, 3), np.uint8)},
    ...             labels=False, pad=1).shape
    (19, 19, 3)
    """
    imgs = as_rgb(np.asarray(images))
    n = len(imgs)
    columns: Sequence[np.ndarray] = [imgs, *(as_rgb(p) for p in pictures.values())]
    for name, p in pictures.items():
        if p.shape[:3] != imgs.shape[:3]:
            raise ConvlensError(
                f"picture {name!r} has shape {p.shape}, expected {imgs.shape[:3]} + (3,)"
            )
    tiles = [upscale(col[i], scale) for i in range(n) for col in columns]
    if labels:
        names = ["input", *pictures]
        tiles = [
            _label(t, names[k % len(names)]) if k < len(names) else _pad_top(t)
            for k, t in enumerate(tiles)
        ]
    return grid(np.stack(tiles), ncols=len(columns), pad=pad)


def _pad_top(tile: np.ndarray, height: int = 12) -> np.ndarray:
    return np.concatenate([np.full((height, *tile.shape[1:]), 255, np.uint8), tile], 0)
