"""DeepDream (Mordvintsev, Olah & Tyka 2015): enhance what layers see in an image.

Gradient ascent on the squared activations of ``layers``, over an octave pyramid
(coarse to fine; the detail found at one octave is carried to the next). Each
step rolls the image by a random shift (the spec's transforms), computes the
gradient tile by tile (so memory depends on the tile size, not the photo), rolls
it back and takes a step of ``spec.lr`` (pixel units) along the gradient
normalised by its mean absolute value (the ``"normalized"`` optimiser).

- :func:`deepdream` dreams on a photo;
- :func:`zoom_frames` repeats dream, zoom into the centre, dream ... for frames;
- :func:`dream_class` draws a class from noise, with a neighbour-correlation
  prior (a smoothing step pulling each pixel towards its neighbours).

Example::

    photo = load_image("photo.jpg", channels=3)             # uint8 (3, 622, 1100)
    res = deepdream(model, photo, ["features.conv3_1"], DREAM.replace(steps=20), data=norm)
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

from ..errors import InputShapeError, SpecError, TargetError
from . import _engine as E
from ._step import Stepper
from .invert import _Pixels, as_input
from .objectives import OUTPUT, class_logit
from .regularisers import tv_map
from .result import DreamResult
from .spec import DREAM, DREAM_CLASS, Dream, Synthesis

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


class _Dreamer:
    """The octave loop of every dream: ``run(x)`` returns the dreamed image (1, C, H, W).

    The optimiser works on the image in pixel units (0..1), so a step of ``lr``
    is a step in pixel units; the gradient reaches it through the
    normalisation and the spec's transforms (a roll undone exactly). After each
    step the penalty's TV term is taken as its own step (a smoothness prior,
    minus ``tv`` times the gradient of half the TV), then the blur, then the
    image is clipped to the data's range.
    """

    def __init__(self, model, layers, score, spec, dream, normalization, model_size=None):
        self.model, self.layers = model, list(layers)
        self.score = score or squared_activations(layers)
        self.spec, self.dream, self.model_size = spec, dream, model_size
        self.normalization = normalization

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        """Gradient of the score with respect to model input ``x`` (1, C, H, W)."""
        if self.model_size is None:
            return tiled_gradient(self.model, x, self.layers, self.dream.tile, self.score)
        z = x.detach().requires_grad_(True)
        resized = F.interpolate(z, size=self.model_size, mode="bilinear", align_corners=False)
        acts = E.activations(self.model, resized, self.layers)
        (g,) = torch.autograd.grad(self.score(acts), z)
        return g

    def run(self, x: torch.Tensor, progress: bool) -> torch.Tensor:
        spec, dream = self.spec, self.dream
        dev = x.device
        mean, std = (
            torch.tensor(v, dtype=x.dtype).view(1, -1, 1, 1).to(dev)
            for v in (self.normalization.mean, self.normalization.std)
        )
        pixels = x * std + mean
        _, _, h, w = x.shape
        sizes = [
            (max(1, round(h / dream.octave_scale**i)), max(1, round(w / dream.octave_scale**i)))
            for i in reversed(range(dream.octaves))
        ]
        total = spec.steps * dream.octaves
        bar = tqdm(total=total, desc="dream", unit="step", leave=False) if progress else None
        detail = torch.zeros((1, x.shape[1], *sizes[0]), device=dev)
        img = pixels
        for octave, size in enumerate(sizes):
            base = _resize(pixels, size)
            img = (base + _resize(detail, size)).clone()
            self._octave(img, octave, (mean, std), bar)
            detail = img - base
        if bar is not None:
            bar.close()
        return ((img - mean) / std).detach()

    def _octave(self, img: torch.Tensor, octave: int, moments, bar) -> None:
        """``spec.steps`` steps on ``img`` (1, C, h, w) pixels, in place."""
        spec = self.spec
        mean, std = moments
        tf = E.transforms_for(spec, *img.shape[-2:])
        stepper = Stepper(spec.optimiser, spec.lr, spec.steps, [img])
        hooks = spec.penalty.hooks()
        blurred = _Pixels(img)
        for step in range(spec.steps):
            z = img.detach().requires_grad_(True)
            xin = (z - mean) / std
            xt = tf(xin) if tf else xin
            try:
                g_t = self.gradient(xt.detach())
            except Exception as exc:
                _raise_size(exc, tuple(img.shape[-2:]), octave)
                raise
            (g,) = torch.autograd.grad(xt, z, g_t)
            if octave == 0 and step == 0:
                named = _Named(f"dream({', '.join(self.layers) or 'output'})")
                E.check_gradient([g], named, self.layers)
            stepper.step([-g], step)
            with torch.no_grad():
                if spec.penalty.tv > 0:
                    with torch.enable_grad():
                        p = img.detach().requires_grad_(True)
                        (gp,) = torch.autograd.grad(tv_map(p, spec.penalty.tv_beta).sum() / 2, p)
                    img.sub_(spec.penalty.tv * gp)
                for hook in hooks:
                    hook(blurred, step)
                img.clamp_(0, 1)
            if bar is not None:
                bar.update(1)


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
    spec: Synthesis | None = None,
    *,
    dream: Dream | None = None,
    data: Any = None,
    progress: bool = False,
) -> DreamResult:
    """Enhance what ``layers`` respond to in ``image`` (uint8 (C, H, W) or model input).

    ``spec`` (:data:`DREAM` by default): ``lr`` is the step in pixel units
    (0..1), ``steps`` per octave, ``transforms`` the random roll, ``size``
    resizes the photo. ``dream`` (:class:`Dream`): octaves and the tile size
    that bounds memory. ``data`` gives the normalisation (a dataset, a
    Normalization, or None for a Run's own).

    >>> # res = deepdream(model, photo, ["features.conv3_1"], data=norm)
    >>> # res.image.shape == photo.shape
    """
    spec = E.check_spec(spec, DREAM, "deepdream")
    dream = _dream_spec(dream, Dream())
    E.require(spec, "deepdream", **DREAM_TAKES)
    s = E.setup(model, data)
    layers = list(layers)
    if not layers:
        raise TargetError("layers is empty: name at least one layer to dream with")
    E.check_layers(s.model, layers)
    x = as_input(image, s.normalization, None)
    if spec.size is not None and tuple(x.shape[-2:]) != spec.size:
        x = F.interpolate(x, size=spec.size, mode="bilinear", antialias=True)
    x = x.to(s.device)
    with E.eval_mode(s.model), E.seeded(spec.seed):
        out = _Dreamer(s.model, layers, None, spec, dream, s.normalization).run(x, progress)
    return DreamResult(
        out[0].cpu(),
        x[0].cpu(),
        s.normalization,
        {"layers": layers},
        spec.replace(size=tuple(x.shape[-2:])),
        dream,
    )


def zoom_frames(
    model: Any,
    image: Any,
    layers: Sequence[str],
    frames: int,
    zoom: float = 1.05,
    spec: Synthesis | None = None,
    *,
    dream: Dream | None = None,
    data: Any = None,
) -> Iterator[DreamResult]:
    """Dream, zoom into the centre by ``zoom``, dream again: yields ``frames`` results.

    Each frame starts from the previous one, so structures grow recursively
    (the "endless stream" of seed 002). Frame i is seeded ``spec.seed + i``.

    >>> # for i, f in enumerate(zoom_frames(model, photo, ["features.conv2_1"], 8)): ...
    """
    spec = E.check_spec(spec, DREAM, "zoom_frames")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise SpecError(f"frames={frames!r}: expected a whole number >= 1 of frames to draw")
    if not isinstance(zoom, int | float) or not math.isfinite(zoom) or zoom < 1:
        raise SpecError(f"zoom={zoom!r}: expected a finite zoom factor >= 1 per frame")
    s = E.setup(model, data)
    x = as_input(image, s.normalization, None)
    for i in range(frames):
        seed = None if spec.seed is None else spec.seed + i
        res = deepdream(
            s.model, x[0], layers, spec.replace(seed=seed), dream=dream, data=s.normalization
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
    spec: Synthesis | None = None,
    *,
    dream: Dream | None = None,
    data: Any = None,
    progress: bool = False,
) -> DreamResult:
    """Draw class ``class_index`` from noise: ascend its logit with a neighbour-correlation prior.

    Starts from Gaussian noise (sd 0.1 in pixel units) around the data's mean
    pixel. ``spec`` (:data:`DREAM_CLASS` by default): its ``penalty.tv`` is the
    prior that neighbouring pixels of natural images are correlated, taken as a
    smoothing step (minus ``tv`` times the gradient of half the squared
    differences between neighbours) after each step; ``size`` is the image size
    (the model's input by default). Octaves (``dream``, 3 by default) are drawn
    at lower resolution and resized to that size, coarse first.

    >>> # res = dream_class(run, 3); res.pixels().shape == (1, 28, 28)
    """
    spec = E.check_spec(spec, DREAM_CLASS, "dream_class")
    dream = _dream_spec(dream, Dream(octaves=3, tile=None))
    E.require(spec, "dream_class", **DREAM_TAKES)
    s = E.setup(model, data)
    net = s.model
    if spec.size is None and s.input_shape is None:
        raise InputShapeError(
            "size is needed: the model's input size is unknown; pass "
            "spec=DREAM_CLASS.replace(size=H or (H, W))"
        )
    h, w = spec.size or tuple(s.input_shape[1:])
    c = s.input_shape[0] if s.input_shape else s.normalization.channels
    if isinstance(class_index, bool) or not isinstance(class_index, int | np.integer):
        raise TargetError(f"class_index={class_index!r}: expected a whole number (a class)")
    class_index = int(class_index)
    with E.eval_mode(net), E.seeded(spec.seed):
        out_shape = E.layer_shape(net, OUTPUT, (c, h, w))
        class_logit([class_index]).check(out_shape)
        mean = torch.tensor(s.normalization.mean).view(1, -1, 1, 1)
        # noise drawn on the CPU generator (the same start on every device), then moved
        pixels = (mean + 0.1 * torch.randn(1, c, h, w)).clamp(0, 1)
        std = torch.tensor(s.normalization.std).view(1, -1, 1, 1)
        x = ((pixels - mean) / std).to(s.device)

        def score(acts: dict) -> torch.Tensor:
            return acts[OUTPUT][:, class_index].sum()

        dreamer = _Dreamer(net, [OUTPUT], score, spec, dream, s.normalization, (h, w))
        out = dreamer.run(x, progress)
        with torch.no_grad():
            logits = net(out)
    params = {
        "class": class_index,
        "logit": float(logits[0, class_index]),
        "probability": float(torch.softmax(logits, 1)[0, class_index]),
    }
    return DreamResult(
        out[0].cpu(), x[0].cpu(), s.normalization, params, spec.replace(size=(h, w)), dream
    )


#: what a dream takes from a spec (anything else is one line)
DREAM_TAKES: dict[str, Any] = {
    "param": ("pixel",),
    "decorrelate": (False,),
    "samples": (1,),
    "batch": (None,),
    "penalty": ("tv", "blur_every"),
}


def _dream_spec(dream: Any, default: Dream) -> Dream:
    if dream is None:
        return default
    if not isinstance(dream, Dream):
        raise SpecError(f"dream={dream!r}: expected a Dream (for example Dream(octaves=3))")
    return dream


def frames_to_uint8(results: Sequence[DreamResult]) -> np.ndarray:
    """uint8 (N, H, W, C) of dream frames."""
    return np.stack([np.transpose(r.pixels(), (1, 2, 0)) for r in results])
