"""Images decoded on demand: datasets larger than memory.

:class:`LazyImages` stands where an :class:`~convlens.data.ImageDataset` holds its
uint8 (N, C, H, W) array: it has the array's ``shape``, ``dtype`` and ``len``, and
indexing it (an int, a slice, or an array of rows) decodes just those images. A
small cache keeps recently decoded images (figures ask for the same top-k images
again and again).

A dataset pass reads it through :func:`stream`: a torch ``DataLoader`` with worker
processes decodes the next batches while the model runs on this one, so memory
stays flat in N.

A file that cannot be decoded stops the pass with one line naming it (convlens
does not skip images: a skipped image would shift every later row).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import DataError, first_line

__all__ = ["LazyImages", "stream", "workers"]

CACHE_BYTES = 128 << 20
"""Decoded images kept in memory, per dataset."""


def workers() -> int:
    """Decoding worker processes of a pass: one per spare core, at most 4, at least 1."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class LazyImages:
    """An array-like of N images, each decoded by ``load(i) -> uint8 (C, H, W)``.

    >>> # imgs = LazyImages(len(files), (3, 224, 224), lambda i: load_image(files[i], ...))
    >>> # imgs[[0, 5]].shape  ->  (2, 3, 224, 224)
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(
        self,
        count: int,
        image_shape: tuple[int, int, int],
        load: Callable[[int], np.ndarray],
        describe: Callable[[int], str] = str,
    ):
        self._n = int(count)
        self._shape = tuple(int(d) for d in image_shape)
        self._load = load
        self._describe = describe
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_rows = max(1, CACHE_BYTES // max(1, int(np.prod(self._shape))))

    # ------------------------------------------------------------ array-like
    @property
    def shape(self) -> tuple[int, ...]:
        return (self._n, *self._shape)

    @property
    def flags(self) -> Any:
        return np.empty(0).flags  # writeable, contiguous: nothing to copy

    def __len__(self) -> int:
        return self._n

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[np.arange(self._n)]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):  # images[rows, channel, ...]: rows first, then the rest
            rows, rest = key[0], key[1:]
            return self[rows][rest] if _is_int(rows) else self[rows][(slice(None), *rest)]
        if _is_int(key):
            return self.image(int(key))
        rows = np.arange(self._n)[key]
        out = np.empty((len(rows), *self._shape), np.uint8)
        for j, i in enumerate(rows):
            out[j] = self.image(int(i))
        return out

    # ---------------------------------------------------------------- images
    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 (C, H, W), decoded or from the cache."""
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"image {i} is out of range for {self._n} images")
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        array = self.decode(i)
        self._cache[i] = array
        if len(self._cache) > self._cache_rows:
            self._cache.popitem(last=False)
        return array

    def decode(self, i: int) -> np.ndarray:
        """Decode image ``i`` (no cache), checked against the dataset's image shape."""
        array = np.asarray(self._load(i))
        if array.shape != self._shape or array.dtype != np.uint8:
            raise DataError(
                f"image {self._describe(i)} decodes to {array.dtype} {array.shape}, expected "
                f"uint8 {self._shape} like the rest of the dataset; give images of one "
                "shape, or a size to resize them to"
            )
        return array

    def subset(self, rows: Sequence[int] | np.ndarray) -> LazyImages:
        """The images ``rows`` as a new lazy array (nothing is decoded)."""
        rows = np.asarray(rows, dtype=np.int64)
        return LazyImages(
            len(rows),
            self._shape,  # type: ignore[arg-type]
            lambda j: self._load(int(rows[j])),
            lambda j: self._describe(int(rows[j])),
        )


def _is_int(key: Any) -> bool:
    return isinstance(key, (int, np.integer))


class _Rows(torch.utils.data.Dataset):
    """Row ``j`` of a pass: (ok, image or error message), never raising in a worker
    (a worker's exception would arrive as a multi-line traceback)."""

    def __init__(self, images: LazyImages, rows: np.ndarray):
        self.images, self.rows = images, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, j: int) -> tuple[bool, Any]:
        try:
            return True, self.images.decode(int(self.rows[j]))
        except Exception as exc:  # one line, raised again in the main process
            return False, first_line(exc)


def _collate(items: list[tuple[bool, Any]]) -> tuple[np.ndarray | None, str | None]:
    for ok, value in items:
        if not ok:
            return None, value
    return np.stack([value for _, value in items]), None


def stream(images: LazyImages, rows: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """uint8 (B, C, H, W) batches of ``rows`` in order, decoded ahead by worker processes.

    The first image that cannot be decoded raises its :class:`DataError` here, in
    this process, with the file named.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n_workers = workers() if len(rows) > batch_size else 0
    loader = torch.utils.data.DataLoader(
        _Rows(images, rows),
        batch_size=batch_size,
        shuffle=False,
        num_workers=n_workers,
        collate_fn=_collate,
        prefetch_factor=2 if n_workers else None,
        persistent_workers=False,
    )
    for batch, error in loader:
        if error is not None:
            raise DataError(error if "image" in error else f"an image cannot be read: {error}")
        yield batch
