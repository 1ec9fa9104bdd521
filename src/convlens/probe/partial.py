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
    total = p1.merge(p2)
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DataError

FIXED_POINT = 2**24  # float16 values are multiples of 2**-24
FLOAT16_MAX = 65504.0
NO_INDEX = np.iinfo(np.int64).max
SUM_COLUMNS = 2048  # columns per float64 block of the class sums

__all__ = ["FIXED_POINT", "LayerPartial", "LayerSpec", "Partial", "select_topk"]


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
        """Fold one batch in: :meth:`update_ranking`, then :meth:`add_sums`.

        ``activations[l]`` float32 (B, C, H, W) or (B, D); ``embeddings16[l]``
        the stored float16 form (B, H, W, C) or (B, D); ``images`` uint8
        (B, C, H, W); ``labels`` and ``indices`` (B,) int64; ``predictions``
        (B,) int64 or None.
        """
        self.update_ranking(activations, labels, indices, predictions)
        self.add_sums(embeddings16, images, labels)

    def update_ranking(
        self,
        activations: Mapping[str, torch.Tensor],
        labels: torch.Tensor,
        indices: torch.Tensor,
        predictions: torch.Tensor | None,
    ) -> None:
        """Fold in a batch's rows, counts, confusion, ranges and top-k (not the sums).

        The class sums are left to :meth:`add_sums`, which another thread may run, so
        long as it runs once per batch; the two touch different fields.
        """
        lab = self._checked_labels(labels)
        classes = len(self.counts)
        self.counts += torch.bincount(lab, minlength=classes).numpy()
        if predictions is not None:
            flat = lab * classes + predictions.to(torch.int64).clamp(0, classes - 1)
            self.confusion += (
                torch.bincount(flat, minlength=classes * classes).view(classes, classes).numpy()
            )
        idx = indices.to(torch.int64)
        for name, part in self.layers.items():
            self._rank_layer(name, part, activations[name], idx)
        self.rows += len(lab)

    def add_sums(
        self, embeddings16: Mapping[str, torch.Tensor], images: np.ndarray, labels: torch.Tensor
    ) -> None:
        """Add a batch's per-class sums of the stored embeddings and of the input pixels."""
        lab = self._checked_labels(labels)
        classes = len(self.counts)
        self.input_sums += _class_sums(
            torch.from_numpy(images.reshape(len(images), -1)), lab, classes
        )
        for name, part in self.layers.items():
            emb16 = embeddings16[name]
            part.sums += _class_sums(emb16.reshape(len(emb16), -1), lab, classes)

    def _checked_labels(self, labels: torch.Tensor) -> torch.Tensor:
        classes = len(self.counts)
        lab = labels.to(torch.int64)
        if len(lab) and (int(lab.min()) < 0 or int(lab.max()) >= classes):
            raise DataError(
                f"labels run from {int(lab.min())} to {int(lab.max())}, but the run has "
                f"{classes} classes; give data labelled 0..{classes - 1}"
            )
        return lab

    def _rank_layer(
        self, name: str, part: LayerPartial, act: torch.Tensor, indices: torch.Tensor
    ) -> None:
        spec = self.specs[name]
        b = act.shape[0]
        flat = act.reshape(b, spec.channels, -1)  # (B, C, P) with P = H*W (1 for fc)
        # per image and channel the maximum (amax and amin apart: torch.aminmax is
        # many times slower on the CPU); the maximum's position is found only for the
        # few pairs that can still enter the top-k (see _contenders)
        val = flat.amax(dim=2)
        hi = val.amax(dim=0).numpy()
        lo = flat.amin(dim=2).amin(dim=0).numpy()
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            bad = int(np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))[0])
            raise DataError(
                f"layer {name!r} produced NaN or infinite values (channel {bad}, in the batch "
                f"of dataset images {int(indices.min())}..{int(indices.max())}): expected "
                "finite activations; check the checkpoint's weights (a diverged run?)"
            )
        peak = max(float(hi.max()), -float(lo.min()))
        if peak > FLOAT16_MAX:
            raise DataError(
                f"layer {name!r} reaches {peak:.4g}, beyond the float16 range of stored "
                f"embeddings (±{FLOAT16_MAX:g}); leave it out with layers=[...] or rescale "
                "the model's input"
            )
        part.minimum = np.minimum(part.minimum, lo)
        part.maximum = np.maximum(part.maximum, hi)
        width = spec.shape[1] if spec.spatial else 1
        if self.all_positions:
            v, i, p = _candidates_all(flat, indices, width, self.k)
        else:
            v, i, p = _contenders(flat, val, indices, width, part.values[:, -1])
        merged = select_topk(
            np.concatenate([part.values, v], 1),
            np.concatenate([part.index, i], 1),
            np.concatenate([part.position, p], 1),
            self.k,
        )
        part.values, part.index, part.position = merged

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


