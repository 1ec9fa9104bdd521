"""Input normalisation: uint8 pixels to model input and back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``(pixel / 255 - mean) / std``; ``mean`` and ``std`` have C entries."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, images: np.ndarray) -> Normalization:
        """Mean and standard deviation per channel of uint8 images (N, C, H, W)."""
        x = images.astype(np.float64) / 255.0
        mean = x.mean(axis=(0, 2, 3))
        std = np.maximum(x.std(axis=(0, 2, 3)), 1e-6)
        return cls(tuple(float(m) for m in mean), tuple(float(s) for s in std))

    @classmethod
    def from_json(cls, obj: dict[str, Sequence[float]]) -> Normalization:
        return cls(tuple(float(v) for v in obj["mean"]), tuple(float(v) for v in obj["std"]))

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @property
    def channels(self) -> int:
        return len(self.mean)

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, self.channels, 1, 1)
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(shape)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(shape)
        return mean, std

    def apply(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> float32 model input (N, C, H, W)."""
        if torch.is_tensor(images):
            x = images.to(torch.float32) / 255.0
        else:
            x = torch.from_numpy(np.asarray(images, dtype=np.float32) / np.float32(255.0))
        mean, std = self._stats(x)
        return (x - mean) / std

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        """Model input (N, C, H, W) -> values in pixel units of [0, 1] (not clipped)."""
        mean, std = self._stats(x)
        return x * std + mean

    def to_uint8(self, x: torch.Tensor) -> np.ndarray:
        """Model input (N, C, H, W) -> uint8 (N, C, H, W), clipped to [0, 255]."""
        p = self.invert(x.detach().float()).clamp(0, 1) * 255.0
        return p.round().to(torch.uint8).cpu().numpy()

    def bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Lowest and highest model-input value per channel, each shaped (C,)."""
        mean = torch.tensor(self.mean)
        std = torch.tensor(self.std)
        return (0 - mean) / std, (1 - mean) / std
