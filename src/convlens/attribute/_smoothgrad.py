"""SmoothGrad (Smilkov et al. 2017) and its noise-tunnel kinds: average a gradient
method over noisy copies of each input.

Kinds (captum's ``nt_type``): ``"smoothgrad"`` the mean of the maps over the
copies, ``"smoothgrad_sq"`` the mean of their squares, ``"vargrad"`` their
variance (Adebayo et al. 2018).

**Determinism.** With a seed, the noise added to copy j of sample i depends only on
(seed, the sample's id, j): each (sample, copy) draws from its own generator,
seeded with a SplitMix64 mix of the three numbers. The id is the sample's position
in ``inputs`` (0..N-1) unless ``sample_ids`` gives one per sample (a dataset
index, say). So a sample's map is the same whatever the batch size, the chunking
of rows, or which other samples share the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ConvlensError, SpecError
from ._base import Inputs, Method, Pipeline, accumulate, rows_of
from ._inputs import per_input

__all__ = ["KINDS", "Noise", "smoothgrad"]

KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")
_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Noise:
    """How SmoothGrad draws its noisy copies.

    - ``samples``: noisy copies per input;
    - ``level``: the noise's standard deviation as a fraction of each sample's
      value range (max - min over the sample), default 0.15;
    - ``stdev``: an absolute standard deviation instead (overrides ``level``);
      with several inputs either may be a tuple with one value per input;
    - ``kind``: "smoothgrad" (mean), "smoothgrad_sq" (mean of squares) or
      "vargrad" (variance);
    - ``seed``: None draws from torch's global generator (not reproducible).

    >>> Noise(samples=16, stdev=0.1, kind="vargrad").kind
    'vargrad'
    """

    samples: int = 25
    level: float | tuple[float, ...] = 0.15
    stdev: float | tuple[float, ...] | None = None
    kind: str = "smoothgrad"
    seed: int | None = 0

    def check(self, count: int) -> tuple[tuple[float, ...], bool]:
        """(values per input, absolute) after checking every field."""
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise SpecError(f"Noise(samples={self.samples!r}) must be at least 1")
        if self.kind not in KINDS:
            raise ConvlensError(
                f"Noise(kind={self.kind!r}) is unknown: expected one of {', '.join(KINDS)}"
            )
        absolute = self.stdev is not None
        field = "stdev" if absolute else "level"
        values = per_input(self.stdev if absolute else self.level, count, f"Noise({field}=...)")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ConvlensError(
                    f"Noise({field}={getattr(self, field)!r}) must be a number >= 0, or one "
                    "per input"
                )
        return tuple(float(v) for v in values), absolute


def _splitmix64(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def row_seed(seed: int, sample: int, copy: int) -> int:
    """The generator seed of copy ``copy`` of sample ``sample`` (a 63-bit int).

    >>> row_seed(0, 1, 2) == row_seed(0, 1, 2) != row_seed(0, 2, 1)
    True
    """
    mixed = _splitmix64((seed & _MASK) ^ _splitmix64(sample & _MASK))
    return _splitmix64(mixed ^ _splitmix64(copy & _MASK)) >> 1


def draw(xs: Inputs, i: torch.Tensor, j: torch.Tensor, noise: Noise, ids: torch.Tensor) -> Inputs:
    """Standard normal noise for rows (sample ``i``, copy ``j``), one tensor per input,
    drawn on the CPU (so results do not depend on the device)."""
    shapes = [tuple(x.shape[1:]) for x in xs]
    if noise.seed is None:
        return tuple(
            torch.randn((len(i), *s), dtype=x.dtype).to(x.device)
            for x, s in zip(xs, shapes, strict=True)
        )
    parts: list[list[torch.Tensor]] = [[] for _ in xs]
    gen = torch.Generator()
    for sample, copy in zip(ids[i.cpu()].tolist(), j.tolist(), strict=True):
        gen.manual_seed(row_seed(noise.seed, sample, copy))
        for k, (x, s) in enumerate(zip(xs, shapes, strict=True)):
            parts[k].append(torch.randn(s, generator=gen, dtype=x.dtype))
    return tuple(torch.stack(p).to(x.device) for p, x in zip(parts, xs, strict=True))


class SmoothGrad(Method):
    name = "smoothgrad"

    def attribute(
        self,
        pipe: Pipeline,
        xs: Inputs,
        rows: torch.Tensor | None,
        *,
        method: Method,
        noise: Noise,
        sample_ids: Any = None,
        **method_options: Any,
    ) -> Inputs:
        values, absolute = noise.check(len(xs))
        n, x0 = len(xs[0]), xs[0]
        rows = rows_of(xs, rows)
        ids = _ids(sample_ids, n)
        pipe.fix_target(xs)
        sigmas = [_sigma(x, v, absolute) for x, v in zip(xs, values, strict=True)]
        sums = [torch.zeros_like(x) for x in xs]
        squares = [torch.zeros_like(x) for x in xs]
        for sl in pipe.chunks(noise.samples * n, n):
            flat = torch.arange(sl.start, sl.stop, device=x0.device)
            j, i = flat // n, flat % n
            eps = draw(xs, i, j, noise, ids)
            noisy = tuple(x[i] + s[i] * e for x, s, e in zip(xs, sigmas, eps, strict=True))
            maps = method.attribute(pipe, noisy, rows[i], **method_options)
            for total, sq, a in zip(sums, squares, maps, strict=True):
                accumulate(total, sl.start, a)
                accumulate(sq, sl.start, a * a)
        mean = [t / noise.samples for t in sums]
        if noise.kind == "smoothgrad":
            return tuple(mean)
        mean_sq = [q / noise.samples for q in squares]
        if noise.kind == "smoothgrad_sq":
            return tuple(mean_sq)
        return tuple((q - m * m).clamp_min(0) for q, m in zip(mean_sq, mean, strict=True))


def _ids(sample_ids: Any, n: int) -> torch.Tensor:
    if sample_ids is None:
        return torch.arange(n)
    ids = torch.as_tensor(sample_ids, dtype=torch.long).reshape(-1)
    if len(ids) != n:
        raise ConvlensError(
            f"sample_ids has {len(ids)} entries for {n} inputs: give one id per sample"
        )
    return ids


def _sigma(x: torch.Tensor, value: float, absolute: bool) -> torch.Tensor:
    """(N, 1, ...) standard deviations for input ``x``."""
    shape = (len(x), *([1] * (x.ndim - 1)))
    if absolute:
        return torch.full(shape, value, dtype=x.dtype, device=x.device)
    flat = x.reshape(len(x), -1)
    spread = (flat.amax(1) - flat.amin(1)).clamp_min(1e-12)
    return (value * spread).view(shape)


_smoothgrad = SmoothGrad()


def smoothgrad(
    model: nn.Module,
    inputs: Any,
    target: Any = "predicted",
    *,
    method: Any = "saliency",
    noise: Noise | None = None,
    sample_ids: Sequence[int] | None = None,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
    **method_options: Any,
) -> Any:
    """``method`` over ``noise.samples`` noisy copies: (N, C, H, W) -> (N, C, H, W).

    - ``method``: the name of a gradient method ("saliency", "guided_backprop",
      "deconvnet", "input_x_gradient", "integrated_gradients") or its
      :class:`~convlens.attribute.Method`; ``method_options`` go to it
      (``abs=True``, ``steps=16``, ...).
    - ``noise``: a :class:`Noise` (default ``Noise()``): copies, level (fraction of the range) or
      absolute stdev, kind (smoothgrad, smoothgrad_sq, vargrad) and seed.
    - ``sample_ids``: one int per sample (default: its position 0..N-1).

    Deterministic per sample: with a seed, copy j of sample i draws its noise from
    its own generator, seeded with a SplitMix64 mix of (seed, sample_ids[i], j)
    (:func:`row_seed`). A sample's map is therefore the same whatever
    ``batch_size``, however the rows are chunked, and whichever other samples
    share the call; pass dataset indices as ``sample_ids`` to keep it when the
    sample moves to another position.

    >>> # maps = smoothgrad(model, x, 3, method="guided_backprop",
    >>> #                   noise=Noise(samples=16, level=0.1, kind="vargrad"))
    """
    from ._registry import method_named

    inner = method_named(method) if isinstance(method, str) else method
    noise = Noise() if noise is None else noise
    if not isinstance(noise, Noise):
        raise ConvlensError(
            f"noise={noise!r} is not a Noise: pass Noise(samples=..., level=... or "
            "stdev=..., kind=..., seed=...)"
        )
    return _smoothgrad(
        model,
        inputs,
        target,
        method=inner,
        noise=noise,
        sample_ids=sample_ids,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
        **method_options,
    )
