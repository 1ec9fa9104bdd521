"""Projections of embeddings: fitted on a sample of points, applied to all of them.

Each feature-map position is a point (seed 004, section 3.2), so a spatial layer
(N, H, W, C) has N*H*W points in C dimensions. PCA is built in (deterministic:
float64 covariance, eigenvectors with a fixed sign).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

SAMPLE_POINTS = 20_000
MAX_COMPONENTS = 10

__all__ = ["MAX_COMPONENTS", "Pca", "fit_pca", "sample_points"]


class Pca:
    """A fitted PCA: ``mean`` (D,), ``components`` (P, D) orthonormal rows."""

    def __init__(self, mean: np.ndarray, components: np.ndarray):
        self.mean = mean
        self.components = components

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(..., D) -> (..., P) float32."""
        y = (x.astype(np.float64) - self.mean) @ self.components.T
        return y.astype(np.float32)


def fit_pca(points: np.ndarray, components: int) -> Pca:
    """PCA of ``points`` (M, D) with ``components`` axes (ordered by variance).

    >>> p = fit_pca(np.random.default_rng(0).normal(size=(100, 3)), 2)
    >>> p.components.shape
    (2, 3)
    """
    x = points.astype(np.float64)
    mean = x.mean(0)
    xc = x - mean
    cov = xc.T @ xc / max(len(x) - 1, 1)
    d = cov.shape[0]
    # only the leading eigenvectors are needed (LAPACK evr on a subset of indices)
    with threadpool_limits(1):  # threaded LAPACK is many times slower on a busy CPU
        vals, vecs = scipy.linalg.eigh(cov, subset_by_index=[d - components, d - 1])
    order = np.argsort(-vals, kind="stable")
    comps = np.ascontiguousarray(vecs[:, order].T)
    # fixed sign: the largest-magnitude entry of each axis is positive
    big = np.argmax(np.abs(comps), axis=1)
    comps *= np.sign(comps[np.arange(len(comps)), big])[:, None]
    return Pca(mean, comps)


def sample_points(n_rows: int, positions: int, limit: int = SAMPLE_POINTS) -> np.ndarray:
    """Sorted flat point ids (row * positions + position) to fit on; all when few."""
    total = n_rows * positions
    if total <= limit:
        return np.arange(total)
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(total, size=limit, replace=False))
