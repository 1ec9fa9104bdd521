"""The minimum spanning tree and the scagnostics measured on it, in compiled loops.

After Wilkinson, Anand and Grossman (2005), "Graph-theoretic scagnostics": on the
Euclidean minimum spanning tree of the distinct points of a scatter plot,

- ``clumpy``: the largest ``1 - longest runt edge / edge`` over the edges whose removal
  splits off a runt of at least 5 points and 5% of the tree;
- ``striated``: the share of degree-2 vertices whose two edges are nearly collinear
  (cosine < -0.75);
- ``outlying``: the share of the tree's length on edges of outlying vertices (every edge
  of the vertex longer than q75 + 1.5 IQR of the edge lengths).

Used by :mod:`convlens.explorer.ranking`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["distinct", "mst", "scagnostics"]


@numba.njit(cache=True, nogil=True)
def mst(x, y):  # pragma: no cover - compiled
    """Prim's algorithm, O(n²): parent (n,) (-1 for the root) and edge length (n,)."""
    n = len(x)
    parent = np.full(n, -1, np.int64)
    length = np.zeros(n)
    best = np.full(n, np.inf)
    done = np.zeros(n, np.uint8)
    best[0] = 0.0
    for _ in range(n):
        u = -1
        bu = np.inf
        for v in range(n):
            if done[v] == 0 and best[v] < bu:
                bu = best[v]
                u = v
        if u < 0:
            break
        done[u] = 1
        length[u] = bu if parent[u] >= 0 else 0.0
        for v in range(n):
            if done[v] == 0:
                d = math.sqrt((x[u] - x[v]) ** 2 + (y[u] - y[v]) ** 2)
                if d < best[v]:
                    best[v] = d
                    parent[v] = u
    return parent, length


@numba.njit(cache=True, nogil=True)
def scagnostics(x, y):  # pragma: no cover - compiled
    """(clumpy, striated, outlying) of the minimum spanning tree of (x, y)."""
    n = len(x)
    if n < 4:
        return 0.0, 0.0, 0.0
    parent, length = mst(x, y)
    edges = np.empty(n - 1)
    degree = np.zeros(n, np.int64)
    e = 0
    for v in range(n):
        if parent[v] >= 0:
            edges[e] = length[v]
            e += 1
            degree[v] += 1
            degree[parent[v]] += 1
    total = edges.sum()
    if total <= 0:
        return 0.0, 0.0, 0.0
    q25, q75 = np.quantile(edges, 0.25), np.quantile(edges, 0.75)
    far = q75 + 1.5 * (q75 - q25)
    # outlying: tree length on the edges of vertices whose every edge is long
    has_short = np.zeros(n, np.uint8)  # per vertex: does one of its edges stay short?
    for v in range(n):
        if parent[v] >= 0 and length[v] <= far:
            has_short[v] = 1
            has_short[parent[v]] = 1
    out_len = 0.0
    for v in range(n):
        if parent[v] >= 0 and (has_short[v] == 0 or has_short[parent[v]] == 0):
            out_len += length[v]
    outlying = out_len / total
    # striated: degree-2 vertices whose two edges are nearly opposite
    nb = np.full((n, 2), -1, np.int64)
    fill = np.zeros(n, np.int64)
    for v in range(n):
        p = parent[v]
        if p >= 0:
            if fill[v] < 2:
                nb[v, fill[v]] = p
            fill[v] += 1
            if fill[p] < 2:
                nb[p, fill[p]] = v
            fill[p] += 1
    deg2 = 0
    straight = 0
    for v in range(n):
        if degree[v] == 2:
            deg2 += 1
            a, b = nb[v, 0], nb[v, 1]
            ax, ay = x[a] - x[v], y[a] - y[v]
            bx, by = x[b] - x[v], y[b] - y[v]
            na = math.sqrt(ax * ax + ay * ay) * math.sqrt(bx * bx + by * by)
            if na > 0 and (ax * bx + ay * by) / na < -0.75:
                straight += 1
    striated = straight / deg2 if deg2 > 0 else 0.0
    # clumpy: for each edge, the longest edge of the smaller side (its runt)
    order = np.empty(n, np.int64)  # vertices in Prim order: parents come first
    seen = np.zeros(n, np.uint8)
    count = 0
    for root in range(n):
        if parent[root] < 0 and seen[root] == 0:
            order[count] = root
            seen[root] = 1
            count += 1
    head = 0
    children_start = np.zeros(n + 1, np.int64)
    for v in range(n):
        if parent[v] >= 0:
            children_start[parent[v] + 1] += 1
    for v in range(n):
        children_start[v + 1] += children_start[v]
    children = np.empty(max(n - 1, 1), np.int64)
    put = children_start[:-1].copy()
    for v in range(n):
        if parent[v] >= 0:
            children[put[parent[v]]] = v
            put[parent[v]] += 1
    while head < count:
        u = order[head]
        head += 1
        for c in range(children_start[u], children_start[u + 1]):
            order[count] = children[c]
            count += 1
    size = np.ones(n, np.int64)
    sub_max = np.zeros(n)  # longest edge inside each subtree
    for t in range(count - 1, -1, -1):
        v = order[t]
        p = parent[v]
        if p >= 0:
            size[p] += size[v]
            m = max(sub_max[v], length[v])
            if m > sub_max[p]:
                sub_max[p] = m
    # the rest of the tree outside subtree v: longest edge, by a top-down pass
    out_max = np.zeros(n)
    for t in range(count):
        v = order[t]
        best1 = 0.0
        best2 = 0.0  # the two largest child contributions of v
        for c in range(children_start[v], children_start[v + 1]):
            ch = children[c]
            val = max(sub_max[ch], length[ch])
            if val > best1:
                best2 = best1
                best1 = val
            elif val > best2:
                best2 = val
        for c in range(children_start[v], children_start[v + 1]):
            ch = children[c]
            val = max(sub_max[ch], length[ch])
            sibling = best2 if val == best1 else best1
            up = out_max[v]
            if parent[v] >= 0 and length[v] > up:
                up = length[v]
            out_max[ch] = max(up, sibling)
    clumpy = 0.0
    runt_min = max(5, n // 20)
    for v in range(n):
        if parent[v] < 0 or length[v] <= 0:
            continue
        inside = size[v]
        outside = n - inside
        runt = sub_max[v] if inside <= outside else out_max[v]
        if min(inside, outside) < runt_min:
            continue
        value = 1.0 - runt / length[v]
        if value > clumpy:
            clumpy = value
    return clumpy, striated, outlying


@numba.njit(cache=True, nogil=True)
def distinct(x, y, cells):  # pragma: no cover - compiled
    """Indices (in order) of the points left when repeats on a ``cells`` grid are dropped."""
    n = len(x)
    keys = np.empty(n, np.int64)
    for p in range(n):
        keys[p] = min(int(x[p] * cells), cells - 1) * cells + min(int(y[p] * cells), cells - 1)
    order = np.argsort(keys)
    first = np.zeros(n, np.uint8)
    for t in range(n):
        if t == 0 or keys[order[t]] != keys[order[t - 1]]:
            first[order[t]] = 1
    return np.nonzero(first)[0]
