"""DeepDream (Mordvintsev, Olah & Tyka 2015): enhance what layers see in an image.

Gradient ascent on the squared activations of ``layers``, over an octave pyramid
(coarse to fine; the detail found at one octave is carried to the next). Each
step rolls the image by a random shift, computes the gradient tile by tile (so
memory depends on the tile size, not the photo), rolls it back and takes a step
of ``step_size`` (pixel units) normalised by the mean absolute gradient.

- :func:`deepdream` dreams on a photo;
- :func:`zoom_frames` repeats dream, zoom into the centre, dream ... for frames;
- :func:`dream_class` draws a class from noise, with a neighbour-correlation
  prior (a smoothing step pulling each pixel towards its neighbours).

Example::

    photo = load_image("photo.jpg", channels=3)             # uint8 (3, 622, 1100)
    res = deepdream(model, photo, layers=["features.conv3_1"], normalization=norm)
    save_png("dream.png", res.pixels().transpose(1, 2, 0))
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import InputShapeError, TargetError
from . import _engine as E
from .invert import as_input
from .objectives import OUTPUT
from .regularisers import tv_map
from .result import DreamResult

__all__ = ["deepdream", "dream_class", "tiled_gradient", "zoom_frames"]

Score = Callable[[dict], torch.Tensor]


def squared_activations(layers: Sequence[str]) -> Score:
    """Half the sum of squared activations of ``layers`` (Caffe's L2 dream objective)."""

    def score(acts: dict) -> torch.Tensor:
        return sum(acts[name].pow(2).sum() / 2 for name in layers)  # type: ignore[return-value]

    return score


def _tiles(n: int, tile: int) -> list[tuple[int, int]]:
    """Split 0..n into ceil(n / tile) nearly equal spans."""
    count = max(1, math.ceil(n / tile))
    edges = [round(i * n / count) for i in range(count + 1)]
    return list(itertools.pairwise(edges))


def tiled_gradient(
    model: torch.nn.Module,
    x: torch.Tensor,
    layers: Sequence[str],
    tile: int | None = 512,
    score: Score | None = None,
) -> torch.Tensor:
    """Gradient of ``score`` (squared activations by default) w.r.t. ``x`` (1, C, H, W).

    Computed on tiles of at most ``tile`` x ``tile`` pixels, one at a time, so the
    memory is that of one tile; ``tile=None`` takes the whole image at once.
    """
    score = score or squared_activations(layers)
    _, _, h, w = x.shape
    tile = tile or max(h, w)
    grad = torch.zeros_like(x)
    for y0, y1 in _tiles(h, tile):
        for x0, x1 in _tiles(w, tile):
            patch = x[:, :, y0:y1, x0:x1].detach().requires_grad_(True)
            acts = E.activations(model, patch, layers)
            (g,) = torch.autograd.grad(score(acts), patch, allow_unused=True)
            if g is not None:
                grad[:, :, y0:y1, x0:x1] = g
    return grad


def _dream(
    model: torch.nn.Module,
    x: torch.Tensor,
    layers: Sequence[str],
    score: Score | None,
    *,
    octaves: int,
    octave_scale: float,
    steps: int,
    step_size: float,
    jitter: int,
    tile: int | None,
    prior: float,
    model_size: tuple[int, int] | None,
    normalization: Any,
    progress: bool,
) -> torch.Tensor:
    """The octave loop; returns the dreamed image (1, C, H, W)."""
    dev = x.device
    lo, hi = (b.view(1, -1, 1, 1).to(dev) for b in normalization.bounds())
    std = torch.tensor(normalization.std).view(1, -1, 1, 1).to(dev)
    _, _, h, w = x.shape
    sizes = [
        (max(1, round(h / octave_scale**i)), max(1, round(w / octave_scale**i)))
        for i in reversed(range(octaves))
    ]
    base_score = score or squared_activations(layers)

    def gradient(img: torch.Tensor) -> torch.Tensor:
        if model_size is None:
            return tiled_gradient(model, img, layers, tile, base_score)
        z = img.detach().requires_grad_(True)
        resized = F.interpolate(z, size=model_size, mode="bilinear", align_corners=False)
        acts = E.activations(model, resized, layers)
        (g,) = torch.autograd.grad(base_score(acts), z)
        return g

    bar = tqdm(total=steps * octaves, desc="dream", unit="step", leave=False) if progress else None
    detail = torch.zeros((1, x.shape[1], *sizes[0]), device=dev)
    img = x
    for octave, (oh, ow) in enumerate(sizes):
        base = _resize(x, (oh, ow))
        detail = _resize(detail, (oh, ow))
        img = base + detail
        for step in range(steps):
            jy = int(torch.randint(-jitter, jitter + 1, ())) if jitter else 0
            jx = int(torch.randint(-jitter, jitter + 1, ())) if jitter else 0
            rolled = torch.roll(img, (jy, jx), dims=(2, 3))
            try:
                g = torch.roll(gradient(rolled), (-jy, -jx), dims=(2, 3))
            except Exception as exc:
                _raise_size(exc, (oh, ow), octave)
                raise
            if octave == 0 and step == 0:
                E.check_gradient([g], _Named(f"dream({', '.join(layers) or 'output'})"), layers)
            g = g / g.abs().mean().clamp_min(1e-12)
            with torch.no_grad():
                img = img + step_size * g / std
                if prior > 0:
                    with torch.enable_grad():
                        z = img.detach().requires_grad_(True)
                        (gp,) = torch.autograd.grad(tv_map(z, 2.0).sum() / 2, z)
                    img = img - prior * gp
                img = torch.maximum(torch.minimum(img, hi), lo)
            if bar is not None:
                bar.update(1)
        detail = img - base
    if bar is not None:
        bar.close()
    return img.detach()


def _raise_size(exc: Exception, size: tuple[int, int], octave: int) -> None:
    if E.is_out_of_memory(exc):
        raise InputShapeError(
            f"image of {size[1]} x {size[0]} pixels is too large for memory at octave {octave}; "
            "pass a smaller tile (tile=256, --tile 256) or a smaller image"
        ) from None
    if isinstance(exc, RuntimeError) and octave == 0:
        raise InputShapeError(
            f"the smallest octave ({size[1]} x {size[0]} pixels) is too small for the model "
            f"({str(exc).splitlines()[0]}); use fewer octaves or a smaller octave_scale"
        ) from None


class _Named:
    def __init__(self, name: str):
        self.name = name


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def deepdream(
    model: Any,
    image: Any,
    layers: Sequence[str],
    octaves: int = 4,
    octave_scale: float = 1.4,
    steps: int = 10,
    *,
    step_size: float = 0.01,
    jitter: int = 32,
    tile: int | None = 512,
    normalization: Any = None,
    seed: int | None = 0,
    progress: bool = False,
) -> DreamResult:
    """Enhance what ``layers`` respond to in ``image`` (uint8 (C, H, W) or model input).

    ``step_size`` is in pixel units (0..1) per step; ``tile`` bounds memory:
    gradients are computed on tiles of at most tile x tile pixels.

    >>> # res = deepdream(model, photo, ["features.conv3_1"], normalization=norm)
    >>> # res.image.shape == photo.shape
    """
    s = E.setup(model, normalization)
    layers = list(layers)
    if not layers:
        raise TargetError("layers is empty: name at least one layer to dream with")
    E.check_layers(s.model, layers)
    x = as_input(image, s.normalization, None).to(s.device)
    if octaves < 1 or octave_scale < 1:
        raise TargetError(
            f"octaves={octaves!r}, octave_scale={octave_scale!r}: expected octaves >= 1 and "
            "octave_scale >= 1"
        )
    with E.eval_mode(s.model), E.seeded(seed):
        out = _dream(
            s.model,
            x,
            layers,
            None,
            octaves=octaves,
            octave_scale=octave_scale,
            steps=steps,
            step_size=step_size,
            jitter=jitter,
            tile=tile,
            prior=0.0,
            model_size=None,
            normalization=s.normalization,
            progress=progress,
        )
    params = {
        "layers": layers,
        "octaves": octaves,
        "octave_scale": octave_scale,
        "steps": steps,
        "step_size": step_size,
        "jitter": jitter,
        "tile": tile,
        "seed": seed,
    }
    return DreamResult(out[0].cpu(), x[0].cpu(), s.normalization, params)


def zoom_frames(
    model: Any,
    image: Any,
    layers: Sequence[str],
    frames: int,
    zoom: float = 1.05,
    **options: Any,
) -> Iterator[DreamResult]:
    """Dream, zoom into the centre by ``zoom``, dream again: yields ``frames`` results.

    Each frame starts from the previous one, so structures grow recursively
    (the "endless stream" of seed 002). ``options`` go to :func:`deepdream`.

    >>> # for i, f in enumerate(zoom_frames(model, photo, ["features.conv2_1"], 8)): ...
    """
    s = E.setup(model, options.pop("normalization", None))
    x = as_input(image, s.normalization, None)
    seed = options.pop("seed", 0)
    for i in range(frames):
        res = deepdream(
            s.model,
            x[0],
            layers,
            normalization=s.normalization,
            seed=None if seed is None else seed + i,
            **options,
        )
        yield res
        x = _zoom(res.image[None], zoom)


def _zoom(x: torch.Tensor, zoom: float) -> torch.Tensor:
    _, _, h, w = x.shape
    ch, cw = max(1, round(h / zoom)), max(1, round(w / zoom))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = x[:, :, y0 : y0 + ch, x0 : x0 + cw]
    return F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)


