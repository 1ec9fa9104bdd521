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


LINE = 12  # pixels per line of text in label bands


def wrap(text: str, width: int) -> list[str]:
    """``text`` cut into lines of at most ``width`` pixels of PIL's default font
    (6 px per character), breaking at spaces where it can.

    >>> wrap("target 3 predicted 5", 60)
    ['target 3', 'predicted', '5']
    """
    per = max(1, width // 6)
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            while len(word) > per:  # a word longer than a line: hard break
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:per])
                word = word[per:]
            candidate = f"{line} {word}" if line else word
            if len(candidate) <= per:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def text_band(width: int, lines: Sequence[str], height: int | None = None) -> np.ndarray:
    """A white (height, width, 3) uint8 band with ``lines`` of black text, top-left."""
    height = height or LINE * max(1, len(lines))
    band = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    for k, line in enumerate(lines):
        draw.text((1, k * LINE), line, fill=(0, 0, 0))
    return np.asarray(band)


def method_grid(
    images: np.ndarray,
    pictures: Mapping[str, np.ndarray],
    scale: int = 1,
    labels: bool = True,
    pad: int = 2,
    row_labels: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> np.ndarray:
    """One row per image: the image, then one picture per method.

    ``images`` uint8 (N, H, W[, C]); ``pictures`` method name -> uint8 (N, H, W, 3)
    (from :func:`attribution_image`). Returns one uint8 (H', W', 3) picture. With
    ``labels`` each column is headed by its method's name (or ``headers[name]``,
    wrapped over lines as needed) and, when ``row_labels`` gives one text per image,
    each row is preceded by a band with its text (target and prediction, say).

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
    if row_labels is not None and len(row_labels) != n:
        raise ConvlensError(
            f"row_labels has {len(row_labels)} entries for {n} images: give one per image"
        )
    rows = [
        grid(np.stack([upscale(col[i], scale) for col in columns]), ncols=len(columns), pad=pad)
        for i in range(n)
    ]
    if not labels:
        return _stack(rows, pad)
    width = rows[0].shape[1]
    tile = columns[0].shape[2] * scale
    names = {"input": "input", **{k: (headers or {}).get(k, k) for k in pictures}}
    heads = [wrap(text, tile) for text in names.values()]
    tall = LINE * max(len(h) for h in heads)
    header = np.full((tall, width, 3), 255, np.uint8)
    for k, lines in enumerate(heads):
        x = pad + k * (tile + pad)
        header[:, x : x + tile] = text_band(tile, lines, tall)
    parts = [header]
    for i, row in enumerate(rows):
        if row_labels is not None:
            parts.append(text_band(width - 2 * pad, wrap(row_labels[i], width - 2 * pad)))
            parts[-1] = np.pad(parts[-1], ((0, 0), (pad, pad), (0, 0)), constant_values=255)
        parts.append(row[pad:] if i else row)
    return np.concatenate(parts, 0)


def _stack(rows: Sequence[np.ndarray], pad: int) -> np.ndarray:
    return np.concatenate([rows[0], *(r[pad:] for r in rows[1:])], 0)
