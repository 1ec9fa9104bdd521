"""What a probe stores, decided before it runs: a plan sized to a storage budget.

- Each probed layer keeps ``points_per_image`` of its positions per image: all of
  them for fc layers and whenever the budget allows, else the same fraction of the
  positions of every spatial layer, the largest that keeps the whole store within
  the budget, and never less than one point per image (see
  :mod:`convlens.probe.sampling` for which positions).
- Layers whose values leave float16's range are stored as float32 (``float32_layers``;
  the pass finds them and plans again).
- The batch size, when not given, keeps one batch of the probed layers' float32
  outputs under ``ACTIVATION_BYTES`` (at most ``MAX_BATCH`` images).
- Projections are fitted on the first ``FIT_IMAGES`` rows (``fit_rows`` for a shard).

A plan is a frozen value: shards of one probe share it (made once for the whole data
by :func:`convlens.probe.plan`), so that they store exactly what one pass stores.

Example::

    size = StoreSize(classes=10, outputs=10, input_size=784, k=9)
    plan = make_plan(specs, 10_000, size, ProbeOptions(budget="2GiB"))
    plan.layer("conv1").points_per_image
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import DataError
from .partial import LayerSpec

DEFAULT_BUDGET = 2 << 30
ACTIVATION_BYTES = 512 << 20
MAX_BATCH = 256
FIT_IMAGES = 1024
MAX_COMPONENTS = 10
COORD_BYTES = 12  # a sampled point's image (int64) and y, x (int16)
INPUT_MEAN_LIMIT = 1 << 24  # class means of the input pixels when classes x pixels fit

__all__ = [
    "DEFAULT_BUDGET",
    "FIT_IMAGES",
    "LayerPlan",
    "ProbeOptions",
    "ProbePlan",
    "StoreSize",
    "auto_batch_size",
    "human_bytes",
    "make_plan",
    "parse_bytes",
]

_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_IUNITS = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_bytes(value: int | float | str) -> int:
    """``2 << 30``, ``"2GiB"``, ``"500MB"``, ``"1.5G"`` -> bytes (one-line error otherwise)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]i?)?b?\s*", str(value).lower())
    if m is None or float(m.group(1)) <= 0:
        raise DataError(
            f"budget={value!r} is not a size: expected bytes or a number with a unit, "
            "like 2GiB, 500MB or 1.5G"
        )
    unit = m.group(2) or ""
    return int(float(m.group(1)) * (_IUNITS.get(unit) or _UNITS[unit]))


def human_bytes(n: float) -> str:
    """``1234567`` -> ``"1.2 MB"`` (powers of 1000)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def projection_axes(channels: int, method: str) -> int:
    return min(channels, MAX_COMPONENTS) if method == "pca" else 2


@dataclass(frozen=True)
class LayerPlan:
    """One probed layer: ``shape`` of one sample, (H, W, C) or (D,); its storage
    ``dtype``; how many of its positions each image keeps."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float16"
    points_per_image: int = 1

    @property
    def spec(self) -> LayerSpec:
        return LayerSpec(self.name, self.shape)

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
    def sampled(self) -> bool:
        return self.points_per_image < self.positions

    @property
    def itemsize(self) -> int:
        return 4 if self.dtype == "float32" else 2

    def point_bytes(self, projections: Sequence[str], sampled: bool | None = None) -> int:
        """Bytes one stored point takes: its values, its projections, its coordinates."""
        axes = sum(projection_axes(self.channels, m) for m in projections)
        coords = COORD_BYTES if (self.sampled if sampled is None else sampled) else 0
        return (self.channels + axes) * self.itemsize + coords


@dataclass(frozen=True)
class ProbeOptions:
    """How a probe runs and what it keeps (the knobs of :func:`convlens.probe.run`).

    - ``topk``: (image, position) pairs kept per channel; ``all_positions=True`` lets
      one image give several (default: its strongest position only);
    - ``batch_size``: images per forward pass (None: as many as keep one batch of the
      probed layers' outputs under 512 MB, at most 256);
    - ``budget``: the most disk the store may take (bytes or "2GiB"); spatial layers
      keep a sample of their positions when all of them would not fit;
    - ``projections``: ("pca",) by default, () for none, "umap" and "tsne" on request;
    - ``seed``: which positions a sampled layer keeps;
    - ``float32_layers``: layers stored as float32 from the start (the pass finds the
      layers that need it by itself);
    - ``task``: "classify" or "embed" (default: the run's).
    """

    topk: int = 9
    batch_size: int | None = None
    budget: int | str = DEFAULT_BUDGET
    projections: tuple[str, ...] = ("pca",)
    all_positions: bool = False
    seed: int = 0
    float32_layers: tuple[str, ...] = ()
    task: str | None = None


@dataclass(frozen=True)
class StoreSize:
    """What besides the points a store holds, for the size estimate."""

    classes: int
    outputs: int
    input_size: int
    k: int


