"""The explorer's binary wire format: one small JSON header, then raw typed arrays.

Layout of a message::

    b"CLV1" | uint32 little-endian L | L bytes of UTF-8 JSON (space padded) | payload

The header holds ``arrays``: one entry per array with ``name``, ``dtype`` (a
numpy little-endian dtype name such as ``"uint8"`` or ``"float16"``), ``shape``,
``offset`` (bytes from the start of the payload, a multiple of 8) and
``nbytes``, plus any metadata. The browser reads each array as a typed-array view
on the same buffer, so point data is never turned into JSON lists.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

MAGIC = b"CLV1"
_ALIGN = 8


def _pad(n: int) -> int:
    return (-n) % _ALIGN


def pack(arrays: dict[str, np.ndarray], **meta: Any) -> bytes:
    """Arrays and metadata -> one message.

    >>> msg = pack({"x": np.zeros(3, np.uint8)}, dims=1)
    >>> unpack(msg)[1]["x"].tolist()
    [0, 0, 0]
    """
    entries, chunks, offset = [], [], 0
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        raw = arr.tobytes()
        entries.append(
            {
                "name": name,
                "dtype": arr.dtype.name,
                "shape": list(arr.shape),
                "offset": offset,
                "nbytes": len(raw),
            }
        )
        chunks.append(raw + b"\0" * _pad(len(raw)))
        offset += len(raw) + _pad(len(raw))
    header = json.dumps({"arrays": entries, **meta}, separators=(",", ":")).encode()
    header += b" " * _pad(len(MAGIC) + 4 + len(header))
    return b"".join([MAGIC, len(header).to_bytes(4, "little"), header, *chunks])


def unpack(message: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One message -> (header, arrays by name); the inverse of :func:`pack`."""
    if message[:4] != MAGIC:
        raise ValueError(f"not a convlens explorer message: starts with {message[:4]!r}")
    size = int.from_bytes(message[4:8], "little")
    header = json.loads(message[8 : 8 + size])
    start = 8 + size
    arrays = {
        e["name"]: np.frombuffer(
            message, dtype=e["dtype"], count=int(np.prod(e["shape"])), offset=start + e["offset"]
        ).reshape(e["shape"])
        for e in header["arrays"]
    }
    return header, arrays
