"""Compiled loops of the pair ranking (:mod:`convlens.explorer.ranking`): the grid-cell
class purity and emptiness of every pair, the k-NN class purity of one pair, and the
detail pass over the refined pairs (k-NN purity and scagnostics).
"""

from __future__ import annotations

import numba
import numpy as np

from ._scagnostics import distinct, scagnostics

__all__ = ["detail_pass", "grid_purity", "grid_sparse", "knn_same"]


@numba.njit(cache=True, nogil=True)
def grid_purity(codes, lab, classes, bins, min_class):  # pragma: no cover - compiled
    """(D, m) bin codes, dense labels -> (D, D) mean class lift of the grid-cell purity."""
    dims, m = codes.shape
    out = np.zeros((dims, dims), np.float32)
    counts = np.zeros((bins * bins, classes), np.int32)
    totals = np.zeros(bins * bins, np.int32)
    class_n = np.zeros(classes, np.int64)
    labelled = 0
    for p in range(m):
        if lab[p] >= 0:
            class_n[lab[p]] += 1
            labelled += 1
    if labelled < 2:
        return out
    base = np.zeros(classes)
    for c in range(classes):
        base[c] = (class_n[c] - 1) / (labelled - 1)
    touched = np.empty(bins * bins, np.int64)  # the cells this pair filled, to reset only those
    for i in range(dims):
        for j in range(i + 1, dims):
            filled = 0
            for p in range(m):
                if lab[p] >= 0:
                    cell = codes[i, p] * bins + codes[j, p]
                    if totals[cell] == 0:
                        touched[filled] = cell
                        filled += 1
                    counts[cell, lab[p]] += 1
                    totals[cell] += 1
            lift = 0.0
            for t in range(filled):
                cell = touched[t]
                total = totals[cell]
                if total >= 2:
                    for c in range(classes):
                        n = counts[cell, c]
                        if n > 0 and base[c] < 1.0:
                            purity = (n - 1) / (total - 1)
                            lift += n * (purity - base[c]) / (1.0 - base[c])
                totals[cell] = 0
                for c in range(classes):
                    counts[cell, c] = 0
            out[i, j] = out[j, i] = lift / labelled
    return out


@numba.njit(cache=True, nogil=True)
def grid_sparse(codes, bins):  # pragma: no cover - compiled
    """(D, m) bin codes -> (D, D) share of empty cells among the ones m points could fill."""
    dims, m = codes.shape
    out = np.zeros((dims, dims), np.float32)
    seen = np.zeros(bins * bins, np.uint8)
    fillable = min(m, bins * bins)
    for i in range(dims):
        for j in range(i + 1, dims):
            seen[:] = 0
            filled = 0
            for p in range(m):
                cell = codes[i, p] * bins + codes[j, p]
                if seen[cell] == 0:
                    seen[cell] = 1
                    filled += 1
            out[i, j] = out[j, i] = 1.0 - filled / fillable
    return out


@numba.njit(cache=True, nogil=True)
def knn_same(x, y, lab, k):  # pragma: no cover - compiled
    """(m,) share of each point's k nearest neighbours (brute force) with its label."""
    m = len(x)
    out = np.zeros(m)
    if k < 1:
        return out
    best_d = np.empty(k)
    best_l = np.empty(k, np.int64)
    for p in range(m):
        filled = 0
        for q in range(m):
            if q == p:
                continue
            d = (x[q] - x[p]) ** 2 + (y[q] - y[p]) ** 2
            if filled < k:
                pos = filled
                filled += 1
            elif d < best_d[k - 1]:
                pos = k - 1
            else:
                continue
            while pos > 0 and best_d[pos - 1] > d:
                best_d[pos] = best_d[pos - 1]
                best_l[pos] = best_l[pos - 1]
                pos -= 1
            best_d[pos] = d
            best_l[pos] = lab[q]
        same = 0
        for r in range(filled):
            if best_l[r] == lab[p]:
                same += 1
        out[p] = same / max(filled, 1)
    return out


@numba.njit(cache=True, nogil=True)
def detail_pass(unit, lab, classes, pairs, k, mst_points, min_class, labelled):  # pragma: no cover
    """(n, 6) per pair: separation, best class, its lift, clumpy, striated, outlying."""
    m = unit.shape[0]
    out = np.zeros((len(pairs), 6))
    class_n = np.zeros(max(classes, 1), np.int64)
    for p in range(m):
        if lab[p] >= 0:
            class_n[lab[p]] += 1
    kk = min(k, m - 1)
    for t in range(len(pairs)):
        i, j = pairs[t, 0], pairs[t, 1]
        x = unit[:, i].astype(np.float64)
        y = unit[:, j].astype(np.float64)
        if labelled:
            same = knn_same(x, y, lab, kk)
            sums = np.zeros(classes)
            for p in range(m):
                if lab[p] >= 0:
                    sums[lab[p]] += same[p]
            total = 0.0
            weight = 0
            best = -1
            best_lift = -np.inf
            for c in range(classes):
                n = class_n[c]
                if n < min_class or n < 2:
                    continue
                base = (n - 1) / (m - 1)
                lift = (sums[c] / n - base) / (1.0 - base) if base < 1.0 else 0.0
                total += n * lift
                weight += n
                if lift > best_lift:
                    best_lift = lift
                    best = c
            out[t, 0] = total / weight if weight > 0 else 0.0
            out[t, 1] = best
            out[t, 2] = best_lift if best >= 0 else 0.0
        keep = distinct(x, y, 4096)[:mst_points]
        clumpy, striated, outlying = scagnostics(x[keep], y[keep])
        out[t, 3] = clumpy
        out[t, 4] = striated
        out[t, 5] = outlying
    return out
