"""Per-image views computed from the model on request: feature maps of one image, or the
average over a selection, at every probed layer and every position.

The probe may keep only a sample of a large layer's positions, so the explorer does
not read feature maps from the store: it runs the run's model on the requested
images (batched, read through the dataset as a pass reads them) and caches the
result. Before anything is allocated the memory a request needs is estimated:

- a selection of more than :data:`MAX_MAP_IMAGES` images is refused with one line
  (the class means of the probe cover whole classes);
- the batch size keeps one batch of the captured layers under :data:`MAP_MEMORY`;
  a request whose per-layer sums alone would not fit is refused too.

Example::

    maps = average_maps(model, dataset, rows=[0, 5, 17], layers=["conv1", "fc1"])
    maps.layers["conv1"]        # (C, H, W) float64 mean; maps.input: (C, H, W) pixels 0..1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.dataset import ImageDataset
from ..model import Hooks, device_of
from ._http import MAX_IMAGES, ApiError

MAX_MAP_IMAGES = MAX_IMAGES  # the HTTP cap, counted over distinct rows there
MAP_MEMORY = 256 << 20  # bytes of captured activations one request may hold at once
MAX_MAP_BATCH = 256

__all__ = ["MAP_MEMORY", "MAX_MAP_IMAGES", "AverageMaps", "MapPlan", "average_maps", "plan_maps"]


@dataclass(frozen=True)
class MapPlan:
    """How a request runs: images per batch, and the bytes it needs at most."""

    batch: int
    peak_bytes: int


@dataclass
class AverageMaps:
    """The mean response of ``count`` images: ``layers[name]`` (C, H, W) or (D, 1, 1)
    float64, ``input`` (C, H, W) float64 pixels in 0..1."""

    count: int
    input: np.ndarray
    layers: dict[str, np.ndarray]


def plan_maps(count: int, features: Sequence[int], input_size: int) -> MapPlan:
    """The batch size and peak memory of averaging ``count`` images over layers of
    ``features`` values each; one-line :class:`ApiError` (413) when too large."""
    if count > MAX_MAP_IMAGES:
        raise ApiError(
            413,
            f"a selection of {count:,} images is above the {MAX_MAP_IMAGES:,} whose feature "
            "maps the explorer computes on request; select fewer images (the probe's class "
            "means cover whole classes)",
        )
    per_image = 4 * (sum(features) + input_size)
    sums = 8 * (sum(features) + input_size)
    if sums + per_image > MAP_MEMORY:
        raise ApiError(
            413,
            f"the feature maps of these layers take {(sums + per_image) / 2**20:.0f} MiB for "
            f"one image, above the {MAP_MEMORY >> 20} MiB a request may use; "
            "probe fewer layers",
        )
    batch = int(max(1, min(count, MAX_MAP_BATCH, (MAP_MEMORY - sums) // per_image)))
    return MapPlan(batch, sums + batch * per_image)


def average_maps(
    model: nn.Module,
    dataset: ImageDataset,
    rows: np.ndarray,
    layers: Sequence[str],
    plan: MapPlan,
) -> AverageMaps:
    """The mean over dataset positions ``rows`` of each layer's output (float64 sums of
    the float32 outputs), from the model in eval mode, ``plan.batch`` images at a time
    (:func:`plan_maps` sizes it before anything runs)."""
    rows = np.asarray(rows, dtype=np.int64)
    sums: dict[str, torch.Tensor] = {}
    pixels = torch.zeros(dataset.shape, dtype=torch.float64)
    device = device_of(model)

    def adder(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            # summed as the layer produces it, before any in-place op after it
            total = output.detach().float().sum(0, dtype=torch.float64).cpu()
            sums[name] = total if name not in sums else sums[name] + total

        return hook

    with torch.no_grad(), Hooks(model) as hooks:
        for name in layers:
            hooks.forward(name, adder(name))
        for images in dataset.image_batches(rows, plan.batch):
            x = dataset.normalization.apply(images)
            model(x.to(device) if device.type != "cpu" else x)
            pixels += torch.from_numpy(images).sum(0, dtype=torch.float64)
    n = max(len(rows), 1)
    maps = {}
    for name in layers:
        mean = (sums[name] / n).numpy()
        maps[name] = mean if mean.ndim == 3 else mean.reshape(-1, 1, 1)
    return AverageMaps(len(rows), (pixels / n / 255.0).numpy(), maps)
