"""A folder of images with one sub-folder per class (PNG or JPEG, grey or RGB).

Class names are the sub-folder names in sorted order; label i is the i-th name.
Images inside a class folder are read in sorted file-name order, so indices are
stable from one run to the next.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError, PathNotFoundError
from .dataset import ImageDataset
from .images import IMAGE_EXTENSIONS, load_image

__all__ = ["find_class_images", "load_image_folder"]


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


def load_image_folder(
    folder: str | Path,
    *,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
) -> ImageDataset:
    """Every image of ``folder/<class>/*`` as uint8 (N, C, H, W) with labels.

    - ``size=(H, W)`` resizes every image; without it all images must share one size.
    - ``channels`` 1 (grey) or 3 (RGB) converts every image; without it the
      dataset is RGB when any image is in colour, grey otherwise.

    >>> # ds = load_image_folder("pets", size=(64, 64), channels=3); ds.classes
    >>> # ['cat', 'dog']
    """
    classes, files = find_class_images(folder)
    arrays = [load_image(p, size=size, channels=channels) for p, _ in files]
    if channels is None and any(a.shape[0] == 3 for a in arrays):
        arrays = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in arrays]
    first = arrays[0].shape[1:]
    for (path, _), a in zip(files, arrays, strict=True):
        if a.shape[1:] != first:
            raise DataError(
                f"images in {str(folder)!r} differ in size: {files[0][0].name!r} is "
                f"{first[0]}x{first[1]} but {str(path)!r} is {a.shape[1]}x{a.shape[2]} (HxW); "
                "pass size=(H, W) (the model's input size) to resize them"
            )
    labels = np.array([label for _, label in files], dtype=np.int64)
    return ImageDataset(np.stack(arrays), labels, classes, source=str(folder))
