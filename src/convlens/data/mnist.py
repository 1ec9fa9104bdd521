"""MNIST in its original IDX format, gzip-compressed or raw."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError, PathNotFoundError
from .dataset import ImageDataset

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_SETS = ("t10k", "train")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into an array of its stated shape."""
    path = Path(path)
    if not path.exists():
        raise PathNotFoundError(f"IDX file {str(path)!r} does not exist; check the path")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"IDX file {str(path)!r} is not a readable gzip file ({exc}); "
            "download it again or give the uncompressed file"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(
            f"IDX file {str(path)!r} has no IDX header (magic {raw[:4].hex() or 'missing'}), "
            "expected 0x0000 then a type byte; is it an MNIST file?"
        )
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"IDX file {str(path)!r} is truncated inside its header; get it again")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_DTYPES[raw[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != need:
        raise DataError(
            f"IDX file {str(path)!r} is truncated or padded: header promises shape {dims} "
            f"({need} bytes of data) but holds {len(body)} bytes; get the file again"
        )
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def find_idx_pair(folder: Path) -> tuple[Path, Path] | None:
    """(images, labels) paths of an MNIST set in ``folder``: t10k first, then train."""
    for prefix in _SETS:
        for ext in (".gz", ""):
            img = folder / f"{prefix}-images-idx3-ubyte{ext}"
            lab = folder / f"{prefix}-labels-idx1-ubyte{ext}"
            if img.exists() and lab.exists():
                return img, lab
    return None


def load_mnist(images_path: str | Path, labels_path: str | Path | None = None) -> ImageDataset:
    """MNIST images (N, 1, 28, 28) and labels from IDX files.

    ``images_path`` may be a folder holding ``t10k-*`` (preferred) or ``train-*``
    files, or the images file itself, whose labels file is found beside it.
    """
    images_path = Path(images_path)
    if images_path.is_dir():
        pair = find_idx_pair(images_path)
        if pair is None:
            raise DataError(
                f"folder {str(images_path)!r} holds no MNIST IDX pair; expected "
                "t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz)"
            )
        images_path, labels_path = pair
    if labels_path is None:
        labels_path = Path(str(images_path).replace("images-idx3", "labels-idx1"))
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"IDX file {str(images_path)!r} holds shape {images.shape} of {images.dtype}, "
            "expected uint8 images (N, H, W)"
        )
    if len(labels) != len(images):
        raise DataError(
            f"MNIST {str(images_path)!r} has {len(images)} images but {str(labels_path)!r} has "
            f"{len(labels)} labels; use files of the same set"
        )
    return ImageDataset(
        images, labels.astype(np.int64), [str(d) for d in range(10)], source=str(images_path)
    )
