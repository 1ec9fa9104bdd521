"""Projections of embeddings: fitted on a sample of points, applied to all of them.

Each feature-map position is a point (seed 004, section 3.2), so a spatial layer
(N, H, W, C) has N*H*W points in C dimensions.

- ``pca`` is built in (deterministic: float64 covariance, eigenvectors with a fixed
  sign), up to ``MAX_COMPONENTS`` axes, fitted during the pass on the first
  :func:`fit_sample_size` points of the first rows (:mod:`convlens.probe._projector`)
  and applied to every stored point as its batch streams by.
- ``umap`` (extra ``convlens[umap]``, umap-learn) and ``tsne`` (extra
  ``convlens[tsne]``, openTSNE) give 2 axes, fitted on ``NONLINEAR_SAMPLE`` points
  with a fixed seed; every point is then placed by the library's own ``transform``
  (UMAP: against the fitted graph; openTSNE: optimised against the fitted
  embedding). That costs far more per point than PCA: a few thousand points a
  second on two cores, so a layer of millions of positions takes hours; probe
  such layers with PCA, or choose the layers (``layers=[...]``).

Example::

    proj = fit_projection("umap", sample)      # sample (M, D)
    xy = proj.transform(points)                # (M', 2) float32
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

from ..errors import DataError

SAMPLE_POINTS = 20_000
NONLINEAR_SAMPLE = 5_000
MAX_COMPONENTS = 10
EXACT_DIMS = 512  # wider layers get their PCA by randomised subspace iteration
METHODS = ("pca", "umap", "tsne")
EXTRAS = {"umap": ("umap", "umap"), "tsne": ("openTSNE", "tsne")}  # module, extra

__all__ = [
    "MAX_COMPONENTS",
    "METHODS",
    "NONLINEAR_SAMPLE",
    "Pca",
    "fit_pca",
    "fit_projection",
    "fit_sample_size",
    "require_method",
    "sample_points",
]


def fit_sample_size(channels: int) -> int:
    """Points a PCA of ``channels`` dimensions is fitted on: ``SAMPLE_POINTS``, fewer for
    wide layers so that the covariance costs at most about 2**30 multiply-adds (4,096
    points for 512 channels), never fewer than 2,000."""
    return int(min(SAMPLE_POINTS, max(2_000, (1 << 30) // max(1, channels * channels))))


class Pca:
    """A fitted PCA: ``mean`` (D,), ``components`` (P, D) orthonormal rows."""

    def __init__(self, mean: np.ndarray, components: np.ndarray):
        self.mean = mean
        self.components = components

    @property
    def axes(self) -> int:
        return len(self.components)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(..., D) -> (..., P) float32."""
        y = (x.astype(np.float64) - self.mean) @ self.components.T
        return y.astype(np.float32)


def fit_pca(points: np.ndarray, components: int) -> Pca:
    """PCA of ``points`` (M, D) with ``components`` axes (ordered by variance).

    Up to ``EXACT_DIMS`` dimensions: the leading eigenvectors of the float64 covariance
    (LAPACK on a subset of indices). Wider layers: a seeded randomised subspace
    iteration on the centred points (:func:`_subspace`), which costs M * D per pass
    instead of M * D**2 for the covariance and D**3 for its eigenvectors. Either way the
    result is deterministic, and each axis has a fixed sign (its largest entry > 0).

    >>> p = fit_pca(np.random.default_rng(0).normal(size=(100, 3)), 2)
    >>> p.components.shape
    (2, 3)
    """
    x = points.astype(np.float64)
    mean = x.mean(0)
    xc = x - mean
    d = xc.shape[1]
    with threadpool_limits(1):  # threaded BLAS and LAPACK are many times slower on a busy CPU
        if d <= EXACT_DIMS:
            cov = xc.T @ xc / max(len(x) - 1, 1)
            vals, vecs = scipy.linalg.eigh(cov, subset_by_index=[d - components, d - 1])
            order = np.argsort(-vals, kind="stable")
            comps = np.ascontiguousarray(vecs[:, order].T)
        else:
            comps = _subspace(xc, components)
    big = np.argmax(np.abs(comps), axis=1)
    comps *= np.sign(comps[np.arange(len(comps)), big])[:, None]
    return Pca(mean, comps)


def _subspace(xc: np.ndarray, components: int, extra: int = 10, passes: int = 6) -> np.ndarray:
    """The leading ``components`` right singular vectors of ``xc`` (M, D), (P, D): power
    iterations on a seeded random block of ``components + extra`` columns, then the
    exact SVD of the projection onto the subspace found (Halko et al. 2011, alg. 4.4)."""
    width = min(components + extra, *xc.shape)
    omega = np.random.default_rng(0).standard_normal((xc.shape[1], width))
    q, _ = np.linalg.qr(xc @ omega)
    for _ in range(passes):
        z, _ = np.linalg.qr(xc.T @ q)
        q, _ = np.linalg.qr(xc @ z)
    _, _, vt = np.linalg.svd(q.T @ xc, full_matrices=False)
    return np.ascontiguousarray(vt[:components])


class _Fitted:
    """A fitted UMAP or openTSNE embedding; ``transform`` places new points."""

    axes = 2

    def __init__(self, model: Any):
        self.model = model

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(M, D) -> (M, 2) float32."""
        return np.asarray(self.model.transform(np.asarray(x, np.float32)), np.float32)


def import_umap() -> Any:
    """umap-learn, without its warning that the optional TensorFlow part is missing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImportWarning)
        import umap
    return umap


def require_method(method: str) -> None:
    """Refuse (one-line error) a projection that is unknown or whose extra is missing."""
    if method not in METHODS:
        raise DataError(f"projection {method!r} is not known: expected one of {', '.join(METHODS)}")
    if method in EXTRAS:
        module, extra = EXTRAS[method]
        if importlib.util.find_spec(module) is None:
            raise DataError(
                f"projection {method!r} needs the {module} package, which is not installed; "
                f"pip install 'convlens[{extra}]', or choose projections=('pca',)"
            )


def fit_projection(method: str, sample: np.ndarray) -> Pca | _Fitted:
    """Fit ``method`` on ``sample`` (M, D) points: PCA with min(D, 10) axes, UMAP or
    t-SNE with 2 (seed 0)."""
    require_method(method)
    x = np.asarray(sample, np.float32)
    if method == "pca":
        return fit_pca(x, min(x.shape[1], MAX_COMPONENTS))
    if len(x) < 4:
        raise DataError(
            f"projection {method!r} needs at least 4 points to fit, got {len(x)}; "
            "probe more images or use projections=('pca',)"
        )
    if method == "umap":
        umap = import_umap()
        neighbours = min(15, len(x) - 1)
        model = umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=0, n_jobs=1)
        return _Fitted(model.fit(x))
    import openTSNE

    perplexity = min(30.0, (len(x) - 1) / 3)
    tsne = openTSNE.TSNE(n_components=2, perplexity=perplexity, random_state=0, n_jobs=1)
    return _Fitted(tsne.fit(x))


def sample_points(n_rows: int, positions: int, limit: int = SAMPLE_POINTS) -> np.ndarray:
    """Sorted flat point ids (row * positions + position) to fit on; all when few."""
    total = n_rows * positions
    if total <= limit:
        return np.arange(total)
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(total, size=limit, replace=False))
