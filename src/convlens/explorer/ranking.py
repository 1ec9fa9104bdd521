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
2. **Detail, the best candidates** (every pair when there are at most ``refine``, else
   the ``shortlist`` best by screening and the shortlist/8 most linear):
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

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConvlensError
from ._rank_loops import detail_pass, grid_purity, grid_sparse, knn_same

__all__ = ["PairRanking", "RankSpec", "class_spread", "rank_pairs"]


@dataclass(frozen=True)
class RankSpec:
    """Sample sizes and knobs of :func:`rank_pairs` (defaults suit 10^4..10^6 points)."""

    sample: int = 4000  # points of the screening pass over every pair
    bins: int = 16  # grid cells per axis of the screening purity
    detail_sample: int = 600  # points of the k-NN purity of the refined pairs
    mst_points: int = 250  # distinct points of each refined pair's spanning tree
    k: int = 8  # neighbours of the k-NN purity
    refine: int = 1300  # every pair is measured in detail when there are at most this many
    shortlist: int = 400  # else the best this many by screening (and 1/8 as many by r²)
    min_class: int = 10  # sampled points a class needs to be scored
    seed: int = 0

    def __post_init__(self) -> None:
        names = ("sample", "bins", "detail_sample", "mst_points", "k", "refine", "shortlist")
        for name in (*names, "min_class"):
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
    # dimension-major (D, m) bin codes: each pair reads two contiguous rows
    codes = np.ascontiguousarray(np.minimum((unit * spec.bins).astype(np.int32), spec.bins - 1).T)
    if labelled:
        screen = grid_purity(codes, lab, classes, spec.bins, spec.min_class)
    else:
        screen = grid_sparse(codes, spec.bins)
    np.fill_diagonal(screen, np.nan)
    linear = _r2(unit)
    candidates = _candidates(screen, linear, spec.refine, spec.shortlist)
    order = rng.permutation(len(unit))
    detail = unit[order[: spec.detail_sample]]
    detail_lab = lab[order[: spec.detail_sample]]
    values = detail_pass(
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
    same = knn_same(unit[:, 0].copy(), unit[:, 1].copy(), lab[take], min(k, len(take) - 1))
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


def _candidates(screen: np.ndarray, linear: np.ndarray, refine: int, shortlist: int) -> np.ndarray:
    """(n, 2) pairs (i < j) to measure in detail: every pair when there are at most
    ``refine``, else the ``shortlist`` best by screening and the shortlist/8 most linear."""
    dims = len(screen)
    iu, ju = np.triu_indices(dims, 1)
    if len(iu) <= refine:
        return np.stack([iu, ju], 1).astype(np.int64)
    s = np.nan_to_num(screen[iu, ju], nan=-np.inf)
    chosen = set(np.argsort(-s, kind="stable")[:shortlist].tolist())
    chosen |= set(np.argsort(-linear[iu, ju], kind="stable")[: max(1, shortlist // 8)].tolist())
    keep = np.array(sorted(chosen), np.int64)
    return np.stack([iu[keep], ju[keep]], 1).astype(np.int64)
