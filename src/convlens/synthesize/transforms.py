"""Random transforms applied before each forward pass, one draw PER SAMPLE.

A transform is any callable ``(K, C, H, W) -> (K, C, H', W')``. Those defined
here draw a separate random shift, scale or angle for every image of the batch
(Lucent draws one for the whole batch), name themselves, and say what size they
need through ``out_size(h, w)``, which raises a one-line
:class:`~convlens.errors.InputShapeError` when the image is too small.

They compose, and their names parse back (a spec records them by name)::

    t = compose(pad(2), jitter(4), scale((0.9, 1.1)), rotate(10))
    y = t(x)            # x (K, C, 28, 28) -> y (K, C, 28, 28)
    parse_transforms(repr(t))       # the same chain
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ..errors import InputShapeError

__all__ = [
    "Compose",
    "FusedAffine",
    "Transform",
    "compose",
    "jitter",
    "pad",
    "parse_transforms",
    "roll",
    "rotate",
    "scale",
    "standard_transforms",
]

Transform = Callable[[torch.Tensor], torch.Tensor]


class _Named:
    name = "transform"

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        # transforms are equal when they draw the same way: same kind, same name
        return type(other) is type(self) and repr(other) == repr(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        return h, w

    def _too_small(self, h: int, w: int, need: int) -> InputShapeError:
        return InputShapeError(
            f"size {h}x{w} is too small for the transform {self.name}: it needs images of at "
            f"least {need}x{need}; pass a larger size or weaker transforms"
        )


class Pad(_Named):
    """Pad every side by ``width`` pixels (``reflect``, ``replicate`` or ``constant``)."""

    def __init__(self, width: int, mode: str = "reflect", value: float = 0.0):
        self.width, self.mode, self.value = int(width), mode, float(value)
        self.name = f"pad({self.width})"

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        if self.mode == "reflect" and min(h, w) <= self.width:
            raise self._too_small(h, w, self.width + 1)
        return h + 2 * self.width, w + 2 * self.width

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p = self.width
        if p == 0:
            return x
        if self.mode == "constant":
            return F.pad(x, (p, p, p, p), mode="constant", value=self.value)
        return F.pad(x, (p, p, p, p), mode=self.mode)


class Jitter(_Named):
    """A random crop ``d`` pixels smaller, at an offset drawn for each sample."""

    def __init__(self, d: int):
        self.d = int(d)
        self.name = f"jitter({self.d})"

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        if min(h, w) <= self.d:
            raise self._too_small(h, w, self.d + 1)
        return h - self.d, w - self.d

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.d == 0:
            return x
        k, c, h, w = x.shape
        oh, ow = h - self.d, w - self.d
        dev = x.device
        # offsets drawn on the CPU generator (the same draw on every device), then moved
        dy = torch.randint(0, self.d + 1, (k,)).to(dev)
        dx = torch.randint(0, self.d + 1, (k,)).to(dev)
        rows = (dy[:, None] + torch.arange(oh, device=dev)[None]).view(k, 1, oh, 1)
        cols = (dx[:, None] + torch.arange(ow, device=dev)[None]).view(k, 1, 1, ow)
        batch = torch.arange(k, device=dev).view(k, 1, 1, 1)
        chans = torch.arange(c, device=dev).view(1, c, 1, 1)
        return x[batch, chans, rows, cols]


class Roll(_Named):
    """A circular shift by up to ``d`` pixels each way, drawn for each sample; size unchanged.

    DeepDream rolls the image before its tiled gradient so that tile seams move
    every step; the shift is exactly undone by the gradient's way back.
    """

    def __init__(self, d: int):
        self.d = int(d)
        self.name = f"roll({self.d})"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.d == 0:
            return x
        k, c, h, w = x.shape
        dev = x.device
        # shifts drawn on the CPU generator (the same draw on every device), then moved
        dy = torch.randint(-self.d, self.d + 1, (k,)).to(dev)
        dx = torch.randint(-self.d, self.d + 1, (k,)).to(dev)
        rows = (torch.arange(h, device=dev)[None] - dy[:, None]) % h
        cols = (torch.arange(w, device=dev)[None] - dx[:, None]) % w
        batch = torch.arange(k, device=dev).view(k, 1, 1, 1)
        chans = torch.arange(c, device=dev).view(1, c, 1, 1)
        return x[batch, chans, rows.view(k, 1, h, 1), cols.view(k, 1, 1, w)]


class _Affine(_Named):
    """Resample each image by its own affine map about the centre; size unchanged."""

    def _matrices(self, k: int) -> torch.Tensor:
        raise NotImplementedError

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        if min(h, w) < 2:
            raise self._too_small(h, w, 2)
        return h, w

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # matrices drawn on the CPU generator (the same draw on every device), then moved
        theta = self._matrices(x.shape[0]).to(device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(
            x, grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )


class Scale(_Affine):
    """Zoom each image by a factor drawn uniformly from ``(low, high)`` or from a list."""

    def __init__(self, factors: Sequence[float]):
        self.factors = [float(f) for f in factors]
        if not self.factors or min(self.factors) <= 0:
            raise ValueError(f"scale factors {factors!r}: expected positive numbers")
        self.name = f"scale({min(self.factors):g}..{max(self.factors):g})"

    def _matrices(self, k: int) -> torch.Tensor:
        lo, hi = min(self.factors), max(self.factors)
        s = lo + (hi - lo) * torch.rand(k)
        theta = torch.zeros(k, 2, 3)
        theta[:, 0, 0] = 1.0 / s
        theta[:, 1, 1] = 1.0 / s
        return theta


class Rotate(_Affine):
    """Rotate each image by an angle drawn uniformly from ``[-degrees, degrees]``."""

    def __init__(self, degrees: float):
        self.degrees = float(degrees)
        self.name = f"rotate({self.degrees:g})"

    def _matrices(self, k: int) -> torch.Tensor:
        a = (torch.rand(k) * 2 - 1) * math.radians(self.degrees)
        cos, sin = torch.cos(a), torch.sin(a)
        theta = torch.zeros(k, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
        theta[:, 1, 0], theta[:, 1, 1] = sin, cos
        return theta


class Compose(_Named):
    """Apply transforms left to right; ``out_size`` checks each in turn."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)
        self.name = " -> ".join(repr(t) for t in self.transforms) or "identity"

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        for t in self.transforms:
            if hasattr(t, "out_size"):
                h, w = t.out_size(h, w)
        return h, w

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for t in self.transforms:
            x = t(x)
        return x


