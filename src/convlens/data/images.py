"""Reading one image file (PNG, JPEG, ...) into a uint8 (C, H, W) array.

Every failure is one line: a missing path, a file that is not an image or is
truncated, and an image too large to decode safely (checked from the header,
before any pixel is decoded).

>>> # img = load_image("cat.jpg", size=(224, 224), channels=3); img.shape
>>> # (3, 224, 224)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .._limits import MAX_PIXELS
from ..errors import DataError, PathNotFoundError, first_line

__all__ = ["IMAGE_EXTENSIONS", "MAX_PIXELS", "Crop", "load_image"]

#: File name endings read as images (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")

_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


def load_image(
    path: str | Path,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
    max_pixels: int = MAX_PIXELS,
    crop: Crop | None = None,
) -> np.ndarray:
    """The image at ``path`` as uint8 (C, H, W); C is 1 (grey) or 3 (RGB).

    - ``size=(H, W)`` resizes (bilinear) to H rows and W columns; with ``crop`` the
      aspect ratio is kept instead: the shorter side is scaled to ``crop.resize``
      (default: just enough to cover (H, W)), then the centre (H, W) is cut out.
    - ``channels`` 1 converts to grey, 3 to RGB; ``None`` keeps grey images grey
      and turns every other mode (palette, alpha, CMYK) into RGB. Alpha is dropped.
    - 16-bit grey images are scaled to 0..255. EXIF orientation is applied.
    - An image with more than ``max_pixels`` pixels (W x H, read from the header)
      raises a :class:`~convlens.errors.DataError` before it is decoded.

    >>> # load_image("digit.png", size=(28, 28), channels=1).shape
    >>> # (1, 28, 28)
    """
    path = Path(path)
    size = _check_size(size)
    if channels not in (None, 1, 3):
        raise DataError(f"channels={channels!r}: expected 1 (grey), 3 (RGB) or None (keep)")
    if not path.exists():
        raise PathNotFoundError(f"image {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise DataError(f"image {str(path)!r} is a folder, expected an image file (PNG or JPEG)")
    try:
        with warnings.catch_warnings():
            # convlens applies its own limit (max_pixels) below, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_pixels(path, im.size, max_pixels)
                if size is not None and im.format == "JPEG":
                    # decode at a reduced scale when the output is much smaller (JPEG's
                    # DCT scaling): never below what the resize needs, either way round
                    side = max(_scaled(im.size, size, crop))
                    im.draft(im.mode, (side, side))
                im.load()
                im = ImageOps.exif_transpose(im)
                array = _to_array(im, channels, size, crop)
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"image {str(path)!r} is too large to decode ({exc}); pass a smaller image or use tiles"
        ) from None
    except DataError:
        raise
    except Exception as exc:  # Pillow raises many types on damaged files
        raise unreadable(path, exc) from None
    return array


def unreadable(path: Path, exc: BaseException) -> DataError:
    """The one-line error for an image file Pillow cannot read."""
    return DataError(
        f"image {str(path)!r} cannot be read ({first_line(exc)}); expected an intact PNG or "
        "JPEG file: save it again or remove it"
    )


def _check_size(size: object) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        h, w = (int(v) for v in size)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise DataError(f"size={size!r}: expected (H, W), two positive integers") from None
    if h <= 0 or w <= 0:
        raise DataError(f"size={size!r}: expected (H, W), two positive integers")
    return h, w


def _check_pixels(path: Path, wh: tuple[int, int], max_pixels: int) -> None:
    w, h = wh
    if w * h > max_pixels:
        raise DataError(
            f"image {str(path)!r} is too large ({w} x {h} = {w * h} pixels, limit {max_pixels}); "
            "pass a smaller image or raise max_pixels / use tiles"
        )


@dataclass(frozen=True)
class Crop:
    """Scale the shorter side to ``resize`` pixels (None: just enough to cover the
    output size), keeping the aspect ratio, then cut out the centre.

    ``Crop(256)`` with size (224, 224) is the usual ImageNet evaluation transform.
    """

    resize: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"mode": "resize-centre-crop", "resize": self.resize}


def _scaled(wh: tuple[int, int], size: tuple[int, int], crop: Crop | None) -> tuple[int, int]:
    """(W, H) an image of (W, H) ``wh`` is resized to before any crop."""
    h, w = size
    if crop is None:
        return w, h
    scale = max(h / wh[1], w / wh[0]) if crop.resize is None else crop.resize / min(wh)
    return max(w, round(wh[0] * scale)), max(h, round(wh[1] * scale))


def _centre_crop(im: Image.Image, size: tuple[int, int], crop: Crop) -> Image.Image:
    h, w = size
    nw, nh = _scaled(im.size, size, crop)
    if (nh, nw) != (im.height, im.width):
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
    top, left = (nh - h) // 2, (nw - w) // 2
    return im.crop((left, top, left + w, top + h))


def _to_array(
    im: Image.Image, channels: int | None, size: tuple[int, int] | None, crop: Crop | None = None
) -> np.ndarray:
    """A decoded PIL image -> uint8 (C, H, W) with the wanted channels and size."""
    if im.mode in _SIXTEEN_BIT:
        deep = np.asarray(im).astype(np.float64)
        im = Image.fromarray(np.clip(np.round(deep * (255.0 / 65535.0)), 0, 255).astype(np.uint8))
    if channels is None:
        channels = 1 if im.mode in ("1", "L", "LA", "La", "F") else 3
    im = im.convert("L" if channels == 1 else "RGB")
    if size is not None and crop is not None:
        im = _centre_crop(im, size, crop)
    elif size is not None and (im.height, im.width) != size:
        im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    array = np.asarray(im, dtype=np.uint8)
    if array.ndim == 2:
        return np.ascontiguousarray(array[None])
    return np.ascontiguousarray(np.transpose(array, (2, 0, 1)))
