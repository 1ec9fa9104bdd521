"""The probe store: a Zarr v3 group plus ``manifest.json`` listing complete arrays.

Layout of ``RUN/probe/<checkpoint>/``::

    manifest.json                 config, and "complete": arrays safe to read
    partial.npz                   the merged Partial of rows [0, rows) (resume, shard merge)
    zarr.json                     the Zarr v3 group
    embeddings/<layer>            (N, D) or (N, H, W, C) float16, chunks of whole batches
    outputs/logits                (N, K) float32 model outputs
    outputs/predictions           (N,) int64 (classifiers)
    outputs/labels, outputs/indices (N,) int64
    range/<layer>/min, max        (C,) float32
    class_means/<layer>           (K, *shape) float32; class_means/input (K, C, H, W)
    class_counts                  (K,) int64
    confusion                     (K, K) int64 (classifiers)
    topk/<layer>/values, image_index, position, boxes
    projection/<layer>/pca        (N, P) or (N, H, W, P), stored float16

Zarr files are written chunk by chunk and the manifest (written atomically)
names an array only once all its chunks are on disk, so a reader never sees a
partial array. Layer names are used as path parts with ``/`` kept out.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from .._atomic import write_bytes, write_json
from ._chunks import write_array, write_metadata

MANIFEST = "manifest.json"
PARTIAL = "partial.npz"
FORMAT = "convlens-probe/1"
# chunk files named "c.0.0.0.0" beside zarr.json: one file per chunk and no nested
# folders, which a streamed probe would otherwise create three of per chunk
CHUNK_KEYS = {"name": "default", "separator": "."}
# streamed arrays are chunked by whole batches, as many as fit in this many bytes:
# a probe makes a few dozen files rather than one per array and batch (making a
# file can cost a millisecond of CPU time on ext4 after many were deleted)
CHUNK_BYTES = 16 << 20

__all__ = ["CHUNK_BYTES", "FORMAT", "MANIFEST", "PARTIAL", "Store", "batch_chunk_rows", "layer_key"]


def batch_chunk_rows(batch_size: int, row_shape: tuple[int, ...], dtype: Any, n: int) -> int:
    """Rows per chunk of a streamed array: whole batches, as many as fit in ``CHUNK_BYTES``
    (at least one, at most enough for all ``n`` rows)."""
    batch_bytes = batch_size * np.dtype(dtype).itemsize * max(1, math.prod(row_shape))
    batches = min(max(1, CHUNK_BYTES // batch_bytes), max(1, -(-n // batch_size)))
    return batch_size * batches


def layer_key(name: str) -> str:
    """A layer name as one path part (dots kept, slashes replaced)."""
    return name.replace("/", "|") or "<root>"


class Store:
    """A probe directory: typed access to its arrays and its manifest."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ------------------------------------------------------------- manifest
    def read_manifest(self) -> dict[str, Any] | None:
        p = self.path / MANIFEST
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.path / MANIFEST, manifest)

    def write_partial(self, data: bytes) -> None:
        write_bytes(self.path / PARTIAL, data)

    def read_partial(self) -> bytes | None:
        p = self.path / PARTIAL
        return p.read_bytes() if p.exists() else None

    # --------------------------------------------------------------- arrays
    def create(
        self, name: str, shape: tuple[int, ...], dtype: Any, chunk_rows: int | None = None
    ) -> zarr.Array:
        """A new uncompressed array (replacing any old one), chunked by rows, opened."""
        self.declare(name, shape, dtype, chunk_rows)
        return self.open(name, mode="r+")

    def declare(
        self, name: str, shape: tuple[int, ...], dtype: Any, chunk_rows: int | None = None
    ) -> None:
        """Write only the ``zarr.json`` of a new array; chunks never written read as zeros."""
        chunks = tuple(shape) if chunk_rows is None else (chunk_rows, *shape[1:])
        folder = self.path / name
        if folder.exists():  # an older array's chunks must not show through
            shutil.rmtree(folder)
        write_metadata(self.path, name, tuple(shape), dtype, chunks, CHUNK_KEYS)

    def open(self, name: str, mode: str = "r") -> zarr.Array:
        return zarr.open_array(store=str(self.path / name), mode=mode)

    def write(self, name: str, data: np.ndarray) -> None:
        """Write a whole (small) array in one go (one chunk, written directly)."""
        write_array(self.path, name, data, CHUNK_KEYS)

    def read(self, name: str) -> np.ndarray:
        return self.open(name)[...]

    def init_group(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        zarr.open_group(store=str(self.path), mode="a")
