"""Forward hooks that do all of a probe's work on a layer while its output is in cache.

For every probed layer and batch, the hook (:class:`LayerTap`):

- summarises the output (per-image peaks, channel range, per-image channel sums;
  :func:`~convlens.probe.partial.summarise`) and folds its peaks into the top-k;
- takes the points the plan stores (every position, or each image's sampled
  positions) in the storage dtype, with their coordinates and the per-image
  channel means;
- hands the points to the layer's :class:`~convlens.probe._projector.Projector`.

It keeps nothing of the output itself, so an in-place operation later in the forward
pass (``nn.ReLU(inplace=True)`` after a conv) cannot change what was seen, and no
activation outlives its layer. A layer whose values leave float16's range raises
:class:`Widen` (the pass plans it as float32 and starts again).

Example::

    taps = Taps(model, plan, partial, projectors)
    with taps:
        taps.start_batch(start_row, dataset_indices)
        model(x)
        taps.outputs["conv1"].blocks    # array path -> rows of this batch
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import LayerError
from ..model import Hooks
from ..rundir.probe_layout import array_path, summary_path
from ._projector import Projector, TooWide
from ._summary import LayerBatch, check_range, summarise
from .partial import Partial
from .plan import LayerPlan
from .sampling import sample_positions

__all__ = ["LayerOut", "Taps", "Widen"]


class Widen(Exception):
    """Layers whose values left float16's range; the pass stores them as float32."""

    def __init__(self, names: list[str]):
        super().__init__(", ".join(names))
        self.names = names


@dataclass
class LayerOut:
    """What one layer's hook made of one batch."""

    summary: LayerBatch
    blocks: dict[str, np.ndarray]  # array path -> this batch's rows
    pca: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (image row, (B, P, m))


class Taps:
    """Hooks on every layer of ``plan``, filling :attr:`outputs` for each batch."""

    def __init__(
        self,
        model: nn.Module,
        layers: tuple[LayerPlan, ...],
        partial: Partial,
        projectors: Mapping[str, Projector],
        seed: int = 0,
    ):
        self.model = model
        self.layers = layers
        self.partial = partial
        self.projectors = dict(projectors)
        self.seed = seed
        self.outputs: dict[str, LayerOut] = {}
        self.start = 0
        self.indices = np.zeros(0, np.int64)
        self._positions: dict[tuple[int, int], torch.Tensor] = {}
        self._hooks = Hooks(model)

    def __enter__(self) -> Taps:
        for plan in self.layers:
            self._hooks.forward(plan.name, self._hook_for(plan))
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.remove()

    def start_batch(self, start: int, indices: np.ndarray) -> None:
        """The next forward pass is probe rows ``start:start + B`` of these dataset indices."""
        self.start = start
        self.indices = np.asarray(indices, dtype=np.int64)
        self.outputs = {}
        self._positions = {}

    def positions(self, positions: int, keep: int) -> torch.Tensor:
        """(B, keep) int64 sampled positions of this batch's images (shared by layers)."""
        key = (positions, keep)
        if key not in self._positions:
            chosen = sample_positions(self.indices, positions, keep, self.seed)
            self._positions[key] = torch.from_numpy(np.ascontiguousarray(chosen))
        return self._positions[key]

    def _hook_for(self, plan: LayerPlan) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                return
            if plan.name in self.outputs:
                raise LayerError(
                    f"layer {plan.name!r} runs more than once in one forward pass, so its "
                    "output is ambiguous; probe another layer"
                )
            self.outputs[plan.name] = self._take(plan, output.detach())

        return hook

    def _take(self, plan: LayerPlan, t: torch.Tensor) -> LayerOut:
        name, b, c = plan.name, t.shape[0], plan.channels
        summary = summarise(t, name)
        if check_range(name, summary, self.indices, plan.dtype == "float16"):
            raise Widen([name])
        self.partial.fold_topk(name, t, summary.peak, self.indices)
        flat = t.reshape(b, c, -1)  # (B, C, P) as the layer produced it
        dtype = torch.float16 if plan.dtype == "float16" else torch.float32
        blocks: dict[str, np.ndarray] = {}
        if plan.sampled:
            m = plan.points_per_image
            where = self.positions(plan.positions, m).to(t.device)
            points = flat.gather(2, where[:, None, :].expand(b, c, m))  # (B, C, m)
            stored = _cast(points.transpose(1, 2), dtype).reshape(b * m, c)
            pos = where.cpu().numpy()
            blocks[array_path(name, "image")] = np.repeat(self.indices, m)
            blocks[array_path(name, "y")] = (pos // plan.shape[1]).reshape(-1)
            blocks[array_path(name, "x")] = (pos % plan.shape[1]).reshape(-1)
        else:
            points = flat  # every position, channel-major: stored as it lies, one plain cast
            stored = _cast(flat, dtype).reshape(b, c, *plan.shape[:-1])
            blocks[array_path(name, "image")] = self.indices
        blocks[array_path(name, "activation")] = stored
        if plan.spatial:
            blocks[summary_path(name, "mean")] = (summary.sums / plan.positions).astype(np.float32)
        out = LayerOut(summary, blocks)
        projector = self.projectors.get(name)
        if projector is not None:
            try:
                span = (summary.low, summary.high)
                out.pca = projector.take(self.start, points.float(), span)
            except TooWide:
                raise Widen([name]) from None
        return out


def _cast(points: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """Points of any layout and device -> a contiguous CPU array of that shape in ``dtype``."""
    out = torch.empty(points.shape, dtype=dtype, device=points.device)
    out.copy_(points)
    return out.cpu().numpy()
