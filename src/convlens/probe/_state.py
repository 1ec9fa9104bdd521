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


_DAMAGED = "the probe's partial.bin is damaged ({}); delete the store and probe again"


class Unpacked:
    """The arrays of :func:`pack`'s bytes, by name (``.files``, ``z[name]``).

    Bytes that are not a whole partial (truncated, another format, a header that does
    not fit the data) raise one :class:`~convlens.errors.DataError` line here, before
    any array is used."""

    def __init__(self, data: bytes):
        if not data.startswith(_MAGIC):
            raise DataError(
                "the probe's partial.bin is not a partial of this convlens version; delete the "
                "store and probe again"
            )
        size = int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 8], "little")
        start = len(_MAGIC) + 8
        if start + size > len(data):
            raise DataError(_DAMAGED.format(f"its header needs {size} bytes, {len(data)} in all"))
        try:
            entries = json.loads(data[start : start + size])
            self._entries = {e["name"]: _entry(e) for e in entries}
        except (ValueError, TypeError, KeyError) as exc:
            raise DataError(_DAMAGED.format(f"its header cannot be read: {exc!r}")) from None
        self._data, self._base = data, start + size
        for e in self._entries.values():
            end = self._base + e["at"] + e["nbytes"]
            if end > len(data):
                raise DataError(
                    _DAMAGED.format(f"array {e['name']!r} ends at byte {end}, past {len(data)}")
                )
        self.files = list(self._entries)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._entries:
            raise DataError(_DAMAGED.format(f"it holds no array {name!r}"))
        e = self._entries[name]
        flat = np.frombuffer(self._data, e["dtype"], e["count"], self._base + e["at"])
        return flat.reshape(e["shape"]).copy()


def _entry(e: dict) -> dict:
    """A header entry with its dtype, count and byte size checked (ValueError/TypeError)."""
    dtype = np.dtype(e["dtype"])
    shape = [int(v) for v in e["shape"]]
    at = int(e["at"])
    if at < 0 or any(v < 0 for v in shape) or dtype.hasobject:
        raise ValueError(f"entry {e['name']!r}: offset {at}, shape {shape}, dtype {dtype}")
    count = int(np.prod(shape))
    return {**e, "dtype": dtype, "shape": shape, "at": at, "count": count,
            "nbytes": count * dtype.itemsize}  # fmt: skip
