"""Which dimension pairs of a layer show structure: the explorer's guide to its matrix.

Seein' In leaves finding the interesting cell of a D x D scatter plot matrix to luck.
:func:`rank_pairs` scores every pair (i, j) of a plain (P, D) matrix of points (a
layer's stored points, whatever was sampled) with their class labels, on a seeded
sample, in two passes:

1. **Screening, every pair.** Each dimension is scaled to 0..1 over the sample (as the
   matrix draws it) and cut into ``bins`` equal bins. In each pair's ``bins x bins``
   grid, a point's *cell purity* is the share of the other points in its cell that
   share its class. A class's lift is ``(purity - base) / (1 - base)``, with ``base``
   the share it would have at random, ``(n_c - 1) / (n - 1)``; the pair's screening
   score is the mean lift over points. This is the overview's heat map.
2. **Detail, the best candidates** (every pair when there are at most ``refine``):
   - ``separation``: the same lift with the ``k`` nearest neighbours in the pair's
     plane instead of the grid cell (k-NN class purity), and ``class_lift`` for the
     class with the largest lift (``best_class``);
   - scagnostics after Wilkinson, Anand and Grossman (2005), on the Euclidean minimum
     spanning tree of up to ``mst_points`` distinct points: ``clumpy`` (the largest
     ``1 - longest runt edge / edge`` over edges that split off a runt of at least
     5 points and 5% of the tree), ``striated`` (the share of degree-2 vertices whose
     two edges are nearly collinear, cos < -0.75), ``outlying`` (the share of tree
     length on edges of outlying points, edges longer than q75 + 1.5 IQR);
   - ``linear``: the squared Pearson correlation over the screening sample.

Without labels (or with fewer than two classes of ``min_class`` sampled points) the
class measures are left out and the screening score is the share of empty grid
cells among those the points could fill (``sparse``).

Cost: one pass of compiled loops over ``sample`` points per pair, then
``detail_sample`` squared distances per refined pair (see ``docs/explorer.md``).

>>> rng = np.random.default_rng(0)
>>> x = rng.random((400, 6)).astype(np.float32); y = np.arange(400) % 4
>>> x[y == 1, 2] = 0.5; x[y == 1, 4] = 0.5          # class 1 clumps in dims (2, 4)
>>> r = rank_pairs(x, y)
>>> (r.pairs[0]["x"], r.pairs[0]["y"], r.pairs[0]["best_class"])
(2, 4, 1)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from ..errors import ConvlensError

__all__ = ["PairRanking", "RankSpec", "class_spread", "rank_pairs"]


@dataclass(frozen=True)
class RankSpec:
    """Sample sizes and knobs of :func:`rank_pairs` (defaults suit 10^4..10^6 points)."""

    sample: int = 4000  # points of the screening pass over every pair
    bins: int = 16  # grid cells per axis of the screening purity
    detail_sample: int = 600  # points of the k-NN purity of the refined pairs
    mst_points: int = 250  # distinct points of each refined pair's spanning tree
    k: int = 8  # neighbours of the k-NN purity
    refine: int = 1300  # pairs measured in detail (all of them when there are fewer)
    min_class: int = 10  # sampled points a class needs to be scored
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("sample", "bins", "detail_sample", "mst_points", "k", "refine", "min_class"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConvlensError(f"RankSpec.{name} is {value!r}: expected a positive integer")


@dataclass
class PairRanking:
    """The result of :func:`rank_pairs`.

    - ``screen`` (D, D) float32: the screening score of every pair, symmetric, NaN on
      the diagonal;
    - ``pairs``: the refined pairs as dicts (``x``, ``y`` with x < y, ``separation``,
      ``best_class``, ``class_lift``, ``clumpy``, ``striated``, ``outlying``,
      ``linear``), best first by ``separation`` (by ``clumpy`` without labels);
    - ``cost``: points, sampled points, pairs screened and refined, seconds.
    """

    dims: int
    labelled: bool
    screen: np.ndarray
    pairs: list[dict[str, Any]]
    measures: tuple[str, ...]
    cost: dict[str, float] = field(default_factory=dict)


def rank_pairs(
    points: np.ndarray, labels: np.ndarray | None = None, spec: RankSpec | None = None
) -> PairRanking:
    """Rank every dimension pair of ``points`` (P, D) by the structure it shows.

    ``labels`` (P,) ints (negative: unlabelled) or None. Non-finite values count as the
    dimension's minimum. See the module docstring for the measures.
    """
    spec = spec or RankSpec()
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] < 2 or len(pts) < 3:
        raise ConvlensError(
            f"points of shape {pts.shape} cannot be ranked: expected (P, D) with P >= 3 points "
            "and D >= 2 dimensions"
        )
    if labels is not None and len(labels) != len(pts):
        raise ConvlensError(
            f"{len(labels)} labels for {len(pts)} points: expected one label per point"
        )
    started = time.perf_counter()
    n_points, dims = pts.shape
    rng = np.random.default_rng(spec.seed)
    take = np.sort(rng.choice(n_points, min(n_points, spec.sample), replace=False))
    unit = _unit(pts[take])
    lab, kept = _classes(None if labels is None else np.asarray(labels)[take], len(take), spec)
    classes = len(kept)
    labelled = classes >= 2
    codes = np.minimum((unit * spec.bins).astype(np.int32), spec.bins - 1)
    if labelled:
        screen = _grid_purity(codes, lab, classes, spec.bins, spec.min_class)
    else:
        screen = _grid_sparse(codes, spec.bins)
    np.fill_diagonal(screen, np.nan)
    linear = _r2(unit)
    candidates = _candidates(screen, linear, spec.refine)
    order = rng.permutation(len(unit))
    detail = unit[order[: spec.detail_sample]]
    detail_lab = lab[order[: spec.detail_sample]]
    values = _detail(
        detail, detail_lab, classes, candidates, spec.k, spec.mst_points, spec.min_class, labelled
    )
    pairs = []
    for (i, j), row in zip(candidates.tolist(), values, strict=True):
        entry: dict[str, Any] = {"x": i, "y": j}
        if labelled:
            best = int(kept[int(row[1])]) if row[1] >= 0 else -1
            entry.update(separation=float(row[0]), best_class=best, class_lift=float(row[2]))
        entry.update(
            clumpy=float(row[3]),
            striated=float(row[4]),
            outlying=float(row[5]),
            linear=float(linear[i, j]),
        )
        pairs.append(entry)
    key = "separation" if labelled else "clumpy"
    pairs.sort(key=lambda p: (-p[key], p["x"], p["y"]))
    measures = ("clumpy", "striated", "outlying", "linear")
    if labelled:
        measures = ("separation", "class_lift", *measures)
    return PairRanking(
        dims=dims,
        labelled=labelled,
        screen=screen.astype(np.float32),
        pairs=pairs,
        measures=measures,
        cost={
            "points": n_points,
            "sampled": len(take),
            "detail_points": len(detail),
            "pairs": dims * (dims - 1) // 2,
            "refined": len(candidates),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )


def class_spread(points: np.ndarray, labels: np.ndarray, k: int = 8) -> list[dict[str, Any]]:
    """Per-class spread of a 2-D layer (P, 2) with labels (P,): one dict per class.

    ``count``; ``mean`` [x, y]; ``spread``: root-mean-square distance to the class mean;
    ``origin``: distance of the mean from (0, 0); ``purity``: the share of each point's
    ``k`` nearest neighbours (on at most 4,000 points, axes scaled to 0..1) of its class.
    Sorted by ``spread``, tightest first (seed 004 §4.2: the tight cluster of 1s).

    >>> p = np.array([[0, 0], [0, 0.1], [5, 5], [5, 7]], float)
    >>> [(r["label"], round(r["spread"], 2)) for r in class_spread(p, np.array([0, 0, 1, 1]), k=1)]
    [(0, 0.05), (1, 1.0)]
    """
    pts = np.asarray(points, np.float64)
    lab = np.asarray(labels).astype(np.int64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ConvlensError(f"class spread needs (P, 2) points, got shape {pts.shape}")
    rng = np.random.default_rng(0)
    take = np.sort(rng.choice(len(pts), min(len(pts), 4000), replace=False))
    unit = _unit(pts[take])
    same = _knn_same(unit[:, 0].copy(), unit[:, 1].copy(), lab[take], min(k, len(take) - 1))
    rows = []
    for c in np.unique(lab[lab >= 0]):
        mine = pts[lab == c]
        mean = mine.mean(0)
        rows.append(
            {
                "label": int(c),
                "count": len(mine),
                "mean": [float(mean[0]), float(mean[1])],
                "spread": float(np.sqrt(((mine - mean) ** 2).sum(1).mean())),
                "origin": float(np.hypot(*mean)),
                "purity": float(same[lab[take] == c].mean()) if (lab[take] == c).any() else 0.0,
            }
        )
    rows.sort(key=lambda r: (r["spread"], r["label"]))
    return rows


# --------------------------------------------------------------------------- helpers
def _unit(x: np.ndarray) -> np.ndarray:
    """(m, D) -> float32 in 0..1 per column (min..max); constant columns at 0.5."""
    x = np.array(x, dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        low = np.where(bad, np.inf, x).min(0)
        low[~np.isfinite(low)] = 0.0
        x[bad] = np.broadcast_to(low, x.shape)[bad]
    lo, hi = x.min(0), x.max(0)
    span = hi - lo
    out = (x - lo) / np.where(span > 0, span, 1)
    out[:, span <= 0] = 0.5
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _classes(labels: np.ndarray | None, m: int, spec: RankSpec) -> tuple[np.ndarray, np.ndarray]:
    """Labels (m,) -> dense codes 0..K-1 of the classes with ``spec.min_class`` points (-1
    for the others), and the K label values kept."""
    if labels is None:
        return np.full(m, -1, np.int32), np.zeros(0, np.int64)
    labels = labels.astype(np.int64)
    known, counts = np.unique(labels[labels >= 0], return_counts=True)
    kept = known[counts >= spec.min_class]
    code = np.full(len(labels), -1, np.int32)
    for c, value in enumerate(kept):
        code[labels == value] = c
    return code, kept


def _r2(unit: np.ndarray) -> np.ndarray:
    """(D, D) squared Pearson correlations (0 for constant columns)."""
    centred = unit - unit.mean(0)
    norm = np.sqrt((centred**2).sum(0))
    norm[norm == 0] = np.inf
    r = (centred.T @ centred) / np.outer(norm, norm)
    return np.clip(r * r, 0.0, 1.0).astype(np.float32)


def _candidates(screen: np.ndarray, linear: np.ndarray, refine: int) -> np.ndarray:
    """(n, 2) pairs (i < j) to measure in detail: every pair, or the best by screen and r²."""
    dims = len(screen)
    iu, ju = np.triu_indices(dims, 1)
    if len(iu) <= refine:
        return np.stack([iu, ju], 1).astype(np.int64)
    s = np.nan_to_num(screen[iu, ju], nan=-np.inf)
    chosen = set(np.argsort(-s, kind="stable")[:refine].tolist())
    chosen |= set(np.argsort(-linear[iu, ju], kind="stable")[: max(1, refine // 8)].tolist())
    keep = np.array(sorted(chosen), np.int64)
    return np.stack([iu[keep], ju[keep]], 1).astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _grid_purity(codes, lab, classes, bins, min_class):  # pragma: no cover - compiled
    """(m, D) bin codes, dense labels -> (D, D) mean class lift of the grid-cell purity."""
    m, dims = codes.shape
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
    for i in range(dims):
        for j in range(i + 1, dims):
            counts[:] = 0
            totals[:] = 0
            for p in range(m):
                if lab[p] >= 0:
                    cell = codes[p, i] * bins + codes[p, j]
                    counts[cell, lab[p]] += 1
                    totals[cell] += 1
            lift = 0.0
            for cell in range(bins * bins):
                t = totals[cell]
                if t < 2:
                    continue
                for c in range(classes):
                    n = counts[cell, c]
                    if n > 0 and base[c] < 1.0:
                        purity = (n - 1) / (t - 1)
                        lift += n * (purity - base[c]) / (1.0 - base[c])
            out[i, j] = out[j, i] = lift / labelled
    return out


@numba.njit(cache=True, nogil=True)
def _grid_sparse(codes, bins):  # pragma: no cover - compiled
    """(m, D) bin codes -> (D, D) share of empty cells among the ones m points could fill."""
    m, dims = codes.shape
    out = np.zeros((dims, dims), np.float32)
    seen = np.zeros(bins * bins, np.uint8)
    fillable = min(m, bins * bins)
    for i in range(dims):
        for j in range(i + 1, dims):
            seen[:] = 0
            filled = 0
            for p in range(m):
                cell = codes[p, i] * bins + codes[p, j]
                if seen[cell] == 0:
                    seen[cell] = 1
                    filled += 1
            out[i, j] = out[j, i] = 1.0 - filled / fillable
    return out


@numba.njit(cache=True, nogil=True)
def _knn_same(x, y, lab, k):  # pragma: no cover - compiled
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
def _mst(x, y):  # pragma: no cover - compiled
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
def _scagnostics(x, y):  # pragma: no cover - compiled
    """(clumpy, striated, outlying) of the minimum spanning tree of (x, y)."""
    n = len(x)
    if n < 4:
        return 0.0, 0.0, 0.0
    parent, length = _mst(x, y)
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
def _distinct(x, y, cells):  # pragma: no cover - compiled
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


@numba.njit(cache=True, nogil=True)
def _detail(unit, lab, classes, pairs, k, mst_points, min_class, labelled):  # pragma: no cover
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
            same = _knn_same(x, y, lab, kk)
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
        keep = _distinct(x, y, 4096)[:mst_points]
        clumpy, striated, outlying = _scagnostics(x[keep], y[keep])
        out[t, 3] = clumpy
        out[t, 4] = striated
        out[t, 5] = outlying
    return out
