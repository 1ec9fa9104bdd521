"""Datasets by format, class names, normalisation, and sample-to-image mapping.

``load_dataset(spec)`` reads ``"digits"`` (embedded, no network), MNIST IDX,
CIFAR-10 python batches, ``.npz`` files and folders of class folders.
"""

from .dataset import Batch, ImageDataset, Sample
from .digits import load_digits
from .load import check_fits, detect_format, load_dataset
from .mnist import load_mnist, read_idx
from .normalize import Normalization
from .npz import load_npz
from .resize import resize_images

__all__ = [
    "Batch",
    "ImageDataset",
    "Normalization",
    "Sample",
    "check_fits",
    "detect_format",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_npz",
    "read_idx",
    "resize_images",
]