def pad(width: int, mode: str = "reflect", value: float = 0.0) -> Pad:
    """Pad by ``width`` pixels on every side.

    >>> pad(2)(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 1, 12, 12])
    """
    return Pad(width, mode, value)


def jitter(d: int) -> Jitter:
    """A random crop ``d`` pixels smaller, offset drawn per sample.

    >>> jitter(4)(torch.zeros(3, 1, 12, 12)).shape
    torch.Size([3, 1, 8, 8])
    """
    return Jitter(d)


def scale(factors: Sequence[float]) -> Scale:
    """Zoom each sample by its own factor from ``(low, high)``.

    >>> scale((0.9, 1.1))(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 1, 8, 8])
    """
    return Scale(factors)


def rotate(degrees: float) -> Rotate:
    """Rotate each sample by its own angle in ``[-degrees, degrees]``.

    >>> rotate(10)(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 1, 8, 8])
    """
    return Rotate(degrees)


def roll(d: int) -> Roll:
    """A circular shift of each sample by its own offset in ``[-d, d]`` pixels.

    >>> roll(3)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 1, 8, 8])
    """
    return Roll(d)


def compose(*transforms: Transform) -> Compose:
    """Chain transforms, left first.

    >>> compose(pad(2), jitter(4))(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 1, 8, 8])
    """
    return Compose(transforms)


def standard_transforms(size: int) -> FusedAffine:
    """Pad, jitter, scale and rotate scaled to an image side of ``size``; keeps the size.

    A translation of about 1/14 of the side, a zoom of +-10 % and +-10 degrees:
    for 28x28 that is pad(2) -> jitter(4) -> scale(0.9..1.1) -> rotate(10),
    applied as ONE resampling per step (:class:`FusedAffine`).
    """
    p = max(1, round(size / 14))
    return FusedAffine(p, (0.9, 1.1), 10)


