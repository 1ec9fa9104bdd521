"""Map over batches, merge partial results.

A :class:`Partial` summarises the rows it has seen: per layer the top-k
(image, position) pairs of each channel, per-channel minimum and maximum, and
per-class sums; for the whole run the class counts, the input's per-class sums
and the confusion matrix. :meth:`Partial.merge` is associative and commutative
and *exact*:

- top-k keeps a total order (value descending, then dataset index, then
  position), so ties are broken the same way whatever the order of merging;
- sums are integers: each stored float16 value is an exact multiple of 2**-24
  below 2**16, so ``value * 2**24`` is an exact int64 and integer addition does
  not depend on the order (room for 2**23 rows per class);
- minimum, maximum, counts and the confusion matrix merge exactly by nature.

So shards probed apart and merged give bit-for-bit the one-pass result.

Example::

    p = Partial.empty(specs, classes=10, k=9, input_size=784)
    p.update(activations, embeddings16, images_uint8, labels, indices, predictions)
    # or with each layer summarised as it was produced (as the probe's hooks do):
    p.fold({"conv1": summarise(act, emb16, labels, 10)}, {"conv1": act}, images_uint8,
           labels, indices, predictions)
    total = p1.merge(p2)
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DataError
from ._class_sums import add_class_sums
from ._peak_topk import entrants, insert
from ._peaks import SMALL_LAYER, peaks_and_range

FIXED_POINT = 2**24  # float16 values are multiples of 2**-24
FLOAT16_MAX = 65504.0
NO_INDEX = np.iinfo(np.int64).max
TOPK_FIELDS = ("values", "index", "position")

__all__ = [
    "FIXED_POINT",
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
    def features(self) -> int:
        return int(np.prod(self.shape))


def select_topk(
    values: np.ndarray, index: np.ndarray, position: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the ``k`` best candidates per row under a total order.

    values (C, M) float32, index (C, M) int64, position (C, M, 2) int64 ->
    the same with M = k, ordered by value descending, then index, then position
    (row, col) ascending. Empty slots have value -inf and index ``NO_INDEX``.

    Rows whose k best values are set apart from the rest (no tie across the
    k-th place) keep those k and sort only them; the other rows are sorted whole.
    """
    c, m = values.shape
    if m < k:
        pad = k - m
        values = np.concatenate([values, np.full((c, pad), -np.inf, np.float32)], 1)
        index = np.concatenate([index, np.full((c, pad), NO_INDEX, np.int64)], 1)
        position = np.concatenate([position, np.zeros((c, pad, 2), np.int64)], 1)
        m = k
    if m > k and c:
        kth = -np.partition(-values, k - 1, axis=1)[:, k - 1 : k]
        keep = values >= kth
        clear = keep.sum(1) == k  # exactly the k best are at or above the k-th value
        if clear.any():
            out_v = np.empty((c, k), values.dtype)
            out_i = np.empty((c, k), np.int64)
            out_p = np.empty((c, k, 2), np.int64)
            rows = np.nonzero(clear)[0]
            cols = np.nonzero(keep[rows])[1].reshape(len(rows), k)
            r = rows[:, None]
            parts = _sorted_rows(values[r, cols], index[r, cols], position[r, cols], k)
            out_v[rows], out_i[rows], out_p[rows] = parts
            rest = np.nonzero(~clear)[0]
            if len(rest):
                parts = _sorted_rows(values[rest], index[rest], position[rest], k)
                out_v[rest], out_i[rest], out_p[rest] = parts
            return out_v, out_i, out_p
    return _sorted_rows(values, index, position, k)


