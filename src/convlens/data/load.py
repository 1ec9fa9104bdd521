"""One entry point for every dataset format: ``load_dataset(spec)``.

A spec is ``"digits"`` (the embedded default) or a path whose format is detected:

- a folder with MNIST IDX files, or an IDX images file (``.gz`` or raw);
- a folder with CIFAR-10 python batches (``data_batch_*`` / ``test_batch``);
- a ``.npz`` file with ``x``, ``y`` and optional ``classes``;
- a folder with one sub-folder of PNG/JPEG images per class.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError, PathNotFoundError
from .cifar import find_cifar_batches
from .dataset import ImageDataset
from .digits import NAME as DIGITS
from .digits import load_digits
from .images import Crop
from .mnist import find_idx_pair, load_mnist
from .npz import load_npz
from .resize import resize_images


def detect_format(spec: str) -> str:
    """``"digits"``, ``"mnist"``, ``"cifar10"``, ``"npz"`` or ``"folder"`` for ``spec``."""
    if spec == DIGITS:
        return "digits"
    path = Path(spec)
    if not path.exists():
        raise PathNotFoundError(
            f"data {spec!r} does not exist: expected 'digits' or a path to MNIST IDX files, "
            "CIFAR-10 batches, an .npz file or a folder of class folders; check the path"
        )
    if path.is_file():
        if path.suffix == ".npz":
            return "npz"
        if "idx" in path.name:
            return "mnist"
        if path.name.startswith("data_batch_") or path.name == "test_batch":
            return "cifar10"
        raise DataError(
            f"data file {spec!r} has an unknown format: expected an .npz file, an MNIST "
            "IDX file (name containing 'idx') or a CIFAR-10 batch; for images, give their "
            "class folders' parent"
        )
    if find_idx_pair(path) is not None:
        return "mnist"
    if find_cifar_batches(path):
        return "cifar10"
    return "folder"


def load_dataset(
    spec: str,
    *,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
    crop: Crop | None = None,
) -> ImageDataset:
    """The dataset named by ``spec``, as uint8 images with labels and class names.

    ``size`` (H, W) is the model's input size: ``digits`` and image folders are
    resized to it; other formats must already match (a :class:`DataError` says so).
    ``channels`` is used by image folders (1 grey, 3 RGB), and so is ``crop``
    (keep the aspect ratio and cut out the centre, instead of stretching).

    >>> load_dataset("digits", size=(28, 28)).images.shape
    (1797, 1, 28, 28)
    """
    fmt = detect_format(spec)
    if fmt == "digits":
        ds = load_digits(size or (28, 28))
    elif fmt == "mnist":
        ds = load_mnist(spec)
    elif fmt == "npz":
        ds = load_npz(spec)
    elif fmt == "cifar10":
        from .cifar import load_cifar10

        ds = load_cifar10(spec)
    else:
        from .folder import load_image_folder

        ds = load_image_folder(spec, size=size, channels=channels, crop=crop)
    return ds


def check_fits(ds: ImageDataset, input_shape: tuple[int, ...] | None) -> ImageDataset:
    """Check ``ds`` matches the model input (C, H, W); a clear :class:`DataError` if not.

    A dataset whose only difference is its spatial size is not resized silently:
    the user is told to pass the data at the model's size.
    """
    if input_shape is None or len(input_shape) != 3:
        return ds
    c, h, w = input_shape
    if ds.shape != (c, h, w):
        raise DataError(
            f"data {ds.source!r} has images of shape {ds.shape} (C, H, W), but the model "
            f"expects {(c, h, w)}; use data with {c} channel(s) at {h}x{w}, or a model "
            "built for this data"
        )
    return ds


__all__ = ["check_fits", "detect_format", "load_dataset", "resize_images"]
