"""Input normalisation: uint8 pixels to model input and back."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import DataError


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


IMAGENET = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
"""The per-channel statistics of ImageNet's training images, as torchvision uses them."""


def identity(channels: int) -> Normalization:
    """No normalisation: the model sees pixels / 255."""
    return Normalization((0.0,) * channels, (1.0,) * channels)


def _numbers(value: Any, channels: int, what: str, given: Any) -> tuple[float, ...]:
    values = [value] if isinstance(value, (int, float)) else list(value)
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        out = ()
    if len(out) == 1:
        out = out * channels
    if len(out) != channels or not all(math.isfinite(v) for v in out):
        raise DataError(
            f"normalization {given!r}: its {what} should be 1 or {channels} finite numbers "
            f"(one per channel), got {value!r}; write it like 0.5,0.25 or "
            "0.485,0.456,0.406,0.229,0.224,0.225"
        )
    return out


def parse_normalization(
    value: Any, channels: int, fit: Callable[[], Normalization] | None = None
) -> tuple[Normalization, str]:
    """A normalisation and how it was chosen ("none", "imagenet", "fit" or "given").

    ``value`` is None or ``"none"`` (pixels / 255), ``"imagenet"``, ``"fit"`` (calls
    ``fit()``), a :class:`Normalization`, ``(mean, std)`` with numbers or
    per-channel lists, or the text ``"MEAN,STD"`` / ``"M1,M2,M3,S1,S2,S3"``.

    >>> parse_normalization("0.5,0.25", 1)
    (Normalization(mean=(0.5,), std=(0.25,)), 'given')
    """
    if value is None or value == "none":
        return identity(channels), "none"
    if value == "imagenet":
        if channels != 3:
            raise DataError(
                f"normalization 'imagenet' is for RGB input, but the model takes {channels} "
                "channel(s); give MEAN,STD for your data, 'fit' or 'none'"
            )
        return IMAGENET, "imagenet"
    if value == "fit":
        if fit is None:
            raise DataError("normalization 'fit' needs data to fit on; give the data too")
        return fit(), "fit"
    if isinstance(value, Normalization):
        mean, std = value.mean, value.std
    elif isinstance(value, str):
        parts = [p for p in value.replace(" ", "").split(",") if p]
        half = len(parts) // 2
        if len(parts) % 2 or not parts:
            raise DataError(
                f"normalization {value!r} is not MEAN,STD: expected 'none', 'imagenet', "
                "'fit', or an even count of numbers like 0.5,0.25"
            )
        mean, std = parts[:half], parts[half:]
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        mean, std = value
    else:
        raise DataError(
            f"normalization {value!r} is not understood: expected None, 'none', 'imagenet', "
            "'fit', a Normalization, or (mean, std)"
        )
    m = _numbers(mean, channels, "mean", value)
    s = _numbers(std, channels, "std", value)
    if any(v <= 0 for v in s):
        raise DataError(f"normalization {value!r}: every std must be positive, got {s}")
    return Normalization(m, s), "given"
