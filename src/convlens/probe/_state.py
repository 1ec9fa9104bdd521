"""The partial's byte image: a JSON header naming each array, then the arrays' bytes.

An ``.npz`` computes a CRC of every byte it writes; with 1,000 classes a probe's
state is a few hundred megabytes, saved every few seconds.

Example::

    data = pack({"counts": counts, "meta": meta})
    Unpacked(data)["counts"]
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import DataError

__all__ = ["Unpacked", "pack"]

_MAGIC = b"CLPARTIAL1"


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    entries, chunks, at = [], [], 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        entries.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "at": at})
        chunks.append(a.reshape(-1).view(np.uint8))
        at += a.nbytes
    head = json.dumps(entries).encode()
    return b"".join([_MAGIC, len(head).to_bytes(8, "little"), head, *chunks])


class Unpacked:
    """The arrays of :func:`pack`'s bytes, by name (``.files``, ``z[name]``)."""

    def __init__(self, data: bytes):
        if not data.startswith(_MAGIC):
            raise DataError(
                "the probe's partial.bin is not a partial of this convlens version; delete the "
                "store and probe again"
            )
        size = int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 8], "little")
        start = len(_MAGIC) + 8
        self._entries = {e["name"]: e for e in json.loads(data[start : start + size])}
        self._data, self._base = data, start + size
        self.files = list(self._entries)

    def __getitem__(self, name: str) -> np.ndarray:
        e = self._entries[name]
        dtype = np.dtype(e["dtype"])
        count = int(np.prod(e["shape"]))
        flat = np.frombuffer(self._data, dtype, count, self._base + e["at"])
        return flat.reshape(e["shape"]).copy()
