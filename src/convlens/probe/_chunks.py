"""Whole row chunks of uncompressed Zarr v3 arrays, written straight to their files.

The probe streams one chunk of rows per batch. Through ``zarr`` each chunk write
goes through its event-loop and I/O threads, which costs more than the write itself
on a busy CPU. An uncompressed Zarr v3 chunk is only the chunk's bytes in C order
(``bytes`` codec; edge chunks padded to the full chunk shape with the fill value),
stored under the key the array's chunk-key encoding gives. :class:`RowChunks`
writes such chunks itself when the array's metadata says that is the layout, and
hands anything else back to ``zarr``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BytesCodec
from zarr.storage import LocalStore

__all__ = ["RowChunks"]


class RowChunks:
    """Writes rows ``start:start+len(block)`` of ``array``, chunk files directly when it can.

    >>> # RowChunks(store.open("embeddings/conv1", mode="r+")).write(0, block)
    """

    def __init__(self, array: zarr.Array):
        self.array = array
        self.rows = array.chunks[0]
        self.folder = _direct_folder(array)
        self._made: set[Path] = set()

    def write(self, start: int, block: np.ndarray) -> None:
        n = self.array.shape[0]
        stop = start + len(block)
        whole = start % self.rows == 0 and (len(block) == self.rows or stop == n)
        if self.folder is None or not whole or block.shape[1:] != self.array.shape[1:]:
            self.array[start:stop] = block
            return
        data = np.ascontiguousarray(block, dtype=self.array.dtype.newbyteorder("<"))
        if len(data) < self.rows:  # the edge chunk is stored whole, padded with the fill value
            padded = np.zeros((self.rows, *data.shape[1:]), data.dtype)
            padded[: len(data)] = data
            data = padded
        key = self.array.metadata.encode_chunk_key((start // self.rows,) + (0,) * (data.ndim - 1))
        path = self.folder / key
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        with open(path, "wb") as f:
            f.write(memoryview(data).cast("B"))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop``: one chunk file read directly when they are one whole chunk."""
        n = self.array.shape[0]
        stop = min(stop, n)
        one = start % self.rows == 0 and (stop - start == self.rows or stop == n)
        if self.folder is None or not one or stop <= start:
            return self.array[start:stop]
        shape = (self.rows, *self.array.shape[1:])
        key = self.array.metadata.encode_chunk_key((start // self.rows,) + (0,) * (len(shape) - 1))
        path = self.folder / key
        if not path.exists():  # a chunk never written (or all fill value) reads as zeros
            return np.zeros((stop - start, *shape[1:]), self.array.dtype)
        data = np.fromfile(path, dtype=self.array.dtype.newbyteorder("<"))
        return data.reshape(shape)[: stop - start].astype(self.array.dtype, copy=False)


def _direct_folder(array: zarr.Array) -> Path | None:
    """The array's folder when its chunks are plain bytes of whole trailing rows."""
    meta = array.metadata
    if getattr(meta, "zarr_format", None) != 3 or not isinstance(array.store, LocalStore):
        return None
    codecs = getattr(meta, "codecs", ())
    if len(codecs) != 1 or not isinstance(codecs[0], BytesCodec):
        return None
    if getattr(codecs[0].endian, "value", codecs[0].endian) not in (None, "little"):
        return None
    if getattr(meta, "storage_transformers", ()) or tuple(array.chunks[1:]) != array.shape[1:]:
        return None
    if float(np.asarray(meta.fill_value)) != 0.0 or array.dtype.hasobject:
        return None
    return Path(os.fspath(array.store.root)) / array.path