class FusedAffine(Compose):
    """``pad(p) -> jitter(2p) -> scale(factors) -> rotate(degrees)`` as one resampling.

    A reflecting pad by ``p`` followed by a crop at offset ``d`` in ``[0, 2p]`` is
    a shift by ``d - p`` pixels; the zoom and the rotation about the centre are
    linear maps. Their composition is one affine map per sample, so the image is
    interpolated once (sharper and cheaper than three resamplings in a row). The
    random draws are those of the separate transforms, in the same order: row
    and column offsets, zoom factor, angle. Only the border differs slightly:
    the pad reflects about the edge pixel, the resampling about the edge.

    >>> FusedAffine(2, (0.9, 1.1), 10)(torch.zeros(3, 1, 28, 28)).shape
    torch.Size([3, 1, 28, 28])
    """

    def __init__(self, width: int, factors: Sequence[float], degrees: float):
        self.width = int(width)
        self.scale = Scale(factors)
        self.rotate = Rotate(degrees)
        super().__init__([Pad(self.width), Jitter(2 * self.width), self.scale, self.rotate])
        lo, hi = min(self.scale.factors), max(self.scale.factors)
        deg = self.rotate.degrees
        self.name = f"affine(shift={self.width}, scale={lo:g}..{hi:g}, rotate={deg:g})"
        self._grids: dict[tuple, torch.Tensor] = {}

    def _base_grid(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        """Pixel centres in normalised coordinates with a 1 appended, (H * W, 3); cached."""
        key = (h, w, like.device, like.dtype)
        grid = self._grids.get(key)
        if grid is None:
            one = torch.eye(2, 3, dtype=like.dtype, device=like.device)[None]
            grid = F.affine_grid(one, [1, 1, h, w], align_corners=False).view(h * w, 2)
            grid = torch.cat([grid, torch.ones_like(grid[:, :1])], 1)
            self._grids[key] = grid
        return grid

    def matrices(self, k: int, h: int, w: int) -> torch.Tensor:
        """The (K, 2, 3) sampling matrices of one step (drawn on the CPU generator)."""
        d = 2 * self.width
        dy = torch.randint(0, d + 1, (k,))
        dx = torch.randint(0, d + 1, (k,))
        theta = self.scale._matrices(k)[:, :, :2] @ self.rotate._matrices(k)[:, :, :2]
        shift = torch.stack([2.0 * (dx - self.width) / w, 2.0 * (dy - self.width) / h], 1)
        return torch.cat([theta, shift[:, :, None].to(theta.dtype)], 2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        k, _, h, w = x.shape
        self.transforms[0].out_size(h, w)  # the pad's one-line error when too small
        theta = self.matrices(k, h, w).to(device=x.device, dtype=x.dtype)
        grid = (self._base_grid(h, w, x) @ theta.transpose(1, 2)).view(k, h, w, 2)
        return F.grid_sample(
            x, grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )


_ITEM = re.compile(r"^\s*([a-z]+)\((.*)\)\s*$")


def parse_transforms(text: str) -> Compose:
    """The transform chain named by ``text``: ``repr`` of a chain, read back.

    Items are ``pad(W)``, ``jitter(D)``, ``scale(A..B)``, ``rotate(DEG)``,
    ``roll(D)`` and ``affine(shift=P, scale=A..B, rotate=DEG)``, joined by
    ``->``; ``identity`` is the empty chain. Anything else is a one-line
    :class:`~convlens.errors.SpecError`.

    >>> parse_transforms("pad(2) -> jitter(4)")(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 1, 8, 8])
    """
    text = str(text).strip()
    if text in ("", "identity"):
        return Compose([])
    items = [_parse_item(part, text) for part in text.split("->")]
    return items[0] if len(items) == 1 and isinstance(items[0], FusedAffine) else Compose(items)


def _parse_item(part: str, whole: str) -> Transform:
    from ..errors import SpecError

    def bad(why: str) -> SpecError:
        return SpecError(
            f"transforms {whole!r}: {why}; expected items like pad(2), jitter(4), "
            "scale(0.9..1.1), rotate(10), roll(8) or affine(shift=2, scale=0.9..1.1, rotate=10) "
            "joined by '->', or 'standard' or 'identity'"
        )

    m = _ITEM.match(part)
    if not m:
        raise bad(f"{part.strip()!r} is not NAME(ARGS)")
    name, args = m.group(1), m.group(2).strip()
    try:
        if name in ("pad", "jitter", "roll"):
            width = int(args)
            if width < 0:
                raise bad(f"{part.strip()!r} needs a width of 0 or more")
            return {"pad": Pad, "jitter": Jitter, "roll": Roll}[name](width)
        if name == "scale":
            lo, hi = (float(v) for v in args.split(".."))
            if not (0 < lo <= hi and math.isfinite(hi)):
                raise bad(f"{part.strip()!r} needs factors 0 < A <= B")
            return Scale((lo, hi))
        if name == "rotate":
            return Rotate(_finite(args))
        if name == "affine":
            fields = dict(item.split("=", 1) for item in (a.strip() for a in args.split(",")))
            lo, hi = (float(v) for v in fields["scale"].split(".."))
            shift = int(fields["shift"])
            if shift < 0 or not (0 < lo <= hi and math.isfinite(hi)):
                raise bad(f"{part.strip()!r} needs shift >= 0 and scale factors 0 < A <= B")
            return FusedAffine(shift, (lo, hi), _finite(fields["rotate"]))
    except SpecError:
        raise
    except (ValueError, KeyError):
        raise bad(f"the arguments of {part.strip()!r} cannot be read") from None
    raise bad(f"unknown transform {name!r}")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value
