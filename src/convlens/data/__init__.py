"""Datasets by format, class names, normalisation, and sample-to-image mapping.

``load_dataset(spec)`` reads ``"digits"`` (embedded, no network), MNIST IDX,
CIFAR-10 python batches, ``.npz`` files and folders of class folders.
"""

from .cifar import CIFAR10_CLASSES, load_cifar10, read_cifar_batch
from .dataset import Batch, ImageDataset, Sample
from .digits import load_digits
from .folder import load_image_folder
from .images import IMAGE_EXTENSIONS, Crop, load_image
from .lazy import LazyImages
from .load import check_fits, detect_format, load_dataset
from .mnist import load_mnist, read_idx
from .normalize import Normalization
from .npz import load_npz
from .resize import resize_images
from .torchdata import from_torch

__all__ = [
    "CIFAR10_CLASSES",
    "IMAGE_EXTENSIONS",
    "Batch",
    "Crop",
    "ImageDataset",
    "LazyImages",
    "Normalization",
    "Sample",
    "check_fits",
    "detect_format",
    "from_torch",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_image",
    "load_image_folder",
    "load_mnist",
    "load_npz",
    "read_cifar_batch",
    "read_idx",
    "resize_images",
]
