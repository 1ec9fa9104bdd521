"""Inversion of a representation (Mahendran & Vedaldi 2015).

Given an image x0 and a layer Phi, find images x that the layer cannot tell
from x0. With x = sigma * z (sigma-normalisation: z has unit scale), minimise

    E(z) = ||Phi(sigma z) - Phi0||^2 / ||Phi0||^2
           + lambda_alpha * R_alpha(z) / (H W B^alpha)
           + lambda_tv    * R_TV^beta(z) / (H W V^beta)

where R_alpha sums the alpha-th power of each pixel's channel norm, R_TV^beta
sums ((dz/dx)^2 + (dz/dy)^2)^(beta/2), B is the largest pixel norm the data
allows (in z units) and V = B / 6.5, as in the paper. The spec's penalty holds
the weights and powers (``alpha``/``alpha_power``, ``tv``/``tv_beta``); the
default :data:`~convlens.synthesize.spec.INVERSION` has alpha 6 and beta 2 and
descends with momentum 0.9, the learning rate divided by 10 for the last third
of the steps (the paper's schedule). Every image stays within the data's value
range. ``spec.samples`` random starts run as one batch.

Example::

    res = invert(run, image, "conv1", INVERSION.replace(samples=4))
    res.errors           # (4,) normalised reconstruction error of each start
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import InputShapeError, LayerError
from ..model import default_layers
from . import _engine as E
from ._step import Stepper
from .param import gaussian_blur
from .regularisers import tv_map
from .result import InversionResult
from .spec import INVERSION, Synthesis

__all__ = ["invert", "invert_layers"]

#: the penalty terms an inversion takes
PENALTY_TERMS = ("tv", "alpha", "blur_every")


def invert(
    model: Any,
    image: Any,
    layer: str,
    spec: Synthesis | None = None,
    *,
    data: Any = None,
    progress: bool = False,
) -> InversionResult:
    """Reconstruct ``image`` from ``layer``'s representation, ``spec.samples`` random starts.

    ``image`` is uint8 (C, H, W) pixels or a float model input (C, H, W) or
    (1, C, H, W); ``spec.size`` resizes it. ``data`` (a dataset, a
    normalisation, or None for a Run's own) gives the normalisation and sigma.
    Returns the reconstructions (S, C, H, W), the normalised error of each and
    its correlation with the original.

    >>> # res = invert(run, run.dataset()[0].input, "conv1", INVERSION.replace(samples=2))
    >>> # res.errors.shape, res.images.shape == (2,), (2, 1, 28, 28)
    """
    spec = E.check_spec(spec, INVERSION, "invert")
    E.require(
        spec,
        "invert",
        param=("pixel",),
        decorrelate=(False,),
        batch=(None,),
        penalty=PENALTY_TERMS,
    )
    s = E.setup(model, data)
    net, device = s.model, s.device
    x0 = as_input(image, s.normalization, s.input_shape)
    if spec.size is not None and tuple(x0.shape[-2:]) != spec.size:
        x0 = F.interpolate(x0, size=spec.size, mode="bilinear", antialias=True)
    x0 = x0.to(device)
    E.check_layers(net, [layer])
    lo, hi = (b.view(1, -1, 1, 1).to(device) for b in s.normalization.bounds())
    sig = _sigma(E.sample_images(s.data, 512), s.normalization)
    pen = spec.penalty
    b_norm = float(torch.maximum(lo.abs(), hi.abs()).pow(2).sum().sqrt()) / sig
    v_norm = b_norm / 6.5
    _, c, h, w = x0.shape
    tf = E.transforms_for(spec, h, w)
    with E.eval_mode(net), E.seeded(spec.seed):
        E.layer_shape(net, layer, (c, h, w))
        target = E.activations(net, x0.clone().requires_grad_(True), [layer])[layer].detach()
        t_norm = target.pow(2).sum().clamp_min(1e-12)
        # drawn on the CPU generator, so a seed gives the same starts on every device
        z = (torch.randn(spec.samples, c, h, w) * 0.1 / sig).to(device).requires_grad_(True)
        stepper = Stepper(spec.optimiser, spec.lr, spec.steps, [z])
        hooks = pen.hooks()
        pixels = _Pixels(z)
        bar = tqdm(total=spec.steps, desc=f"invert {layer}", leave=False) if progress else None
        for step in range(spec.steps):
            x = sig * z
            phi = E.activations(net, tf(x) if tf else x, [layer])[layer]
            energy = (phi - target).pow(2).flatten(1).sum(1) / t_norm
            if pen.alpha > 0:
                r_alpha = (z.pow(2).sum(1) + 1e-12).pow(pen.alpha_power / 2).flatten(1).sum(1)
                energy = energy + pen.alpha * r_alpha / (h * w * b_norm**pen.alpha_power)
            if pen.tv > 0:
                r_tv = tv_map(z, pen.tv_beta).flatten(1).sum(1)
                energy = energy + pen.tv * r_tv / (h * w * v_norm**pen.tv_beta)
            (grad,) = torch.autograd.grad(energy.sum(), z)
            if step == 0:
                E.check_gradient([grad], _Named(f"inversion({layer})"), [layer])
            stepper.step([grad], step)
            for hook in hooks:
                hook(pixels, step)
            with torch.no_grad():
                z.copy_(torch.maximum(torch.minimum(z, hi / sig), lo / sig))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        images = (sig * z).detach()
        phi = E.activations(net, images.clone().requires_grad_(True), [layer])[layer].detach()
        errors = (phi - target).pow(2).flatten(1).sum(1) / t_norm
    images, errors, x0 = images.cpu(), errors.cpu(), x0.cpu()
    return InversionResult(
        images=images,
        errors=errors,
        correlation=_correlation(images, x0, s.normalization),
        image_error=_image_error(images, x0, s.normalization),
        original=x0[0],
        layer=layer,
        normalization=s.normalization,
        params={"layer": layer, "sigma": sig},
        spec=spec.replace(size=(h, w)),
    )


def invert_layers(
    model: Any,
    image: Any,
    layers: Sequence[str] | None = None,
    spec: Synthesis | None = None,
    *,
    data: Any = None,
    progress: bool = False,
) -> list[InversionResult]:
    """One :func:`invert` per layer (the model's default layers by default: its block and
    stage outputs, :func:`convlens.model.default_layers`), in model order.

    Layers whose output is not a float tensor reachable by a gradient are skipped
    only when ``layers`` is None; named ones raise.

    >>> # strip = invert_layers(run, image, ["conv1", "conv2", "fc1"])
    """
    s = E.setup(model, data)
    given = s.data if s.data is not None else s.normalization
    if layers is None:
        shape = tuple(as_input(image, s.normalization, None).shape[1:])
        names = default_layers(s.model, shape)
    else:
        names = list(layers)
    results = []
    for name in names:
        try:
            results.append(invert(s.model, image, name, spec, data=given, progress=progress))
        except LayerError:
            if layers is not None:
                raise
    return results


class _Pixels:
    """The image z as something the blur hook can blur in place."""

    def __init__(self, z: torch.Tensor):
        self.z = z

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        self.z.copy_(gaussian_blur(self.z, sigma))


class _Named:
    def __init__(self, name: str):
        self.name = name


def as_input(image: Any, normalization: Any, input_shape: Sequence[int] | None) -> torch.Tensor:
    """A uint8 (C, H, W) image or float model input -> model input (1, C, H, W)."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        if image.ndim == 2:
            image = image[None]
        if image.ndim != 3:
            raise InputShapeError(f"image of shape {image.shape}: expected uint8 (C, H, W)")
        x = normalization.apply(image[None])
    else:
        x = torch.as_tensor(np.asarray(image) if not torch.is_tensor(image) else image)
        x = x.detach().float()
        if x.dim() == 3:
            x = x[None]
        if x.dim() != 4 or x.shape[0] != 1:
            raise InputShapeError(
                f"image of shape {tuple(x.shape)}: expected one image (C, H, W) or (1, C, H, W)"
            )
    if x.shape[1] != normalization.channels:
        raise InputShapeError(
            f"image has {x.shape[1]} channel(s), the model's data has {normalization.channels}; "
            "convert the image (load_image(path, channels=...))"
        )
    return x


def _sigma(images: np.ndarray | None, normalization: Any) -> float:
    """Average Euclidean norm of a data pixel in model input space (1.0 without data)."""
    if images is None:
        return 1.0
    x = normalization.apply(images)
    return float(x.pow(2).sum(1).mean().sqrt().clamp_min(1e-3))


def _image_error(images: torch.Tensor, x0: torch.Tensor, normalization: Any) -> torch.Tensor:
    a = normalization.invert(images).flatten(1)
    b = normalization.invert(x0).flatten(1)
    return (a - b).pow(2).sum(1) / b.pow(2).sum(1).clamp_min(1e-12)


def _correlation(images: torch.Tensor, x0: torch.Tensor, normalization: Any) -> torch.Tensor:
    a = normalization.invert(images).flatten(1)
    b = normalization.invert(x0).flatten(1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)
