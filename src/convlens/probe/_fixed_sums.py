"""Exact per-class sums of float16 rows, as fixed-point integers, in one compiled loop.

A float16 number is a multiple of 2**-24 below 2**16, so ``value * 2**24`` is an
integer below 2**40, read straight off its bits: ``mantissa`` for subnormals,
``(1024 + mantissa) << (exponent - 1)`` for the others. Adding those integers is
exact and independent of the order, which is what lets probe shards merge
bit-for-bit (see :mod:`convlens.probe.partial`).

The loop is compiled by numba on first use (cached on disk after that). It reads
each stored value once, as its 16 bits, and adds it into its class's row: several
times faster than widening to float64 and ``index_add`` in torch, and it runs on
the calling thread, so torch's threads stay free for the forward pass.

Example::

    sums = np.zeros((classes, features), np.int64)
    add_class_sums(stored16.reshape(batch, -1), labels, sums)
"""

from __future__ import annotations

import numba
import numpy as np
import torch

__all__ = ["add_class_sums"]


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _add_rows(bits: np.ndarray, labels: np.ndarray, sums: np.ndarray) -> int:
    """Add each row of ``bits`` (B, F) uint16 into ``sums[labels[b]]``; -1 on a bad label.

    Rows are added in order up to the first bad label, which stops the loop.
    """
    rows, width = bits.shape
    classes = sums.shape[0]
    for b in range(rows):
        label = labels[b]
        if label < 0 or label >= classes:
            return -1
        total = sums[label]
        for j in range(width):
            u = np.int64(bits[b, j])
            exponent = (u >> 10) & 0x1F
            mantissa = u & 0x3FF
            size = mantissa if exponent == 0 else (mantissa | 0x400) << (exponent - 1)
            total[j] += -size if u & 0x8000 else size
    return 0


def add_class_sums(values: torch.Tensor, labels: torch.Tensor, sums: np.ndarray) -> None:
    """Add float16 ``values`` (B, F), CPU, into ``sums`` (K, F) int64 by ``labels`` (B,).

    Each value counts as ``value * 2**24`` (exact). Infinite and NaN values count as
    the integer their bits would give were the exponent finite: the probe refuses
    such batches anyway.
    """
    if values.dtype != torch.float16 or values.device.type != "cpu":
        raise TypeError(f"expected float16 CPU values, got {values.dtype} on {values.device}")
    if values.ndim != 2 or sums.shape != (sums.shape[0], values.shape[1]):
        raise ValueError(f"values {tuple(values.shape)} do not add into sums {sums.shape}")
    if sums.dtype != np.int64 or not sums.flags.c_contiguous:
        raise TypeError("sums must be a C-contiguous int64 array")
    bits = values.contiguous().view(torch.int16).numpy().view(np.uint16)
    lab = np.ascontiguousarray(labels.cpu().numpy(), dtype=np.int64)
    if len(lab) != len(bits):
        raise ValueError(f"{len(lab)} labels for {len(bits)} rows")
    if _add_rows(bits, lab, sums) < 0:
        raise ValueError(f"labels must lie in 0..{sums.shape[0] - 1}, got {lab.min()}..{lab.max()}")