@dataclass(frozen=True)
class ProbePlan:
    """The layers with their storage, the batch size, and what the plan was sized for.

    ``n`` is the number of images of the whole probe (a shard stores fewer);
    ``fit_rows`` the dataset rows projections are fitted on (None: the first
    ``FIT_IMAGES`` rows of the probe itself); ``bases`` the PCA bases already fitted
    on them, per layer (a distributed probe fits once and gives every shard the same).
    """

    layers: tuple[LayerPlan, ...]
    n: int
    batch_size: int
    budget: int
    projections: tuple[str, ...] = ("pca",)
    seed: int = 0
    fit_rows: tuple[int, ...] | None = field(default=None)
    bases: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def layer(self, name: str) -> LayerPlan:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "layers": [
                {"name": p.name, "shape": list(p.shape), "dtype": p.dtype,
                 "points_per_image": p.points_per_image}
                for p in self.layers
            ],
            "n": self.n,
            "batch_size": self.batch_size,
            "budget": self.budget,
            "projections": list(self.projections),
            "seed": self.seed,
        }  # fmt: skip

    def storage(self, n: int) -> dict[str, dict[str, Any]]:
        """The manifest's per-layer storage table for a store of ``n`` images."""
        return {
            p.name: {
                "dtype": p.dtype,
                "sampled": p.sampled,
                "points_per_image": p.points_per_image,
                "positions": p.positions,
                "stored_points": n * p.points_per_image,
                "total_points": n * p.positions,
                "fraction": p.points_per_image / p.positions,
            }
            for p in self.layers
        }


def auto_batch_size(specs: Sequence[LayerSpec]) -> int:
    """Images per batch keeping the probed layers' float32 outputs of one batch under
    ``ACTIVATION_BYTES``: a power of two from 1 to ``MAX_BATCH``."""
    per_image = 4 * sum(s.features for s in specs) or 1
    fits = max(1, ACTIVATION_BYTES // per_image)
    return int(min(MAX_BATCH, 2 ** int(math.log2(fits))))


def store_bytes(layers: Sequence[LayerPlan], n: int, projections: Sequence[str],
                size: StoreSize) -> int:  # fmt: skip
    """Disk bytes of a store of ``n`` images: points, per-image arrays, summaries, state."""
    total = n * (size.outputs * 4 + 3 * 8)  # logits, label, image, prediction
    total += size.classes * (size.classes + 1) * 8  # counts, confusion
    if size.classes * size.input_size <= INPUT_MEAN_LIMIT:  # input class means and sums
        total += size.classes * size.input_size * 12
    for p in layers:
        c = p.channels
        total += n * p.points_per_image * p.point_bytes(projections)
        total += n * (c * 4 if p.spatial else 8)  # per-image means; the image coordinate
        # ranges, top-k and its boxes, class means, PCA basis; in the partial state: top-k,
        # ranges and the class sums (two int64 halves per class and channel)
        total += c * (8 + size.k * 60 + size.classes * 4 + 8 * (1 + MAX_COMPONENTS))
        total += c * (8 + size.k * 28 + size.classes * 16 + 8 * (1 + MAX_COMPONENTS))
    return total + (256 << 10) + len(layers) * (64 << 10)  # + metadata and manifest


def make_plan(
    specs: Sequence[LayerSpec],
    n: int,
    size: StoreSize,
    options: ProbeOptions,
    fit_rows: tuple[int, ...] | None = None,
) -> ProbePlan:
    """The plan for ``n`` images: every layer whole if the budget allows it, else the
    largest fraction of positions of the spatial layers that fits, at least one point
    per image (a one-line :class:`DataError` when even that does not fit)."""
    limit = parse_bytes(options.budget)
    whole = [
        LayerPlan(s.name, s.shape, "float32" if s.name in options.float32_layers else "float16",
                  (s.shape[0] * s.shape[1]) if len(s.shape) == 3 else 1)
        for s in specs
    ]  # fmt: skip
    proj = options.projections

    def at(fraction: float) -> list[LayerPlan]:
        return [
            replace(p, points_per_image=max(1, min(p.positions, int(fraction * p.positions))))
            for p in whole
        ]

    batch = options.batch_size or auto_batch_size(specs)
    plan = ProbePlan((), n, batch, limit, proj, options.seed, fit_rows)
    if store_bytes(whole, n, proj, size) <= limit:
        return replace(plan, layers=tuple(whole))
    least = at(0.0)
    need = store_bytes(least, n, proj, size)
    if need > limit:
        raise DataError(
            f"budget={human_bytes(limit)} cannot hold one point per image of every probed "
            f"layer: {n:,} images need at least {human_bytes(need)}; give a budget of "
            f"{human_bytes(_round_up(need))} or more, or probe fewer layers or images"
        )
    lo, hi = 0.0, 1.0
    for _ in range(50):  # the largest fraction that fits, with 0.5% to spare
        mid = (lo + hi) / 2
        if store_bytes(at(mid), n, proj, size) <= limit * 0.995:
            lo = mid
        else:
            hi = mid
    return replace(plan, layers=tuple(at(lo)))


def _round_up(n: int) -> int:
    """``n`` rounded up to two significant digits (a budget to suggest)."""
    digits = max(0, len(str(int(n))) - 2)
    return -(-int(n) // 10**digits) * 10**digits