def _sorted_rows(
    values: np.ndarray, index: np.ndarray, position: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort each row by (value desc, index, row, col) and keep its first ``k``."""
    keys = (position[..., 1], position[..., 0], index, -values.astype(np.float64))
    order = np.lexsort(keys, axis=-1)[:, :k]
    rows = np.arange(len(values))[:, None]
    return values[rows, order], index[rows, order], position[rows, order]


@dataclass
class LayerPartial:
    """What one layer contributes: top-k per channel, range, fixed-point class sums."""

    values: np.ndarray  # (C, k) float32
    index: np.ndarray  # (C, k) int64 dataset index
    position: np.ndarray  # (C, k, 2) int64 (row, col); (0, 0) for fc layers
    minimum: np.ndarray  # (C,) float32
    maximum: np.ndarray  # (C,) float32
    sums: np.ndarray  # (K, F) int64, float16 values times 2**24, F in (H, W, C) order

    @classmethod
    def empty(cls, spec: LayerSpec, classes: int, k: int) -> LayerPartial:
        c = spec.channels
        return cls(
            values=np.full((c, k), -np.inf, np.float32),
            index=np.full((c, k), NO_INDEX, np.int64),
            position=np.zeros((c, k, 2), np.int64),
            minimum=np.full(c, np.inf, np.float32),
            maximum=np.full(c, -np.inf, np.float32),
            sums=np.zeros((classes, spec.features), np.int64),
        )

    def merge(self, other: LayerPartial) -> LayerPartial:
        k = self.values.shape[1]
        v, i, p = select_topk(
            np.concatenate([self.values, other.values], 1),
            np.concatenate([self.index, other.index], 1),
            np.concatenate([self.position, other.position], 1),
            k,
        )
        return LayerPartial(
            v,
            i,
            p,
            np.minimum(self.minimum, other.minimum),
            np.maximum(self.maximum, other.maximum),
            self.sums + other.sums,
        )


@dataclass
class LayerBatch:
    """One layer's summary of one batch (see :func:`summarise`)."""

    peak: torch.Tensor  # (B, C) float32: each image's maximum per channel
    low: torch.Tensor  # (C,) float32: the batch's minimum per channel
    high: torch.Tensor  # (C,) float32: the batch's maximum per channel
    sums: np.ndarray  # (K, F) int64: class sums of the stored values, times 2**24


def summarise(
    activation: torch.Tensor, stored: torch.Tensor, labels: torch.Tensor, classes: int
) -> LayerBatch:
    """A layer's batch summary: per-image peaks, minimum, and class sums.

    ``activation`` (B, C, H, W) or (B, D), on any device; ``stored`` its float16
    stored form on the CPU; ``labels`` (B,) int64 in ``range(classes)``. The probe
    calls this in the layer's forward hook, while the output is still in cache.
    """
    flat = activation.reshape(activation.shape[0], activation.shape[1], -1)
    if flat.numel() <= SMALL_LAYER and flat.dtype == torch.float32 and flat.device.type == "cpu":
        peak, low, high = (torch.from_numpy(a) for a in peaks_and_range(flat.detach().numpy()))
    else:  # torch's reductions use every core; amax and amin apart (aminmax is slower)
        peak = flat.amax(dim=2).float().cpu()
        low = flat.amin(dim=2).amin(dim=0).float().cpu()
        high = peak.amax(dim=0)
    # the compiled sums run on this thread alone, after torch's parallel reductions
    sums = np.zeros((classes, math.prod(stored.shape[1:])), np.int64)
    add_class_sums(stored.reshape(len(stored), -1).cpu(), labels, sums)
    return LayerBatch(peak, low, high, sums)


@dataclass
class Partial:
    """The merged summary of a set of rows (see the module docstring)."""

    layers: dict[str, LayerPartial]
    counts: np.ndarray  # (K,) int64 images per class
    input_sums: np.ndarray  # (K, C*H*W) int64, uint8 pixels summed
    confusion: np.ndarray  # (K, K) int64 [label, prediction]; zeros for embeddings
    rows: int = 0
    k: int = 9
    all_positions: bool = False
    specs: dict[str, LayerSpec] = field(default_factory=dict)

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
        embeddings16: Mapping[str, torch.Tensor],
        images: np.ndarray,
        labels: torch.Tensor,
        indices: torch.Tensor,
        predictions: torch.Tensor | None,
    ) -> None:
        """Fold one batch in: each layer's :func:`summarise`, then :meth:`fold`.

        ``activations[l]`` float32 (B, C, H, W) or (B, D); ``embeddings16[l]``
        the stored float16 form (B, H, W, C) or (B, D); ``images`` uint8
        (B, C, H, W); ``labels`` and ``indices`` (B,) int64; ``predictions``
        (B,) int64 or None.
        """
        lab = self.checked_labels(labels)
        summaries = {
            name: summarise(activations[name], embeddings16[name], lab, len(self.counts))
            for name in self.layers
        }
        self.fold(summaries, activations, images, labels, indices, predictions)

    def fold(
        self,
        summaries: Mapping[str, LayerBatch],
        activations: Mapping[str, torch.Tensor],
        images: np.ndarray,
        labels: torch.Tensor,
        indices: torch.Tensor,
        predictions: torch.Tensor | None,
    ) -> None:
        """Fold in a batch whose layers were summarised already (:func:`summarise`).

        ``activations`` are only read at the few (image, channel) pairs that enter a
        top-k, for the position of their maximum (every position with
        ``all_positions``).
        """
        lab = self.checked_labels(labels)
        classes = len(self.counts)
        self.counts += torch.bincount(lab, minlength=classes).numpy()
        if predictions is not None:
            flat = lab * classes + predictions.to(torch.int64).clamp(0, classes - 1)
            self.confusion += (
                torch.bincount(flat, minlength=classes * classes).view(classes, classes).numpy()
            )
        add_class_sums(torch.from_numpy(images.reshape(len(images), -1)), lab, self.input_sums)
        idx = indices.to(torch.int64)
        for name, part in self.layers.items():
            batch = summaries[name]
            low, high = batch.low.numpy(), batch.high.numpy()
            _check_range(name, low, high, idx)
            part.minimum = np.minimum(part.minimum, low)
            part.maximum = np.maximum(part.maximum, high)
            part.sums += batch.sums
        if self.all_positions:
            for name, part in self.layers.items():
                width = self.specs[name].shape[1] if self.specs[name].spatial else 1
                flat = _flat(activations[name], self.specs[name])
                self._merge_topk(part, _candidates_all(flat, idx, width, self.k))
        else:
            self._rank_peaks(summaries, activations, idx)
        self.rows += len(lab)

    def _rank_peaks(
        self,
        summaries: Mapping[str, LayerBatch],
        activations: Mapping[str, torch.Tensor],
        indices: torch.Tensor,
    ) -> None:
        """Each image's peak per channel into the top-k, by compiled insertion.

        Only the few (image, channel) pairs that can still enter a top-k have their
        position looked up (the first maximum, on the activation's device).
        """
        ind = indices.numpy()
        for name, part in self.layers.items():
            spec = self.specs[name]
            peak = summaries[name].peak.numpy()
            channel, image = entrants(peak, ind, part.values, part.index)
            if not len(channel):
                continue
            if spec.spatial:
                flat = _flat(activations[name], spec)
                pick = (torch.from_numpy(image), torch.from_numpy(channel))
                at = flat[tuple(t.to(flat.device) for t in pick)].argmax(dim=1).cpu().numpy()
                width = spec.shape[1]
            else:
                at, width = np.zeros(len(channel), np.int64), 1
            insert(part.values, part.index, part.position, peak, ind, channel, image, at, width)

    def _merge_topk(
        self, part: LayerPartial, candidates: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> None:
        """Merge candidates (values, index, position; one row per channel) into a top-k."""
        held = (getattr(part, f) for f in TOPK_FIELDS)
        merged = select_topk(
            *(np.concatenate([a, c], 1) for a, c in zip(held, candidates, strict=True)), self.k
        )
        for f, a in zip(TOPK_FIELDS, merged, strict=True):
            setattr(part, f, a)

    def checked_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """``labels`` as int64, refused (one-line error) outside ``range(classes)``."""
        classes = len(self.counts)
        lab = labels.to(torch.int64)
        low, high = (int(f(lab.numpy())) for f in (np.min, np.max)) if len(lab) else (0, 0)
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
        return Partial(
            layers={n: p.merge(other.layers[n]) for n, p in self.layers.items()},
            counts=self.counts + other.counts,
            input_sums=self.input_sums + other.input_sums,
            confusion=self.confusion + other.confusion,
            rows=self.rows + other.rows,
            k=self.k,
            all_positions=self.all_positions,
            specs=dict(self.specs),
        )

    # ---------------------------------------------------------------- bytes
    def to_bytes(self) -> bytes:
        """An ``.npz`` image of this partial (for resuming and shard merges)."""
        arrays: dict[str, np.ndarray] = {
            "counts": self.counts,
            "input_sums": self.input_sums,
            "confusion": self.confusion,
            "meta": np.array([self.rows, self.k, int(self.all_positions)], np.int64),
        }
        for n, p in self.layers.items():
            for f in ("values", "index", "position", "minimum", "maximum", "sums"):
                arrays[f"layer/{n}/{f}"] = getattr(p, f)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, specs: list[LayerSpec]) -> Partial:
        with np.load(io.BytesIO(data)) as z:
            rows, k, allpos = (int(v) for v in z["meta"])
            layers = {
                s.name: LayerPartial(
                    *(
                        z[f"layer/{s.name}/{f}"]
                        for f in ("values", "index", "position", "minimum", "maximum", "sums")
                    )
                )
                for s in specs
            }
            return cls(
                layers=layers,
                counts=z["counts"],
                input_sums=z["input_sums"],
                confusion=z["confusion"],
                rows=rows,
                k=k,
                all_positions=bool(allpos),
                specs={s.name: s for s in specs},
            )


