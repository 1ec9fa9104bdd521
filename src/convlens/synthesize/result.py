"""Result types of the synthesis jobs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.normalize import Normalization

__all__ = ["DreamResult", "InversionResult", "SynthesisResult"]


def _floats(t: torch.Tensor | None) -> list[float | None] | None:
    if t is None:
        return None
    return [None if not math.isfinite(v) else round(float(v), 6) for v in t.tolist()]


@dataclass
class SynthesisResult:
    """Images that drive units, and how strongly they do.

    - ``images``: (K, C, H, W) in model input space, within the data's range;
    - ``units``: (K,) the unit each image was drawn for (repeated when several
      images per unit were asked for);
    - ``scores``: (K,) the whole objective (penalties included) on each final image;
    - ``reached``: (K,) the unit's activation on its image, no transforms;
    - ``reference_max``, ``reference_mean``: (K,) the unit's highest and mean
      activation on the data, or None without data; ``ratio`` =
      (reached - mean) / (max - mean): 1 matches the best real image;
    - ``spec``: the :class:`~convlens.synthesize.spec.Synthesis` as it ran (size
      and batch resolved); ``params``: what else the job recorded;
    - ``transparency``: (K, H, W) the absolute gradient of the objective with
      respect to each image, summed over channels and steps: which parts of the
      image mattered (the transparency map of MaCo, Fel et al. 2023).
    """

    images: torch.Tensor
    units: list[int]
    scores: torch.Tensor
    reached: torch.Tensor
    reference_max: torch.Tensor | None
    reference_mean: torch.Tensor | None
    normalization: Normalization
    layer: str
    kind: str
    objective: str
    params: dict[str, Any] = field(default_factory=dict)
    spec: Any = None
    transparency: torch.Tensor | None = None

    @property
    def ratio(self) -> torch.Tensor | None:
        if self.reference_max is None:
            return None
        span = self.reference_max - self.reference_mean
        return (self.reached - self.reference_mean) / span.clamp_min(1e-12)

    def pixels(self) -> np.ndarray:
        """uint8 (K, C, H, W) for display."""
        return self.normalization.to_uint8(self.images)

    def alpha(self) -> np.ndarray | None:
        """The transparency map as opacity in [0, 1], (K, H, W): each map over its
        99th percentile, clipped."""
        if self.transparency is None:
            return None
        t = self.transparency.flatten(1)
        top = torch.quantile(t, 0.99, dim=1, keepdim=True).clamp_min(1e-12)
        return (t / top).clamp(0, 1).view_as(self.transparency).numpy()

    def figures(self) -> dict[str, Any]:
        """The quality figures, JSON-ready."""
        ratio = self.ratio
        out: dict[str, Any] = {
            "units": self.units,
            "scores": _floats(self.scores),
            "reached": _floats(self.reached),
            "reference_max": _floats(self.reference_max),
            "reference_mean": _floats(self.reference_mean),
            "ratio": _floats(ratio),
        }
        if ratio is not None:
            out["median_ratio"] = round(float(ratio.median()), 6)
            out["fraction_above_data"] = float((self.reached > self.reference_max).float().mean())
        return out


@dataclass
class InversionResult:
    """Reconstructions of one image from one layer's representation.

    - ``images``: (S, C, H, W) one reconstruction per random start, model input space;
    - ``errors``: (S,) ||Phi(x) - Phi0||^2 / ||Phi0||^2 of each;
    - ``correlation``: (S,) Pearson correlation with the original in pixel space;
    - ``image_error``: (S,) ||x - x0||^2 / ||x0||^2 in pixel units (0..1): how far
      the picture itself is from the original (grows with depth);
    - ``original``: (C, H, W) the image that was inverted.
    """

    images: torch.Tensor
    errors: torch.Tensor
    correlation: torch.Tensor
    image_error: torch.Tensor
    original: torch.Tensor
    layer: str
    normalization: Normalization
    params: dict[str, Any] = field(default_factory=dict)
    spec: Any = None

    def pixels(self) -> np.ndarray:
        """uint8 (S, C, H, W)."""
        return self.normalization.to_uint8(self.images)

    def figures(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "errors": _floats(self.errors),
            "correlation": _floats(self.correlation),
            "image_error": _floats(self.image_error),
        }


@dataclass
class DreamResult:
    """A dreamed image: ``image`` (C, H, W) in model input space, the same size as the input.

    ``change`` is the mean absolute difference from the input in pixel units 0..1;
    ``spec`` and ``dream`` are the specs it ran with; ``params`` what else it recorded.
    """

    image: torch.Tensor
    original: torch.Tensor
    normalization: Normalization
    params: dict[str, Any] = field(default_factory=dict)
    spec: Any = None
    dream: Any = None

    @property
    def change(self) -> float:
        a = self.normalization.invert(self.image[None])
        b = self.normalization.invert(self.original[None])
        return float((a - b).abs().mean())

    def pixels(self) -> np.ndarray:
        """uint8 (C, H, W)."""
        return self.normalization.to_uint8(self.image[None])[0]

    def figures(self) -> dict[str, Any]:
        return {"shape": list(self.image.shape), "change": round(self.change, 6)}
