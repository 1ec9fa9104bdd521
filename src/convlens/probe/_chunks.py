"""Whole row chunks of uncompressed Zarr v3 arrays, written straight to their files.

The probe streams one chunk of rows per batch. Through ``zarr`` each chunk write
goes through its event-loop and I/O threads, which costs more than the write itself
on a busy CPU. An uncompressed Zarr v3 chunk is only the chunk's bytes in C order
(``bytes`` codec; edge chunks padded to the full chunk shape with the fill value),
stored under the key the array's chunk-key encoding gives. :class:`RowChunks`
writes such chunks itself when the array's metadata says that is the layout, and
hands anything else back to ``zarr``.

:func:`write_array` writes a small whole array the same way: its ``zarr.json``
comes from zarr's own metadata classes, and its one chunk is written directly.
Creating it through zarr's asynchronous API costs a few milliseconds each, which
over the ~50 small derived arrays of a probe was a sizeable part of its time.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BytesCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.dtype import get_data_type_from_native_dtype
from zarr.core.group import GroupMetadata
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.storage import LocalStore

ALIGN = 4096  # O_DIRECT wants block-aligned addresses, offsets and lengths
DIRECT_MIN = 1 << 20  # smaller files are not worth it

__all__ = ["ALIGN", "RowChunks", "write_array", "write_file", "write_metadata"]


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
        write_file(path, data)

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


def write_file(path: Path, data: np.ndarray) -> None:
    """The bytes of ``data`` as the file ``path``, by direct I/O where it can.

    A large block at a page-aligned address goes to the disk with ``O_DIRECT``: the
    device copies it, so the write costs the CPU almost nothing and overlaps the
    forward pass of the next batch (a page-cache write is a memory copy plus page
    bookkeeping by the CPU). The block-aligned head is written that way and the
    rest through the page cache. Where direct I/O is missing or refused (tmpfs,
    other systems), the whole file is written through the page cache.
    """
    view = memoryview(np.ascontiguousarray(data)).cast("B")
    head = len(view) - len(view) % ALIGN
    direct = getattr(os, "O_DIRECT", 0)
    aligned = data.ctypes.data % ALIGN == 0
    if direct and aligned and head >= DIRECT_MIN and _write_direct(path, view[:head], direct):
        if head < len(view):
            with open(path, "r+b") as f:
                f.seek(head)
                f.write(view[head:])
        return
    with open(path, "wb") as f:
        f.write(view)


def _write_direct(path: Path, view: memoryview, flag: int) -> bool:
    """Write ``view`` (block-aligned) as ``path`` with O_DIRECT; False if refused."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flag, 0o644)
    except OSError:
        return False
    try:
        done = 0
        while done < len(view):
            done += os.write(fd, view[done:])
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


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


def write_array(root: Path, name: str, data: np.ndarray, chunk_keys: Mapping[str, Any]) -> None:
    """``data`` as a one-chunk uncompressed Zarr v3 array ``root/name``, replacing any.

    Missing parent groups get their ``zarr.json``. ``chunk_keys`` is the chunk key
    encoding (as for ``zarr.create_array``). An array already there is rewritten in
    place (its files are truncated, not deleted and made anew), so writing an array
    prepared earlier with the same shape costs no new files.
    """
    data = np.ascontiguousarray(data)
    data = data.astype(data.dtype.newbyteorder("<"), copy=False)
    shape = tuple(int(d) for d in data.shape)
    meta = write_metadata(root, name, shape, data.dtype, shape, chunk_keys)
    folder = root / name
    chunk = meta.encode_chunk_key((0,) * len(shape))
    for entry in os.scandir(folder):  # an older array's other chunks
        if entry.name not in ("zarr.json", chunk):
            shutil.rmtree(entry.path) if entry.is_dir() else os.unlink(entry.path)
    if data.size:
        with open(folder / chunk, "wb") as f:
            f.write(memoryview(data).cast("B"))


def write_metadata(
    root: Path,
    name: str,
    shape: tuple[int, ...],
    dtype: Any,
    chunks: tuple[int, ...],
    chunk_keys: Mapping[str, Any],
) -> ArrayV3Metadata:
    """The ``zarr.json`` of an uncompressed array ``root/name`` (fill value 0), and its groups."""
    grid = {"chunk_shape": [max(1, c) for c in chunks]}
    meta = ArrayV3Metadata(
        shape=shape,
        data_type=get_data_type_from_native_dtype(np.dtype(dtype)),
        chunk_grid={"name": "regular", "configuration": grid},
        chunk_key_encoding=dict(chunk_keys),
        fill_value=0,
        codecs=(BytesCodec(),),
        attributes={},
        dimension_names=None,
    )
    folder = root / name
    _ensure_groups(root, folder.parent)
    folder.mkdir(exist_ok=True)
    _write_json_buffer(folder / "zarr.json", meta)
    return meta


def _ensure_groups(root: Path, folder: Path) -> None:
    """A group ``zarr.json`` in ``folder`` and each folder between it and ``root``."""
    parts = folder.relative_to(root).parts
    for depth in range(len(parts) + 1):
        here = root.joinpath(*parts[:depth])
        if not (here / "zarr.json").exists():
            here.mkdir(parents=True, exist_ok=True)
            _write_json_buffer(here / "zarr.json", GroupMetadata())


def _write_json_buffer(path: Path, meta: ArrayV3Metadata | GroupMetadata) -> None:
    path.write_bytes(meta.to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes())