def _check_range(name: str, low: np.ndarray, high: np.ndarray, indices: torch.Tensor) -> None:
    """Refuse a batch whose layer is not finite or beyond the float16 range."""
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        bad = int(np.flatnonzero(~(np.isfinite(low) & np.isfinite(high)))[0])
        raise DataError(
            f"layer {name!r} produced NaN or infinite values (channel {bad}, in the batch "
            f"of dataset images {int(indices.min())}..{int(indices.max())}): expected "
            "finite activations; check the checkpoint's weights (a diverged run?)"
        )
    peak = max(float(high.max()), -float(low.min()))
    if peak > FLOAT16_MAX:
        raise DataError(
            f"layer {name!r} reaches {peak:.4g}, beyond the float16 range of stored "
            f"embeddings (±{FLOAT16_MAX:g}); leave it out with layers=[...] or rescale "
            "the model's input"
        )


def _flat(activation: torch.Tensor, spec: LayerSpec) -> torch.Tensor:
    """(B, C, H, W) or (B, D) -> (B, C, P) with P = H*W (1 for fc layers)."""
    return activation.reshape(activation.shape[0], spec.channels, -1)


def _candidates_all(
    flat: torch.Tensor, indices: torch.Tensor, width: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (image, position) of a batch as a candidate, pruned to ties of the k-th best.

    flat (B, C, P) -> values (C, M), index (C, M), position (C, M, 2) with every
    candidate whose value is at least the channel's k-th largest in the batch.
    """
    b, c, p = flat.shape
    per_channel = flat.permute(1, 0, 2).reshape(c, b * p)  # (C, B*P), image-major
    kk = min(k, b * p)
    kth = per_channel.topk(kk, dim=1).values[:, -1:]
    keep = per_channel >= kth
    counts = keep.sum(1)
    m = int(counts.max())
    vals = np.full((c, m), -np.inf, np.float32)
    idx = np.full((c, m), NO_INDEX, np.int64)
    pos = np.zeros((c, m, 2), np.int64)
    ind = indices.numpy()
    for ch in range(c):
        where = torch.nonzero(keep[ch])[:, 0].numpy()
        n = len(where)
        vals[ch, :n] = per_channel[ch, where].numpy()
        idx[ch, :n] = ind[where // p]
        flat_pos = where % p
        pos[ch, :n, 0] = flat_pos // width
        pos[ch, :n, 1] = flat_pos % width
    return vals, idx, pos
