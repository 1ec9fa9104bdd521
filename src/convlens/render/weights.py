"""Pictures of weight tensors: a 2-D layout of any parameter, and its captioned heatmap.

:func:`weight_image` lays one parameter tensor out as a 2-D float picture:

- a convolution weight ``(O, I, kh, kw)``: one row of ``I`` kernels per output
  channel, or, for ``I == 1``, the ``O`` kernels in a near-square grid; a
  one-pixel NaN gap separates the kernels;
- a matrix ``(out, in)``: as it is;
- a vector ``(n,)``: wrapped into rows of ``ceil(sqrt(n))`` (NaN padding);
- anything else: ``(shape[0], -1)``.

:func:`block_mean` shrinks a picture whose side is over ``side`` pixels by
averaging ``f x f`` blocks. :func:`weight_figure` colours a picture (blue < 0 <
red on a fixed scale, gaps grey), enlarges small ones and writes below it what
it shows: the parameter, its shape, the step, the layout and the colour scale.
The training dashboard draws the same layout in the browser.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .colormap import diverging

#: colour of the gaps between kernels and of padding (RGB)
GAP = (128, 128, 128)
#: small pictures are enlarged (nearest neighbour) until their longer side reaches this
MIN_SIDE = 512
#: ... and a thin one is stretched until its shorter side reaches this
MIN_THIN = 48


def _tiles(kernels: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows * cols, kh, kw) -> a picture of the kernels with 1-pixel NaN gaps."""
    _, kh, kw = kernels.shape
    out = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan, np.float32)
    for n, k in enumerate(kernels):
        r, c = divmod(n, cols)
        out[r * (kh + 1) : r * (kh + 1) + kh, c * (kw + 1) : c * (kw + 1) + kw] = k
    return out


def weight_image(w: np.ndarray) -> np.ndarray:
    """The 2-D float32 picture of one parameter tensor (see the module docstring).

    >>> weight_image(np.arange(4.0)).tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    w = np.asarray(w, np.float32)
    if w.ndim == 4:
        o, i, kh, kw = w.shape
        if i == 1:
            cols = math.ceil(math.sqrt(o))
            rows = math.ceil(o / cols)
            flat = np.full((rows * cols, kh, kw), np.nan, np.float32)
            flat[:o] = w[:, 0]
            return _tiles(flat, rows, cols)
        return _tiles(w.reshape(o * i, kh, kw), o, i)
    if w.ndim == 2:
        return w.copy()
    if w.ndim <= 1:
        flat = w.reshape(-1)
        cols = max(1, math.ceil(math.sqrt(flat.size)))
        rows = max(1, math.ceil(flat.size / cols))
        out = np.full(rows * cols, np.nan, np.float32)
        out[: flat.size] = flat
        return out.reshape(rows, cols)
    return w.reshape(w.shape[0], -1).copy()


def weight_layout(shape: tuple[int, ...]) -> str:
    """In words, how :func:`weight_image` lays out a tensor of ``shape``.

    >>> weight_layout((50, 20, 5, 5))
    'rows: 50 output channels, columns: 20 input channels, 5x5 kernels'
    """
    if len(shape) == 4:
        o, i, kh, kw = shape
        if i == 1:
            return f"{o} kernels of {kh}x{kw}, row by row"
        return f"rows: {o} output channels, columns: {i} input channels, {kh}x{kw} kernels"
    if len(shape) == 2:
        return f"rows: {shape[0]} outputs, columns: {shape[1]} inputs"
    if len(shape) <= 1:
        return f"{math.prod(shape)} values, row by row"
    return f"rows: {shape[0]}, columns: the other {math.prod(shape[1:])} values"


def block_mean(img: np.ndarray, side: int) -> tuple[np.ndarray, int]:
    """Average ``img`` (H, W) over f x f blocks so both sides are at most ``side``
    (NaN cells are left out of each mean); returns (picture, f)."""
    f = max(1, math.ceil(max(img.shape) / side))
    if f == 1:
        return img, 1
    h, w = img.shape
    hp, wp = math.ceil(h / f) * f, math.ceil(w / f) * f
    padded = np.full((hp, wp), np.nan, np.float32)
    padded[:h, :w] = img
    blocks = padded.reshape(hp // f, f, wp // f, f)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(blocks)
        total = np.where(valid, blocks, 0).sum(axis=(1, 3))
        n = valid.sum(axis=(1, 3))
        return np.where(n > 0, total / np.maximum(n, 1), np.nan).astype(np.float32), f


def weight_figure(
    picture: np.ndarray, scale: float, caption: list[str], factor: int = 1
) -> np.ndarray:
    """A weight picture as a captioned uint8 (H', W', 3) figure.

    ``picture`` (H, W) float (NaN: gaps) from :func:`weight_image` or
    :func:`block_mean`; ``scale`` the value drawn in full colour (pass the same
    for every step of a parameter, so that colours compare over time);
    ``caption`` lines written under the picture, followed by the colour scale
    (and by the block size when ``factor`` > 1). The picture sits at the top
    left, enlarged by the smallest integer that brings its longer side to
    :data:`MIN_SIDE` pixels (at most 16x); a thin picture is stretched along its
    short side to at least :data:`MIN_THIN` pixels.

    >>> weight_figure(np.array([[1.0, -1.0]]), 1.0, ["w"])[0, 0].tolist()
    [103, 0, 31]
    """
    gaps = ~np.isfinite(picture)
    rgb = diverging(np.where(gaps, 0.0, picture)[None], vmax=scale)[0]
    rgb[gaps] = GAP
    f = min(16, max(1, math.ceil(MIN_SIDE / max(picture.shape))))
    fy, fx = (max(f, min(64, math.ceil(MIN_THIN / n))) for n in picture.shape)
    rgb = np.repeat(np.repeat(rgb, fy, axis=0), fx, axis=1)
    lines = [
        *caption,
        f"blue < 0 < red; full colour at |w| = {scale:.3g}; grey: gaps",
        *([f"each pixel: mean of {factor}x{factor} weights"] if factor > 1 else []),
    ]
    font = _font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = max(math.ceil(measure.textlength(line, font=font)) for line in lines) + 4
    line_h = 14
    width = max(rgb.shape[1], text_w)
    canvas = Image.new("RGB", (width, rgb.shape[0] + 4 + line_h * len(lines)), (255, 255, 255))
    canvas.paste(Image.fromarray(rgb), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for k, line in enumerate(lines):
        draw.text((2, rgb.shape[0] + 2 + k * line_h), line, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's own scalable font at 11 px (its bitmap font without FreeType)."""
    try:
        return ImageFont.load_default(size=11)
    except (ImportError, OSError):  # Pillow built without FreeType
        return ImageFont.load_default()
