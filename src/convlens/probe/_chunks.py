"""Row chunks of uncompressed Zarr v3 arrays, written straight to their files.

The probe streams its rows a batch at a time into chunks of one or more batches.
Through ``zarr`` each write goes through its event-loop and I/O threads, which
costs more than the write itself on a busy CPU, and a write of part of a chunk
reads and rewrites the whole chunk. An uncompressed Zarr v3 chunk is only the
chunk's bytes in C order (``bytes`` codec; edge chunks padded to the full chunk
shape with the fill value), stored under the key the array's chunk-key encoding
gives, so a batch's rows are one byte range of it. :class:`RowChunks` writes
them there itself when the array's metadata says that is the layout, and hands
anything else back to ``zarr``.

:func:`write_array` writes a small whole array the same way: its ``zarr.json``
comes from zarr's own metadata classes, and its one chunk is written directly.
Creating it through zarr's asynchronous API costs a few milliseconds each, which
over the ~50 small derived arrays of a probe was a sizeable part of its time.
"""

from __future__ import annotations

import functools
import math
import mmap
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
HELD_CHUNK = 1 << 20  # chunks up to this size are gathered in memory and written whole

__all__ = ["ALIGN", "RowChunks", "aligned_buffer", "write_array", "write_metadata", "write_rows"]


