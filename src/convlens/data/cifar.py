"""CIFAR-10 in its "python version": pickled batches, read without running code.

The folder (``cifar-10-batches-py``, or its parent) holds ``data_batch_1`` ..
``data_batch_5``, ``test_batch`` and ``batches.meta``. Each batch is a pickled
dict with ``data`` (N, 3072) uint8 (1024 red, then green, then blue values,
row-major 32x32) and ``labels`` (N ints). The unpickler only builds dicts,
lists, strings, bytes, numbers and numpy arrays: any other object in the file
is refused, so a crafted file cannot run code.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, PathNotFoundError, first_line
from .dataset import ImageDataset

__all__ = ["CIFAR10_CLASSES", "find_cifar_batches", "load_cifar10", "read_cifar_batch"]

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST = "test_batch"
_SUBFOLDER = "cifar-10-batches-py"

_ALLOWED = {
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "bytes"), ("builtins", "str"),
    ("builtins", "int"), ("builtins", "bytearray"), ("__builtin__", "dict"),
    ("__builtin__", "list"), ("__builtin__", "str"), ("__builtin__", "int"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}  # fmt: skip


class _SafeUnpickler(pickle.Unpickler):
    """Builds only plain containers and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which is not allowed")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
        obj = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # truncated or crafted files raise many types
        reason = first_line(exc)
        raise DataError(
            f"CIFAR batch {str(path)!r} cannot be read ({type(exc).__name__}: {reason}); "
            "expected an intact pickled batch of the CIFAR-10 python version: download it again"
        ) from None
    if not isinstance(obj, dict):
        raise DataError(
            f"CIFAR batch {str(path)!r} holds a {type(obj).__name__}, expected a dict with "
            "'data' and 'labels'"
        )
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images uint8 (N, 3, 32, 32) and labels int64 (N,)."""
    path = Path(path)
    if not path.exists():
        raise PathNotFoundError(f"CIFAR batch {str(path)!r} does not exist; check the path")
    batch = _unpickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(
            f"CIFAR batch {str(path)!r}: 'data' is {got}, expected a uint8 array (N, 3072)"
        )
    if data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"CIFAR batch {str(path)!r}: 'data' has {data.shape[1]} values per image, "
            "expected 3072 (3 x 32 x 32)"
        )
    try:
        labels_arr = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        labels_arr = np.zeros(0, dtype=np.int64)
    if len(labels_arr) != len(data):
        raise DataError(
            f"CIFAR batch {str(path)!r} has {len(data)} images but "
            f"{len(labels_arr)} labels; expected one integer label per image"
        )
    return data.reshape(-1, 3, 32, 32).copy(), labels_arr


def find_cifar_batches(folder: Path) -> list[Path]:
    """The batch files of ``folder`` (or its ``cifar-10-batches-py``): train, then test."""
    for base in (folder, folder / _SUBFOLDER):
        found = [base / n for n in (*_TRAIN, _TEST) if (base / n).is_file()]
        if found:
            return found
    return []


def _class_names(folder: Path, n_labels: int) -> list[str]:
    meta = folder / "batches.meta"
    if meta.is_file():
        names = _unpickle(meta).get("label_names")
        if isinstance(names, list) and len(names) >= n_labels:
            return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
        raise DataError(
            f"CIFAR meta file {str(meta)!r} has no list 'label_names' covering "
            f"{n_labels} classes; remove it to use the standard CIFAR-10 names"
        )
    if n_labels <= len(CIFAR10_CLASSES):
        return list(CIFAR10_CLASSES)
    return [str(i) for i in range(n_labels)]


def load_cifar10(path: str | Path) -> ImageDataset:
    """A CIFAR-10 folder (or one batch file) as uint8 (N, 3, 32, 32) with class names.

    The batches present are joined in the order data_batch_1..5, test_batch, so
    with the full set rows 50000..59999 are the test images. ``indices`` count
    from 0 in that order.

    >>> # ds = load_cifar10("cifar-10-batches-py"); ds.classes[:2]
    >>> # ['airplane', 'automobile']
    """
    path = Path(path)
    if not path.exists():
        raise PathNotFoundError(f"CIFAR-10 data {str(path)!r} does not exist; check the path")
    files = [path] if path.is_file() else find_cifar_batches(path)
    if not files:
        raise DataError(
            f"folder {str(path)!r} holds no CIFAR-10 batches; expected data_batch_1 .. "
            "data_batch_5 and/or test_batch (the python version, extracted)"
        )
    parts = [read_cifar_batch(f) for f in files]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if labels.min() < 0:
        raise DataError(f"CIFAR data {str(path)!r} has negative labels; expected 0..9")
    classes = _class_names(files[0].parent, int(labels.max()) + 1)
    return ImageDataset(images, labels, classes, source=str(path))
