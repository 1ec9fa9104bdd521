"""Objectives: one score per image of the batch, to be maximised.

An :class:`Objective` maps the activations seen in one forward pass (a dict from
layer name to tensor, ``""`` being the model output and :data:`IMAGE` the image
before transforms) to a tensor (N,) with one score per image. Objectives combine
with ``+``, ``-``, ``*`` (by a number or another objective) and name themselves.

They are batched: ``channel("conv2", units=[0, 1, 2])`` scores image 0 by
channel 0, image 1 by channel 1 and image 2 by channel 2, so one optimisation
draws a whole layer.

Example::

    obj = channel("conv2", range(50)) - 0.05 * total_variation()
    obj.name            # 'channel(conv2, 50 units) - 0.05 * total_variation(beta=2)'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

__all__ = [
    "IMAGE",
    "OUTPUT",
    "Objective",
    "UnitObjective",
    "channel",
    "class_logit",
    "direction",
    "diversity",
    "neuron",
]

#: Key of the model's output in the activations dict.
OUTPUT = ""
#: Key of the image before transforms (for regularisers).
IMAGE = "<image>"

Acts = Mapping[str, torch.Tensor]


class Objective:
    """A named function ``acts -> (N,)`` scores, with the layers it reads."""

    def __init__(self, fn: Callable[[Acts], torch.Tensor], layers: Iterable[str], name: str):
        self.fn = fn
        self.layers = frozenset(layers)
        self.name = name

    def __call__(self, acts: Acts) -> torch.Tensor:
        return self.fn(acts)

    def __repr__(self) -> str:
        return f"Objective({self.name})"

    # ---------------------------------------------------------------- algebra
    def __add__(self, other: Objective | float) -> Objective:
        if isinstance(other, int | float):
            return Objective(lambda a: self(a) + other, self.layers, f"{self.name} + {other:g}")
        return Objective(
            lambda a: self(a) + other(a), self.layers | other.layers, f"{self.name} + {other.name}"
        )

    def __radd__(self, other: float) -> Objective:
        return self + other

    def __neg__(self) -> Objective:
        return Objective(lambda a: -self(a), self.layers, f"-({self.name})")

    def __sub__(self, other: Objective | float) -> Objective:
        if isinstance(other, int | float):
            return Objective(lambda a: self(a) - other, self.layers, f"{self.name} - {other:g}")
        return Objective(
            lambda a: self(a) - other(a), self.layers | other.layers, f"{self.name} - {other.name}"
        )

    def __rsub__(self, other: float) -> Objective:
        return Objective(lambda a: other - self(a), self.layers, f"{other:g} - {self.name}")

    def __mul__(self, other: Objective | float) -> Objective:
        if isinstance(other, int | float):
            return Objective(lambda a: other * self(a), self.layers, f"{other:g} * {self.name}")
        return Objective(
            lambda a: self(a) * other(a),
            self.layers | other.layers,
            f"({self.name}) * ({other.name})",
        )

    def __rmul__(self, other: float) -> Objective:
        return self * other


class UnitObjective(Objective):
    """An objective that scores image n by one unit ``units[n]`` of one layer.

    ``units`` None stands for every unit of the layer, resolved by the job
    (:meth:`subset`) once it knows the layer's shape. ``table(act)`` gives every
    listed unit's value on every image, (N, K), which the quality figure uses on
    dataset images. ``what`` names a unit in messages and figures.
    """

    kind = "unit"
    what = "unit"
    #: whether :meth:`own_value` can score from each image's own unit alone
    supports_own = False

    def __init__(self, layer: str, units: Sequence[int] | None, name: str):
        self.layer = layer
        self.units = None if units is None else [int(u) for u in units]
        self._index: dict[tuple[int, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}
        super().__init__(self._score, [layer], name)

    def subset(self, units: Sequence[int]) -> UnitObjective:
        """The same objective for ``units`` only (a chunk of a batch, or all units resolved)."""
        raise NotImplementedError

    def count(self, shape: tuple[int, ...]) -> int:
        """How many units a layer output of ``shape`` (without batch) offers."""
        return int(shape[0]) if shape else 1

    def check(self, shape: tuple[int, ...]) -> None:
        """A one-line :class:`~convlens.errors.TargetError` when the units do not fit ``shape``."""
        from ..errors import TargetError

        count = self.count(shape)
        if self.units is not None and not self.units:
            raise TargetError(f"units=[] is empty: expected at least one {self.what} index")
        for u in self.units or []:
            if not 0 <= u < count:
                raise TargetError(
                    f"{self.what} {u} is out of range for layer {self.layer or 'output'!r} with "
                    f"{count} {'channels' if len(shape) > 1 else 'units'}: "
                    f"expected 0..{count - 1}"
                )

    @property
    def own_key(self) -> str:
        """Key under which an engine may pass each image's own unit, (N, ...), instead of
        the whole layer (N, C, ...)."""
        return f"<own {self.layer} {id(self)}>"

    def per_sample(self, n: int) -> torch.Tensor:
        """The unit index of each of ``n`` images, (N,) int64."""
        return _per_sample(self._resolved(), n)

    def _resolved(self) -> list[int]:
        if self.units is None:
            raise ValueError(f"{self.name}: the units are not resolved yet (call subset)")
        return self.units

    def table(self, act: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _score(self, acts: Acts) -> torch.Tensor:
        own = acts.get(self.own_key)
        if own is not None:
            return self.own_value(own)
        act = acts[self.layer]
        n = act.shape[0]
        key = (n, act.device)
        if key not in self._index:  # built once per batch size, not every step
            index = _per_sample(self._resolved(), n).to(act.device)
            self._index[key] = (index, torch.arange(n, device=act.device))
        index, rows = self._index[key]
        return self._value(act, index, rows)

    def _value(self, act: torch.Tensor, index: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def own_value(self, own: torch.Tensor) -> torch.Tensor:
        """The score from each image's own unit only: ``own`` is (N, H, W) or (N,)."""
        raise NotImplementedError


