"""Map over batches, merge partial results.

A :class:`Partial` summarises the rows it has seen: per layer the top-k
(image, position) pairs of each channel, per-channel minimum and maximum, and
per-class channel sums; for the whole run the class counts, the input's per-class
pixel sums and the confusion matrix. :meth:`Partial.merge` is associative and
commutative and *exact*:

- top-k keeps a total order (value descending, then dataset index, then
  position), so ties are broken the same way whatever the order of merging;
- each image's channel sum over its positions becomes the integer
  ``round(sum * 2**24)`` (one value per image, whatever batch it came in), and
  integers add the same in any order. They are kept as two int64 halves
  (``hi * 2**32 + lo``), so no count of images can overflow them;
- minimum, maximum, counts and the confusion matrix merge exactly by nature.

So shards probed apart and merged give bit-for-bit the one-pass result.

Example::

    p = Partial.empty(specs, classes=10, k=9, input_size=784)
    p.update({"conv1": act}, images_uint8, labels, indices, predictions)
    total = p1.merge(p2)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DataError
from ._state import Unpacked, pack
from ._summary import FIXED_POINT, LayerBatch, summarise
from ._topk import NO_INDEX, candidates_all, fold_candidates, fold_peaks, select_topk

LOW_MASK = (1 << 32) - 1
TOPK_FIELDS = ("values", "index", "position")
_FIELDS = ("values", "index", "position", "minimum", "maximum", "sums_hi", "sums_lo")

__all__ = [
    "FIXED_POINT",
    "NO_INDEX",
    "LayerBatch",
    "LayerPartial",
    "LayerSpec",
    "Partial",
    "select_topk",
    "summarise",
]


@dataclass(frozen=True)
class LayerSpec:
    """A probed layer: ``name`` and ``shape`` of one sample, (D,) or (H, W, C)."""

    name: str
    shape: tuple[int, ...]

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3

    @property
    def channels(self) -> int:
        return self.shape[-1]

    @property
    def positions(self) -> int:
        return self.shape[0] * self.shape[1] if self.spatial else 1

    @property
    def features(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class LayerPartial:
    """What one layer contributes: top-k per channel, range, fixed-point class sums."""

    values: np.ndarray  # (C, k) float32
    index: np.ndarray  # (C, k) int64 dataset index
    position: np.ndarray  # (C, k, 2) int64 (row, col); (0, 0) for fc layers
    minimum: np.ndarray  # (C,) float32
    maximum: np.ndarray  # (C,) float32
    sums_hi: np.ndarray  # (K, C) int64: class sums = hi * 2**32 + lo, in units of 2**-24
    sums_lo: np.ndarray  # (K, C) int64, kept in 0 .. 2**32 - 1 between batches

    @classmethod
    def empty(cls, spec: LayerSpec, classes: int, k: int) -> LayerPartial:
        c = spec.channels
        return cls(
            values=np.full((c, k), -np.inf, np.float32),
            index=np.full((c, k), NO_INDEX, np.int64),
            position=np.zeros((c, k, 2), np.int64),
            minimum=np.full(c, np.inf, np.float32),
            maximum=np.full(c, -np.inf, np.float32),
            sums_hi=np.zeros((classes, c), np.int64),
            sums_lo=np.zeros((classes, c), np.int64),
        )

    @property
    def held(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.values, self.index, self.position

    def add_sums(self, fixed: np.ndarray, labels: np.ndarray) -> None:
        """Add per-image fixed-point sums (B, C) into their classes' sums, exactly: each
        value is split in halves below 2**32, summed by class (fewer than 2**31 images per
        batch cannot overflow them), then carried."""
        order = np.argsort(labels, kind="stable")
        ordered = labels[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        classes = ordered[starts]
        f = fixed[order]
        lo = self.sums_lo[classes] + np.add.reduceat(f & LOW_MASK, starts, axis=0)
        self.sums_hi[classes] += np.add.reduceat(f >> 32, starts, axis=0) + (lo >> 32)
        self.sums_lo[classes] = lo & LOW_MASK  # only the classes of this batch change

    def class_sums(self) -> np.ndarray:
        """(K, C) float64 class sums of the channel values (in the activation's units)."""
        total = self.sums_hi.astype(np.float64) * 2.0**32 + self.sums_lo.astype(np.float64)
        return total / FIXED_POINT

    def merge(self, other: LayerPartial) -> LayerPartial:
        k = self.values.shape[1]
        v, i, p = select_topk(
            np.concatenate([self.values, other.values], 1),
            np.concatenate([self.index, other.index], 1),
            np.concatenate([self.position, other.position], 1),
            k,
        )
        hi, lo = _carry(self.sums_hi + other.sums_hi, self.sums_lo + other.sums_lo)
        return LayerPartial(
            v,
            i,
            p,
            np.minimum(self.minimum, other.minimum),
            np.maximum(self.maximum, other.maximum),
            hi,
            lo,
        )


def _carry(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) with lo brought back into 0 .. 2**32 - 1 (the same integer)."""
    return hi + (lo >> 32), lo & LOW_MASK


@dataclass
class Partial:
    """The merged summary of a set of rows (see the module docstring)."""

    layers: dict[str, LayerPartial]
    counts: np.ndarray  # (K,) int64 images per class
    input_sums: np.ndarray  # (K, C*H*W) int64 uint8 pixels summed; (K, 0) when not kept
    confusion: np.ndarray  # (K, K) int64 [label, prediction]; zeros for embeddings
    rows: int = 0
    k: int = 9
    all_positions: bool = False
    specs: dict[str, LayerSpec] = field(default_factory=dict)
    bases: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    held: dict[str, np.ndarray] = field(default_factory=dict)  # points awaiting a PCA fit

    @classmethod
    def empty(
        cls,
        specs: list[LayerSpec],
        classes: int,
        k: int,
        input_size: int,
        all_positions: bool = False,
    ) -> Partial:
        return cls(
            layers={s.name: LayerPartial.empty(s, classes, k) for s in specs},
            counts=np.zeros(classes, np.int64),
            input_sums=np.zeros((classes, input_size), np.int64),
            confusion=np.zeros((classes, classes), np.int64),
            k=k,
            all_positions=all_positions,
            specs={s.name: s for s in specs},
        )

    # ------------------------------------------------------------------ map
    def update(
        self,
        activations: Mapping[str, torch.Tensor],
        images: np.ndarray,
        labels: torch.Tensor,
        indices: torch.Tensor,
        predictions: torch.Tensor | None,
    ) -> None:
        """Fold one batch in: each layer's :func:`summarise` and top-k, then :meth:`fold`.

        ``activations[l]`` float32 (B, C, H, W) or (B, D); ``images`` uint8
        (B, C, H, W); ``labels`` and ``indices`` (B,) int64; ``predictions`` (B,)
        int64 or None.
        """
        self.checked_labels(labels)
        ind = indices.numpy().astype(np.int64)
        summaries = {}
        for name in self.layers:
            summaries[name] = summarise(activations[name], name)
            self.fold_topk(name, activations[name], summaries[name].peak, ind)
        self.fold(summaries, images, labels, predictions)

    def fold_topk(
        self, name: str, activation: torch.Tensor, peak: np.ndarray, indices: np.ndarray
    ) -> None:
        """The top-k of layer ``name`` with one batch's activation (B, C, H, W) or (B, D)
        folded in; only pairs that can enter have their position looked up."""
        spec, part = self.specs[name], self.layers[name]
        flat = activation.reshape(activation.shape[0], spec.channels, -1)
        width = spec.shape[1] if spec.spatial else 1
        if self.all_positions:
            fold_candidates(part.held, *candidates_all(flat, indices, width, self.k))
            return

        def positions_of(image: np.ndarray, channel: np.ndarray) -> np.ndarray:
            if not spec.spatial:
                return np.zeros((len(image), 2), np.int64)
            if 4 * len(image) > flat.shape[0] * flat.shape[1]:  # many (the first batches)
                at = flat.argmax(dim=2).cpu().numpy()[image, channel]
            else:  # the few that can still enter: their maps only
                pick = (torch.from_numpy(image), torch.from_numpy(channel))
                at = flat[tuple(t.to(flat.device) for t in pick)].argmax(dim=1).cpu().numpy()
            return np.stack([at // width, at % width], 1).astype(np.int64)

        fold_peaks(part.held, peak, indices, positions_of)

    def fold(
        self,
        summaries: Mapping[str, LayerBatch],
        images: np.ndarray,
        labels: torch.Tensor,
        predictions: torch.Tensor | None,
    ) -> None:
        """Fold in a batch whose layers were summarised (and their top-k folded) already."""
        lab = self.checked_labels(labels)
        classes = len(self.counts)
        self.counts += np.bincount(lab, minlength=classes)
        if predictions is not None:
            flat = lab * classes + predictions.numpy().astype(np.int64).clip(0, classes - 1)
            self.confusion += np.bincount(flat, minlength=classes * classes).reshape(
                classes, classes
            )
        if self.input_sums.shape[1]:
            pixels = torch.from_numpy(np.ascontiguousarray(images).reshape(len(images), -1))
            torch.from_numpy(self.input_sums).index_add_(
                0, torch.from_numpy(lab), pixels.to(torch.int64)
            )
        for name, part in self.layers.items():
            batch = summaries[name]
            part.minimum = np.minimum(part.minimum, batch.low)
            part.maximum = np.maximum(part.maximum, batch.high)
            part.add_sums(batch.fixed, lab)
        self.rows += len(lab)

    def checked_labels(self, labels: torch.Tensor | np.ndarray) -> np.ndarray:
        """``labels`` as int64, refused (one-line error) outside ``range(classes)``."""
        classes = len(self.counts)
        lab = np.asarray(labels, dtype=np.int64).reshape(-1)
        low, high = (int(lab.min()), int(lab.max())) if len(lab) else (0, 0)
        if low < 0 or high >= classes:
            raise DataError(
                f"labels run from {low} to {high}, but the run has "
                f"{classes} classes; give data labelled 0..{classes - 1}"
            )
        return lab

    # ---------------------------------------------------------------- merge
    def merge(self, other: Partial) -> Partial:
        """The summary of both sets of rows (they must not overlap)."""
        if set(self.layers) != set(other.layers) or self.k != other.k:
            raise DataError(
                "cannot merge probe partials with different layers or k: "
                f"{sorted(self.layers)} k={self.k} vs {sorted(other.layers)} k={other.k}; "
                "probe every shard with the same options"
            )
        if self.held or other.held:
            raise DataError(
                "cannot merge probe partials of unfinished probes (points still await their "
                "projection's fit); finish every shard first"
            )
        for name, (mean, comps) in self.bases.items():
            theirs = other.bases.get(name)
            if theirs is None or not (
                np.array_equal(mean, theirs[0]) and np.array_equal(comps, theirs[1])
            ):
                raise DataError(
                    f"cannot merge probe partials whose projections of layer {name!r} were "
                    "fitted apart; probe every shard with one plan (convlens.probe.plan)"
                )
        return Partial(
            layers={n: p.merge(other.layers[n]) for n, p in self.layers.items()},
            counts=self.counts + other.counts,
            input_sums=self.input_sums + other.input_sums,
            confusion=self.confusion + other.confusion,
            rows=self.rows + other.rows,
            k=self.k,
            all_positions=self.all_positions,
            specs=dict(self.specs),
            bases=dict(self.bases),
        )

    # ---------------------------------------------------------------- bytes
    def to_bytes(self) -> bytes:
        """A byte image of this partial (for resuming and shard merges): a JSON header
        naming each array (dtype, shape, offset), then the arrays' bytes. (An ``.npz``
        computes a CRC of every byte; with 1,000 classes the state is ~300 MB.)"""
        arrays: dict[str, np.ndarray] = {
            "counts": self.counts,
            "input_sums": self.input_sums,
            "confusion": self.confusion,
            "meta": np.array([self.rows, self.k, int(self.all_positions)], np.int64),
        }
        for n, p in self.layers.items():
            for f in _FIELDS:
                arrays[f"layer/{n}/{f}"] = getattr(p, f)
        for n, (mean, comps) in self.bases.items():
            arrays[f"basis/{n}/mean"], arrays[f"basis/{n}/components"] = mean, comps
        for n, points in self.held.items():
            arrays[f"held/{n}"] = points
        return pack(arrays)

    @classmethod
    def from_bytes(cls, data: bytes, specs: list[LayerSpec]) -> Partial:
        z = Unpacked(data)
        meta = z["meta"]
        if meta.shape != (3,):
            raise DataError(
                f"the probe's partial.bin is damaged (its meta holds {meta.shape}, expected "
                "(3,)); delete the store and probe again"
            )
        rows, k, allpos = (int(v) for v in meta)
        layers = {s.name: LayerPartial(*(z[f"layer/{s.name}/{f}"] for f in _FIELDS)) for s in specs}
        bases = {
            s.name: (z[f"basis/{s.name}/mean"], z[f"basis/{s.name}/components"])
            for s in specs
            if f"basis/{s.name}/mean" in z.files
        }
        held = {s.name: z[f"held/{s.name}"] for s in specs if f"held/{s.name}" in z.files}
        return cls(
            layers=layers,
            counts=z["counts"],
            input_sums=z["input_sums"],
            confusion=z["confusion"],
            rows=rows,
            k=k,
            all_positions=bool(allpos),
            specs={s.name: s for s in specs},
            bases=bases,
            held=held,
        )
