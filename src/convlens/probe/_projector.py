"""PCA inside the pass: fitted on the first rows' points, then applied batch by batch.

A :class:`Projector` serves one layer. Until its fit sample is complete it holds the
float32 points of the batches it has seen (the first :func:`fit_sample_size` points
of the first ``fit_rows`` rows: a few megabytes, usually one batch); then it fits a
PCA on them and projects what it held and, from then on, each batch as it comes.
The embeddings are never read back.

Every point is projected from its float32 activation, ``components @ (a - mean)`` in
float32, one (P, C) @ (C, m) product per image, and stored in the layer's dtype. Points
come channel-major, (B, C, m) (m points per image), as a layer's output lies in memory,
so nothing is transposed on the way in.

Example::

    proj = Projector(points_per_image=30, channels=50, fit_rows=1024)
    ready = proj.take(0, points)        # points (B, C, m) float32; [(row, (B, P, m))...]
    ready += proj.finish()              # at the end of the pass (fits on what it has)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .project import Pca, fit_pca, fit_sample_size

__all__ = ["Projector", "TooWide"]

FLOAT16_MAX = 65504.0


class TooWide(Exception):
    """A projection left float16's range: the layer must be stored as float32."""


class Projector:
    """The in-pass PCA of one layer (see the module docstring). ``held``: the points
    saved by :meth:`held` and the batch size they came in (a resumed probe)."""

    def __init__(
        self,
        points_per_image: int,
        channels: int,
        fit_rows: int,
        basis: tuple[np.ndarray, np.ndarray] | None = None,
        float16: bool = True,
        held: tuple[np.ndarray, int] | None = None,
    ):
        self.channels = channels
        self.sample = fit_sample_size(channels)
        self.fit_rows = max(1, min(fit_rows, math.ceil(self.sample / points_per_image)))
        self.float16 = float16
        self.basis: tuple[np.ndarray, np.ndarray] | None = None
        self._w: torch.Tensor | None = None
        self._shift: torch.Tensor | None = None
        self._held: list[tuple[int, torch.Tensor]] = []
        self._rows = 0
        if basis is not None:
            self._use(*basis)
        elif held is not None and len(held[0]):
            points, batch = torch.from_numpy(np.ascontiguousarray(held[0])), held[1]
            # the batches they came in: a projection is computed batch by batch
            self._held = [(s, points[s : s + batch].clone()) for s in range(0, len(points), batch)]
            self._rows = len(points)

    def held(self) -> np.ndarray | None:
        """The points of rows 0.. held for the fit (R, C, m) float32, to save for a resume;
        None once fitted."""
        if self.fitted or not self._held:
            return None
        return torch.cat([p for _, p in self._held]).cpu().numpy()

    @property
    def fitted(self) -> bool:
        return self.basis is not None

    def _use(self, mean: np.ndarray, components: np.ndarray) -> None:
        self.basis = (mean, components)
        self._w = torch.from_numpy(components.astype(np.float32))  # (P, C)
        self._shift = torch.from_numpy((components @ mean).astype(np.float32))[:, None]  # (P, 1)

    def project(self, points: torch.Tensor, bound: float | None = None) -> np.ndarray:
        """(B, C, m) float32 -> (B, P, m) float16 (float32 when the layer is float32).

        ``bound``: a bound on every |point - mean| (Euclidean); when it is within float16's
        range so is every coordinate (the components are orthonormal), else the
        coordinates are checked (:class:`TooWide` when one leaves the range).
        """
        if self._w is None or self._shift is None:
            raise RuntimeError("the projector is not fitted yet")
        w, shift = self._w.to(points.device), self._shift.to(points.device)
        # contiguous (B, C, m) in, whatever came: BLAS may round differently for other
        # strides, and a point must project the same in one pass, a shard and a resume
        y = torch.matmul(w, points.contiguous())
        y -= shift
        if not self.float16:
            return y.cpu().numpy()
        unsure = bound is None or bound > FLOAT16_MAX
        if unsure and float(y.abs().max()) > FLOAT16_MAX:
            raise TooWide
        return y.to(torch.float16).cpu().numpy()

    def bound(self, low: np.ndarray, high: np.ndarray) -> float | None:
        """A bound on |point - mean| for points whose channels lie in [low, high]."""
        if self.basis is None:
            return None
        mean = self.basis[0]
        far = np.maximum(np.abs(high - mean), np.abs(low - mean))
        return float(np.sqrt((far.astype(np.float64) ** 2).sum()))

    def take(
        self, start: int, points: torch.Tensor, span: tuple[np.ndarray, np.ndarray] | None = None
    ) -> list[tuple[int, np.ndarray]]:
        """Rows ``start:start + B`` (points (B, C, m) float32, whose channels lie within
        ``span`` = (low, high) when given): what can be written now, as (first row,
        (B', P, m)) blocks in row order."""
        if self.fitted:
            bound = self.bound(*span) if span is not None else None
            return [(start, self.project(points, bound))]
        self._held.append((start, points.contiguous().clone()))
        self._rows += len(points)
        return self._fit() if self._rows >= self.fit_rows else []

    def finish(self) -> list[tuple[int, np.ndarray]]:
        """At the end of the pass: fit on what is held if the sample was never complete."""
        return self._fit() if self._held else []

    def _fit(self) -> list[tuple[int, np.ndarray]]:
        held = torch.cat([p for _, p in self._held])[: self.fit_rows]  # (R, C, m)
        points = held.transpose(1, 2).reshape(-1, self.channels)  # by row, then position
        sample = points[: self.sample].double().cpu().numpy()
        pca: Pca = fit_pca(sample, min(self.channels, 10))
        self._use(pca.mean, pca.components)
        out = [(start, self.project(points)) for start, points in self._held]
        self._held.clear()
        return out