def _class_sums(values: torch.Tensor, labels: torch.Tensor, classes: int) -> np.ndarray:
    """(B, F) values summed per class -> (K, F) int64.

    ``values`` are integers or float16 numbers (multiples of 2**-24 below 2**16).
    Integers are summed as int64. Float16 values are summed in float64 blocks of up
    to 2**13 rows: every partial sum is then a multiple of 2**-24 below 2**53 * 2**-24,
    so it is exact whatever the order of the additions; the block sums are added as
    fixed-point integers. The float64 copies are made ``SUM_COLUMNS`` columns at a
    time (via float32, which is exact and much faster than float16 -> float64), so
    they stay small enough for the cache.
    """
    if not values.is_floating_point():
        out = torch.zeros((classes, values.shape[1]), dtype=torch.int64)
        return out.index_add_(0, labels, values.to(torch.int64)).numpy()
    width = values.shape[1]
    total = np.zeros((classes, width), np.int64)
    for start in range(0, len(values), 2**13):
        rows = values[start : start + 2**13]
        lab = labels[start : start + 2**13]
        for col in range(0, width, SUM_COLUMNS):
            block = rows[:, col : col + SUM_COLUMNS].to(torch.float32).to(torch.float64)
            acc = torch.zeros((classes, block.shape[1]), dtype=torch.float64)
            acc.index_add_(0, lab, block)
            total[:, col : col + SUM_COLUMNS] += (acc * FIXED_POINT).to(torch.int64).numpy()
    return total


def _contenders(
    flat: torch.Tensor, val: torch.Tensor, indices: torch.Tensor, width: int, kth: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch's per-image maxima that can still enter each channel's top-k.

    flat (B, C, P) activations, val (B, C) their maximum over P, ``kth`` (C,) each
    channel's current k-th value -> values (C, M), index (C, M), position (C, M, 2)
    with M the most contenders of any channel. A candidate below the k-th value can
    never enter, so only the others get their position (the first maximum). Rows are
    padded with empty slots (-inf, ``NO_INDEX``, (0, 0)), which rank like the empty
    slots of a top-k that is not full.
    """
    values = val.T.numpy()  # (C, B)
    floor = np.where(np.isnan(kth), -np.inf, kth).astype(values.dtype)
    rows, cols = np.nonzero(values >= floor[:, None])  # (channel, image) pairs
    c = values.shape[0]
    counts = np.bincount(rows, minlength=c)
    m = int(counts.max()) if len(rows) else 0
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    v = np.full((c, m), -np.inf, np.float32)
    i = np.full((c, m), NO_INDEX, np.int64)
    p = np.zeros((c, m, 2), np.int64)
    v[rows, slot] = values[rows, cols]
    i[rows, slot] = indices.numpy()[cols]
    if flat.shape[2] > 1 and len(rows):
        picked = flat[torch.from_numpy(cols), torch.from_numpy(rows)]  # (n, P)
        a = picked.argmax(dim=1).numpy()
        p[rows, slot, 0] = a // width
        p[rows, slot, 1] = a % width
    return v, i, p


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
