"""Whole chunk files of uncompressed Zarr v3 arrays, written by direct I/O.

An uncompressed Zarr v3 chunk (one ``bytes`` codec, little endian, fill value 0) is
only the chunk's bytes in C order, edge chunks padded to the full chunk shape, in
the file its chunk-key encoding names. The probe writes its streamed chunks (several
hundred megabytes for lenet over 10,000 images) straight to those files with
``O_DIRECT``: the device copies them, so the writes cost the CPU almost nothing and
overlap the next forward pass, where a page-cache write costs a memory copy and page
bookkeeping per byte (``benchmarks/probe.py --writer zarr`` measures the difference).

This depends on the layout of a Zarr release, so it is used only with the releases
it was tested with (:data:`TESTED_ZARR`, checked by :func:`direct_folder`), and only
for arrays whose metadata says they are stored that way; anything else is written
through ``zarr``'s own API.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BytesCodec
from zarr.storage import LocalStore

ALIGN = 4096  # O_DIRECT wants block-aligned addresses, offsets and lengths
DIRECT_MIN = 1 << 20  # smaller files are not worth it

TESTED_ZARR = ("3.1.",)  # zarr releases whose chunk files this module writes itself

__all__ = ["ALIGN", "TESTED_ZARR", "aligned_buffer", "chunk_file", "direct_folder", "write_rows"]


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


def direct_folder(array: zarr.Array) -> Path | None:
    """The array's folder when this zarr release is a tested one and the array's chunks
    are plain bytes of whole trailing rows; None otherwise (write through zarr)."""
    if not zarr.__version__.startswith(TESTED_ZARR):
        return None
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


def chunk_file(folder: Path, array: zarr.Array, chunk: int) -> Path:
    """The file of chunk ``chunk`` (along the first axis) of ``array`` in ``folder``."""
    return folder / array.metadata.encode_chunk_key((chunk,) + (0,) * (array.ndim - 1))