def dream_class(
    model: Any,
    class_index: int,
    size: int | tuple[int, int] | None = None,
    octaves: int = 3,
    octave_scale: float = 1.4,
    steps: int = 30,
    *,
    step_size: float = 0.02,
    prior: float = 0.1,
    jitter: int = 1,
    noise: float = 0.1,
    normalization: Any = None,
    seed: int | None = 0,
    progress: bool = False,
) -> DreamResult:
    """Draw class ``class_index`` from noise: ascend its logit with a neighbour-correlation prior.

    Starts from Gaussian noise (``noise`` in pixel units) around the data's mean
    pixel. Each step adds ``prior`` times a smoothing step (minus the gradient
    of half the squared differences between neighbouring pixels), the prior
    that neighbouring pixels of natural images are correlated. Octaves are drawn
    at lower resolution and resized to the model's input size, coarse first.

    >>> # res = dream_class(run, 3); res.pixels().shape
    >>> # (1, 28, 28)
    """
    s = E.setup(model, normalization)
    net = s.model
    if size is None and s.input_shape is None:
        raise InputShapeError("size is needed: the model's input size is unknown; pass size=H")
    h, w = (size, size) if isinstance(size, int) else tuple(size or s.input_shape[1:])
    c = s.input_shape[0] if s.input_shape else s.normalization.channels
    with E.eval_mode(net), E.seeded(seed):
        out_shape = E.layer_shape(net, OUTPUT, (c, h, w))
        E.check_units(OUTPUT, [class_index], out_shape, "class")
        mean = torch.tensor(s.normalization.mean).view(1, -1, 1, 1)
        # noise drawn on the CPU generator (the same start on every device), then moved
        pixels = (mean + noise * torch.randn(1, c, h, w)).clamp(0, 1)
        std = torch.tensor(s.normalization.std).view(1, -1, 1, 1)
        x = ((pixels - mean) / std).to(s.device)

        def score(acts: dict) -> torch.Tensor:
            return acts[OUTPUT][:, class_index].sum()

        out = _dream(
            net,
            x,
            [OUTPUT],
            score,
            octaves=octaves,
            octave_scale=octave_scale,
            steps=steps,
            step_size=step_size,
            jitter=jitter,
            tile=None,
            prior=prior,
            model_size=(h, w),
            normalization=s.normalization,
            progress=progress,
        )
        with torch.no_grad():
            logits = net(out)
    params = {
        "class": class_index,
        "size": [h, w],
        "octaves": octaves,
        "octave_scale": octave_scale,
        "steps": steps,
        "step_size": step_size,
        "prior": prior,
        "seed": seed,
        "logit": float(logits[0, class_index]),
        "probability": float(torch.softmax(logits, 1)[0, class_index]),
    }
    return DreamResult(out[0].cpu(), x[0].cpu(), s.normalization, params)


def frames_to_uint8(results: Sequence[DreamResult]) -> np.ndarray:
    """uint8 (N, H, W, C) of dream frames."""
    return np.stack([np.transpose(r.pixels(), (1, 2, 0)) for r in results])