def _per_sample(units: Sequence[int], n: int) -> torch.Tensor:
    """Unit of each of ``n`` images: ``units`` repeated in blocks (m images per unit)."""
    k = len(units)
    if n % k:
        raise ValueError(f"a batch of {n} images does not divide among {k} units")
    return torch.tensor(units).repeat_interleave(n // k)


def _name(kind: str, layer: str, units: Sequence[int] | None) -> str:
    if units is None:
        what = "all units"
    else:
        what = f"unit {units[0]}" if len(units) == 1 else f"{len(units)} units"
    return f"{kind}({layer or 'output'}, {what})"


class _Channel(UnitObjective):
    kind = "channel"
    what = "unit"

    def __init__(self, layer: str, units: Sequence[int] | None, kind: str = "channel"):
        self.kind = kind
        self.what = "class" if kind == "class" else "unit"
        super().__init__(layer, units, _name(kind, layer, units))

    def subset(self, units: Sequence[int]) -> UnitObjective:
        return _Channel(self.layer, units, self.kind)

    def table(self, act: torch.Tensor) -> torch.Tensor:
        flat = act.flatten(2).mean(2) if act.dim() > 2 else act
        return flat[:, self._resolved()]

    def _value(self, act, index, rows):
        return self.own_value(act[rows, index])

    supports_own = True

    def own_value(self, own):
        return own.flatten(1).mean(1) if own.dim() > 1 else own


class _Neuron(UnitObjective):
    kind = "neuron"

    def __init__(self, layer: str, units: Sequence[int] | None, position: tuple[int, int] | None):
        super().__init__(layer, units, _name("neuron", layer, units))
        self.position = None if position is None else (int(position[0]), int(position[1]))

    def subset(self, units: Sequence[int]) -> UnitObjective:
        return _Neuron(self.layer, units, self.position)

    def check(self, shape: tuple[int, ...]) -> None:
        from ..errors import TargetError

        super().check(shape)
        if len(shape) not in (1, 3):
            raise TargetError(
                f"layer {self.layer!r} has output {shape}; neurons need (C, H, W) or (D,)"
            )
        if self.position is not None and len(shape) == 3:
            y, x = self.position
            if not (0 <= y < shape[1] and 0 <= x < shape[2]):
                raise TargetError(
                    f"position {self.position} is outside layer {self.layer!r}'s "
                    f"{shape[1]} x {shape[2]} map: expected ROW in 0..{shape[1] - 1} and "
                    f"COL in 0..{shape[2] - 1}"
                )

    def _where(self, act: torch.Tensor) -> tuple[int, int]:
        if self.position is not None:
            return self.position
        return act.shape[-2] // 2, act.shape[-1] // 2

    def table(self, act: torch.Tensor) -> torch.Tensor:
        if act.dim() == 2:
            return act[:, self._resolved()]
        y, x = self._where(act)
        return act[:, self._resolved(), y, x]

    def _value(self, act, index, rows):
        if act.dim() == 2:
            return act[rows, index]
        y, x = self._where(act)
        return act[rows, index, y, x]

    supports_own = True

    def own_value(self, own):
        if own.dim() == 1:
            return own
        y, x = self._where(own)
        return own[:, y, x]


class _Direction(UnitObjective):
    kind = "direction"
    what = "direction"

    def __init__(self, layer: str, vectors: torch.Tensor, rows: Sequence[int] | None = None):
        vectors = torch.as_tensor(vectors, dtype=torch.float32)
        if vectors.dim() == 1:
            vectors = vectors[None]
        self.all_vectors = vectors
        rows = list(range(len(vectors))) if rows is None else [int(r) for r in rows]
        self.vectors = vectors[rows] / vectors[rows].norm(dim=1, keepdim=True).clamp_min(1e-12)
        super().__init__(layer, rows, _name("direction", layer, rows))

    def subset(self, units: Sequence[int]) -> UnitObjective:
        return _Direction(self.layer, self.all_vectors, units)

    def count(self, shape: tuple[int, ...]) -> int:
        return len(self.all_vectors)

    def check(self, shape: tuple[int, ...]) -> None:
        from ..errors import TargetError

        channels = shape[0] if shape else 1
        v = self.all_vectors
        if v.dim() != 2 or v.shape[1] != channels or not len(v):
            raise TargetError(
                f"direction vectors of shape {tuple(v.shape)} do not fit layer {self.layer!r} "
                f"with {channels} channels: expected (K, {channels})"
            )
        if not torch.isfinite(v).all() or not (v != 0).any(1).all():
            raise TargetError(
                f"direction vectors for layer {self.layer!r} hold NaN, infinite or all-zero "
                "rows: expected K finite, non-zero directions"
            )
        super().check(shape)

    def per_sample(self, n: int) -> torch.Tensor:
        return _per_sample(list(range(len(self.vectors))), n)

    def _project(self, act: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        v = vectors.to(device=act.device, dtype=act.dtype)
        if act.dim() == 2:
            return act @ v.T
        return torch.einsum("nchw,kc->nkhw", act, v).mean((2, 3))

    def table(self, act: torch.Tensor) -> torch.Tensor:
        return self._project(act, self.vectors)

    def _score(self, acts: Acts) -> torch.Tensor:
        act = acts[self.layer]
        n = act.shape[0]
        index = _per_sample(list(range(len(self.vectors))), n).to(act.device)
        return self._value(act, index, torch.arange(n, device=act.device))

    def _value(self, act, index, rows):
        v = self.vectors.to(device=act.device, dtype=act.dtype)[index]
        if act.dim() == 2:
            return (act * v).sum(1)
        return (act * v[:, :, None, None]).sum(1).mean((1, 2))


def channel(layer: str, units: int | Iterable[int] | None = None) -> UnitObjective:
    """Mean activation of channel ``units[n]`` over its map, for image n.

    For a non-spatial layer (N, D) the unit's value itself. ``units`` None: every
    channel of the layer (resolved by the job).

    >>> obj = channel("conv2", [0, 1]); obj({"conv2": torch.ones(2, 3, 4, 4)}).tolist()
    [1.0, 1.0]
    """
    return _Channel(layer, _units(units))


def neuron(
    layer: str, units: int | Iterable[int] | None = None, position: tuple[int, int] | None = None
) -> UnitObjective:
    """Activation of channel ``units[n]`` at one ``(row, col)`` (the centre by default).

    >>> neuron("conv1", 0, (1, 2))({"conv1": torch.arange(16.).view(1, 1, 4, 4)}).item()
    6.0
    """
    return _Neuron(layer, _units(units), position)


def class_logit(classes: int | Iterable[int] | None = None, layer: str = OUTPUT) -> UnitObjective:
    """The model output (a logit) of class ``classes[n]`` for image n.

    >>> class_logit([1])({"": torch.tensor([[0.5, 2.0]])}).item()
    2.0
    """
    return _Channel(layer, _units(classes), kind="class")


def direction(layer: str, vectors: torch.Tensor | Sequence[Sequence[float]]) -> UnitObjective:
    """Projection of the layer's channel vector on ``vectors[n]`` (unit length), mean over space.

    ``vectors`` is (K, C): one direction in channel space per image.

    >>> round(direction("fc", [[3.0, 4.0]])({"fc": torch.tensor([[1.0, 1.0]])}).item(), 4)
    1.4
    """
    return _Direction(layer, torch.as_tensor(np.asarray(vectors), dtype=torch.float32))


def _units(units: int | Iterable[int] | None) -> list[int] | None:
    if units is None:
        return None
    if isinstance(units, int | np.integer):
        return [int(units)]
    return [int(u) for u in units]


def diversity(layer: str, per_unit: int | None = None) -> Objective:
    """Minus the Gram-matrix similarity of each image to the others of its group.

    Images are grouped in consecutive blocks of ``per_unit`` (all one group when
    None). Image n scores ``-mean_m cos(G_n, G_m)`` over the other members m of
    its group, where ``G`` is the (C, C) Gram matrix of its channels; adding this
    pushes the images drawn for one unit apart (Olah et al. 2017).

    >>> d = diversity("conv1"); d({"conv1": torch.ones(2, 2, 3, 3)}).tolist()
    [-1.0, -1.0]
    """

    def fn(acts: Acts) -> torch.Tensor:
        act = acts[layer]
        n = act.shape[0]
        flat = act.flatten(2) if act.dim() > 2 else act[:, :, None]
        gram = flat @ flat.transpose(1, 2) / flat.shape[2]
        g = gram.flatten(1)
        g = g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
        sim = g @ g.T
        size = per_unit or n
        group = torch.arange(n, device=act.device) // size
        eye = torch.eye(n, dtype=torch.bool, device=act.device)
        mask = (group[:, None] == group[None, :]) & ~eye
        count = mask.sum(1).clamp_min(1)
        return -(sim * mask).sum(1) / count

    return Objective(fn, [layer], f"diversity({layer or 'output'})")
