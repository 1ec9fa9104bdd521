"""A folder of images with one sub-folder per class (PNG or JPEG, grey or RGB).

Class names are the sub-folder names in sorted order; label i is the i-th name.
Images inside a class folder are read in sorted file-name order, so indices are
stable from one run to the next.

Small folders are decoded at once; a folder whose decoded pixels would pass
:data:`EAGER_BYTES` is decoded on demand (:mod:`convlens.data.lazy`), so a folder
larger than memory can be probed. Both give the same pixels.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError, PathNotFoundError
from .dataset import ImageDataset
from .images import IMAGE_EXTENSIONS, Crop, load_image, unreadable
from .lazy import LazyImages

__all__ = ["EAGER_BYTES", "find_class_images", "load_image_folder"]

EAGER_BYTES = 64 << 20
"""Folders whose decoded images take more than this are decoded on demand."""


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def find_class_images(folder: str | Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names and (file, label) pairs of an image folder, in a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PathNotFoundError(f"image folder {str(folder)!r} does not exist; check the path")
    class_dirs = sorted(
        (d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: d.name,
    )
    classes: list[str] = []
    files: list[tuple[Path, int]] = []
    for d in class_dirs:
        images = sorted((p for p in d.iterdir() if _is_image(p)), key=lambda p: p.name)
        if images:
            files.extend((p, len(classes)) for p in images)
            classes.append(d.name)
    if not files:
        loose = any(_is_image(p) for p in folder.iterdir())
        hint = (
            "move the images into one sub-folder per class"
            if loose
            else "put images in one sub-folder per class"
        )
        raise DataError(
            f"folder {str(folder)!r} has no images in class sub-folders (looked for "
            f"{', '.join(IMAGE_EXTENSIONS)}); {hint}"
        )
    return classes, files


def _header(path: Path) -> tuple[str, tuple[int, int]]:
    """(mode, (H, W)) from an image's header, without decoding its pixels."""
    try:
        with Image.open(path) as im:
            return im.mode, (im.height, im.width)
    except Exception as exc:  # Pillow raises many types on damaged files
        raise unreadable(path, exc) from None


def _scan(
    folder: Path, files: list[tuple[Path, int]], size: tuple[int, int] | None, channels: int | None
) -> tuple[tuple[int, int], int]:
    """The size and channels every image will have (headers read only when needed)."""
    if size is not None and channels is not None:
        return size, channels
    headers = [_header(p) for p, _ in files]
    if channels is None:
        grey = ("1", "L", "LA", "La", "F", "I", "I;16", "I;16B", "I;16L", "I;16N")
        channels = 3 if any(mode not in grey for mode, _ in headers) else 1
    if size is None:
        first = headers[0][1]
        for (path, _), (_, hw) in zip(files, headers, strict=True):
            if hw != first:
                raise DataError(
                    f"images in {str(folder)!r} differ in size: {files[0][0].name!r} is "
                    f"{first[0]}x{first[1]} but {str(path)!r} is {hw[0]}x{hw[1]} (HxW); "
                    "pass size=(H, W) (the model's input size) to resize them"
                )
        size = first
    return size, channels


def load_image_folder(
    folder: str | Path,
    *,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
    crop: Crop | None = None,
    lazy: bool | None = None,
) -> ImageDataset:
    """Every image of ``folder/<class>/*`` as uint8 (N, C, H, W) with labels.

    - ``size=(H, W)``: every image is brought to it; ``crop`` (a :class:`Crop`)
      keeps the aspect ratio (shorter side scaled, centre cut out), otherwise the
      image is stretched. Without ``size`` all images must share one size.
    - ``channels`` 1 (grey) or 3 (RGB) converts every image; without it the
      dataset is RGB when any image is in colour, grey otherwise.
    - ``lazy``: decode on demand (True), at once (False), or by size (None: on
      demand past :data:`EAGER_BYTES` of pixels).

    >>> # ds = load_image_folder("pets", size=(64, 64), channels=3); ds.classes
    >>> # ['cat', 'dog']
    """
    folder = Path(folder)
    classes, files = find_class_images(folder)
    size, channels = _scan(folder, files, size, channels)
    labels = np.array([label for _, label in files], dtype=np.int64)
    shape = (channels, *size)
    paths = [p for p, _ in files]

    def load(i: int) -> np.ndarray:
        return load_image(paths[i], size=size, channels=channels, crop=crop)

    if lazy is None:
        lazy = len(paths) * math.prod(shape) > EAGER_BYTES
    if lazy:
        images = LazyImages(len(paths), shape, load, describe=lambda i: repr(str(paths[i])))
    else:
        images = np.stack([load(i) for i in range(len(paths))])
    return ImageDataset(images, labels, classes, source=str(folder))
