"""Any torch ``Dataset`` of (image, label) pairs as a convlens dataset, read on demand.

Images come as tensors or arrays (C, H, W) of one shape: uint8 pixels, or floats
in [0, 1] (torchvision's ``ToTensor`` without ``Normalize``), which are rounded to
uint8 pixels. Normalisation is not taken from the dataset: convlens applies the
run's. Labels are read from a ``targets`` attribute (torchvision's folders and
MNIST have one) or, failing that, by one pass over the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .dataset import ImageDataset
from .lazy import LazyImages
from .normalize import Normalization

__all__ = ["from_torch"]


def _pixels(item: Any, index: int) -> np.ndarray:
    """One dataset item's image as uint8 (C, H, W)."""
    image = item[0] if isinstance(item, (tuple, list)) else item
    array = image.detach().cpu().numpy() if torch.is_tensor(image) else np.asarray(image)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise DataError(
            f"dataset item {index}: image of shape {array.shape}, expected (C, H, W); give "
            "a dataset that yields (image tensor, label)"
        )
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(
            f"dataset item {index}: image of dtype {array.dtype}, expected uint8 pixels or "
            "floats in [0, 1]"
        )
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise DataError(
            f"dataset item {index}: float image outside [0, 1] (range {array.min():.3g}.."
            f"{array.max():.3g}); give pixels before normalisation (ToTensor without "
            "Normalize) and pass the normalisation to convlens instead"
        )
    return np.round(array * 255).astype(np.uint8)


def _labels(dataset: Any, n: int) -> np.ndarray:
    targets = getattr(dataset, "targets", None)
    if targets is not None and len(targets) == n:
        return np.asarray([int(t) for t in targets], dtype=np.int64)
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        item = dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise DataError(
                f"dataset item {i} is {type(item).__name__}, expected (image, label); give a "
                "labelled dataset"
            )
        labels[i] = int(item[1])
    return labels


def from_torch(
    dataset: Any,
    classes: Sequence[str] | None = None,
    normalization: Normalization | None = None,
    source: str = "",
) -> ImageDataset:
    """``dataset`` (a torch ``Dataset`` of (image, label)) as an :class:`ImageDataset`
    whose images are decoded on demand.

    ``classes`` default to ``dataset.classes`` when it has them; ``source`` to its
    ``root`` folder. Without ``normalization`` the dataset's own is fitted on a
    sample of 2,000 images.

    >>> # ds = from_torch(torchvision.datasets.ImageFolder("val", transform=prep))
    """
    try:
        n = len(dataset)
    except TypeError:
        raise DataError(
            f"data {type(dataset).__name__} has no length: expected a map-style torch "
            "Dataset (with __len__ and __getitem__)"
        ) from None
    if n == 0:
        raise DataError(f"dataset {type(dataset).__name__} is empty: expected at least one image")
    first = _pixels(dataset[0], 0)
    images = LazyImages(
        n,
        first.shape,  # type: ignore[arg-type]
        lambda i: _pixels(dataset[i], i),
        describe=lambda i: f"item {i} of {type(dataset).__name__}",
    )
    names = classes if classes is not None else getattr(dataset, "classes", None)
    root = getattr(dataset, "root", None)
    return ImageDataset(
        images,
        _labels(dataset, n),
        list(names) if names is not None else None,
        source=source or (str(root) if root is not None else ""),
        normalization=normalization,
    )