class RowChunks:
    """Writes rows ``start:start+len(block)`` of ``array``, into chunk files directly when it can.

    A block that lies inside one chunk is written at its place in that chunk's file
    (an uncompressed chunk is its rows one after another), so a chunk may hold many
    batches and be filled one batch at a time. A chunk file is made at its full size,
    so rows not yet written (and the rows past the end of an edge chunk) read as the
    fill value, zero. Blocks across chunks, or arrays stored otherwise, go through
    ``zarr``.

    >>> # RowChunks(store.open("embeddings/conv1", mode="r+")).write(0, block)
    """

    def __init__(self, array: zarr.Array):
        self.array = array
        self.rows = array.chunks[0]
        self.folder = _direct_folder(array)
        self.row_bytes = array.dtype.itemsize * math.prod(array.shape[1:])
        self._stage = np.empty(0, np.uint8)
        self._carry: tuple[Path, int, bytes] | None = None  # see write
        self._held: tuple[Path, int, bytearray] | None = None  # see _hold

    def _place(self, start: int, stop: int) -> tuple[Path, int] | None:
        """The chunk file holding rows ``start:stop`` and their byte offset in it."""
        if self.folder is None or stop <= start or start // self.rows != (stop - 1) // self.rows:
            return None
        key = self.array.metadata.encode_chunk_key(
            (start // self.rows,) + (0,) * (self.array.ndim - 1)
        )
        return self.folder / key, (start % self.rows) * self.row_bytes

    def write(self, start: int, block: np.ndarray) -> None:
        """Write rows ``start:start+len(block)``.

        Blocks written one after another into a chunk go to the disk by direct I/O
        even when their size is not a multiple of the disk block: each write takes
        the whole blocks of (last tail + this block) and carries the rest to the
        next one; the chunk's last block writes its tail through the page cache,
        as does :meth:`flush`. A write that cannot start on a disk block (the first
        one after a resume, say) goes through the page cache, as do the writes
        after it until the next chunk. Chunks of at most ``HELD_CHUNK`` bytes are
        held in memory and written whole (:meth:`_hold`).
        """
        stop = start + len(block)
        place = self._place(start, stop)
        if place is None or stop > self.array.shape[0] or block.shape[1:] != self.array.shape[1:]:
            self.flush()  # what is held goes first, so this write lands after it
            self._held = self._carry = None
            self.array[start:stop] = block
            return
        data = np.ascontiguousarray(block, dtype=self.array.dtype.newbyteorder("<"))
        path, offset = place
        size = self.rows * self.row_bytes
        last = stop == self.array.shape[0] or stop % self.rows == 0
        if size <= HELD_CHUNK:
            self._hold(path, offset, data, last)
            return
        carry = self._carry
        self._carry = None
        if carry is not None and (carry[0] != path or carry[1] + len(carry[2]) != offset):
            carry = None
        if carry is None and offset % ALIGN:
            write_rows(path, data, offset, size)
            return
        at, head = (carry[1], carry[2]) if carry is not None else (offset, b"")
        if not head and data.ctypes.data % ALIGN == 0 and (last or data.nbytes % ALIGN == 0):
            write_rows(path, data, at, size, direct_min=ALIGN)  # whole disk blocks already
            if not last:
                self._carry = (path, at + data.nbytes, b"")
            return
        total = len(head) + data.nbytes
        if len(self._stage) < total:
            self._stage = aligned_buffer(total + ALIGN)
        staged = self._stage[:total]
        staged[: len(head)] = np.frombuffer(head, np.uint8)
        staged[len(head) :] = data.reshape(-1).view(np.uint8)
        keep = 0 if last else total % ALIGN
        write_rows(path, staged[: total - keep], at, size, direct_min=ALIGN)
        if not last:
            self._carry = (path, at + total - keep, staged[total - keep :].tobytes())

    def _hold(self, path: Path, offset: int, data: np.ndarray, last: bool) -> None:
        """Gather a small chunk's rows in memory; write them when the chunk is whole.

        A small array written batch by batch would cost a file write per batch, and
        the writer thread's Python work per write competes with the pass for the GIL.
        Rows that do not follow the held ones start a new hold (the old one written).
        """
        held = self._held
        if held is not None and (held[0] != path or held[1] + len(held[2]) != offset):
            self.flush()
            held = None
        if held is None:
            held = (path, offset, bytearray())
        held[2].extend(memoryview(data).cast("B"))
        self._held = held
        if last:
            self.flush()
            self._held = None

    def flush(self) -> None:
        """Put what is held or carried for the next block on disk now (page cache)."""
        size = self.rows * self.row_bytes
        if self._held is not None and self._held[2]:
            path, at, rows = self._held
            write_rows(path, np.frombuffer(rows, np.uint8), at, size)
        if self._carry is not None and self._carry[2]:
            path, at, tail = self._carry
            write_rows(path, np.frombuffer(tail, np.uint8), at, size)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop``, read from their chunk file directly when they lie in one
        (after putting on disk what this writer holds)."""
        self.flush()
        stop = min(stop, self.array.shape[0])
        place = self._place(start, stop)
        if place is None:
            return self.array[start:stop]
        path, offset = place
        shape = (stop - start, *self.array.shape[1:])
        if not path.exists():  # a chunk never written (or all fill value) reads as zeros
            return np.zeros(shape, self.array.dtype)
        count = math.prod(shape)
        data = np.fromfile(path, self.array.dtype.newbyteorder("<"), count=count, offset=offset)
        if len(data) < count:  # a chunk file cut short reads as zeros past its end
            data = np.concatenate([data, np.zeros(count - len(data), data.dtype)])
        return data.reshape(shape).astype(self.array.dtype, copy=False)


def write_rows(
    path: Path, data: np.ndarray, offset: int, size: int, direct_min: int = DIRECT_MIN
) -> None:
    """The bytes of ``data`` at ``offset`` in the file ``path`` of ``size`` bytes.

    A file not there yet is made at ``size`` bytes (a sparse file: what is not
    written reads as zeros). A block of at least ``direct_min`` bytes at a
    page-aligned address and offset goes to the disk with ``O_DIRECT``: the device
    copies it, so the write costs the CPU little and overlaps the forward pass of
    the next batch (a page-cache write is a memory copy plus page bookkeeping by
    the CPU, and later writeback). The block-aligned head
    is written that way and the rest through the page cache. Where direct I/O is
    missing or refused (tmpfs, other systems), it all goes through the page cache.
    """
    view = memoryview(np.ascontiguousarray(data)).cast("B")
    head = len(view) - len(view) % ALIGN
    direct = getattr(os, "O_DIRECT", 0)
    aligned = data.ctypes.data % ALIGN == 0 and offset % ALIGN == 0
    if (
        direct
        and aligned
        and head >= direct_min
        and _write_direct(path, view[:head], offset, size, direct)
    ):
        view, offset = view[head:], offset + head
        if not len(view):
            return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        _fill(fd, view, offset, size)
    finally:
        os.close(fd)


def aligned_buffer(nbytes: int) -> np.ndarray:
    """``nbytes`` of zeroed memory starting on a page boundary (an anonymous ``mmap``)."""
    memory = mmap.mmap(-1, max(nbytes, 1))  # the array holds the map
    return np.frombuffer(memory, np.uint8)[:nbytes]


def _write_direct(path: Path, view: memoryview, offset: int, size: int, flag: int) -> bool:
    """Write ``view`` (block-aligned) at ``offset`` of ``path`` with O_DIRECT; False if refused."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | flag, 0o644)
    except OSError:
        return False
    try:
        _fill(fd, view, offset, size)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _fill(fd: int, view: memoryview, offset: int, size: int) -> None:
    """``view`` at ``offset`` of the open file ``fd``, which is first grown to ``size``."""
    if os.fstat(fd).st_size < size:
        os.ftruncate(fd, size)
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


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
    chunk = write_metadata(root, name, shape, data.dtype, shape, chunk_keys)
    folder = root / name
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
) -> str:
    """The ``zarr.json`` of an uncompressed array ``root/name`` (fill value 0), and its
    groups; returns the key of its first chunk."""
    text, first = _array_json(
        tuple(shape), np.dtype(dtype).str, tuple(chunks), tuple(sorted(chunk_keys.items()))
    )
    folder = root / name
    _ensure_groups(root, folder.parent)
    folder.mkdir(exist_ok=True)
    (folder / "zarr.json").write_bytes(text)
    return first


@functools.lru_cache(maxsize=512)
def _array_json(
    shape: tuple[int, ...], dtype: str, chunks: tuple[int, ...], chunk_keys: tuple
) -> tuple[bytes, str]:
    """``zarr.json`` bytes and first chunk key, from zarr's own metadata class (made once
    per kind of array: making it costs more than writing the file)."""
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
    text = meta.to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes()
    return text, meta.encode_chunk_key((0,) * len(shape))


def _ensure_groups(root: Path, folder: Path) -> None:
    """A group ``zarr.json`` in ``folder`` and each folder between it and ``root``."""
    parts = folder.relative_to(root).parts
    for depth in range(len(parts) + 1):
        here = root.joinpath(*parts[:depth])
        if not (here / "zarr.json").exists():
            here.mkdir(parents=True, exist_ok=True)
            (here / "zarr.json").write_bytes(_group_json())


@functools.cache
def _group_json() -> bytes:
    """The ``zarr.json`` of a group with no attributes (made once)."""
    return GroupMetadata().to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes()
