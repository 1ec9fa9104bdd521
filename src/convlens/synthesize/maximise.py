"""Activation maximisation: one image per unit, all units of a layer in one batch.

``channels(model, "conv2")`` optimises one image for each of conv2's channels in
one batch: image k is scored by channel k only, and every image gets its own
random transform each step. The result says how strongly each image drives its
unit, compared with the unit's highest activation on a sample of the dataset.

Example::

    run = convlens.open_run("runs/lenet")
    res = channels(run, "conv2", steps=256)
    res.images.shape          # (50, 1, 28, 28), model input space
    res.ratio                 # (50,) reached / highest activation on real images
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import InputShapeError, TargetError
from . import _engine as E
from .objectives import OUTPUT, Objective, UnitObjective, channel, class_logit, direction, neuron
from .objectives import diversity as diversity_objective
from .param import ColourBasis, fourier, pixel
from .regularisers import BlurEvery
from .result import SynthesisResult
from .transforms import standard_transforms

__all__ = ["channels", "classes", "directions", "maximise", "neurons"]

PARAMS = {"fourier": fourier, "pixel": pixel}


def channels(model: Any, layer: str, units: Iterable[int] | None = None, **options: Any):
    """Images that maximise the mean activation of each channel in ``units`` (all by default).

    ``model`` is an ``nn.Module`` or a Run (which supplies the normalisation,
    input size and reference data). See :func:`maximise` for ``options``.

    >>> # res = channels(run, "conv2", units=range(50), steps=256); res.images.shape
    >>> # torch.Size([50, 1, 28, 28])
    """
    return maximise(model, layer, units, lambda us: channel(layer, us), "channel", **options)


def neurons(
    model: Any,
    layer: str,
    units: Iterable[int] | None = None,
    position: tuple[int, int] | None = None,
    **options: Any,
):
    """Images that maximise channel ``units[k]`` at one ``position`` (the centre by default).

    >>> # neurons(run, "conv2", [3], position=(4, 4), steps=128).reached
    """
    return maximise(
        model, layer, units, lambda us: neuron(layer, us, position), "neuron", **options
    )


def classes(model: Any, units: Iterable[int] | None = None, **options: Any):
    """Images that maximise the model's output (logit) of each class in ``units``.

    >>> # classes(run, range(10), steps=256).pixels().shape
    >>> # (10, 1, 28, 28)
    """
    res = maximise(model, OUTPUT, units, lambda us: class_logit(us), "class", **options)
    return res


def directions(model: Any, layer: str, vectors: Any, **options: Any):
    """Images that maximise the projection of ``layer`` on each row of ``vectors`` (K, C).

    >>> # directions(run, "conv2", torch.randn(4, 50), steps=128).images.shape
    """
    vectors = torch.as_tensor(np.asarray(vectors), dtype=torch.float32)
    if vectors.dim() == 1:
        vectors = vectors[None]
    index = list(range(len(vectors)))
    return maximise(
        model,
        layer,
        index,
        lambda us: direction(layer, vectors[us]),
        "direction",
        _vectors=vectors,
        **options,
    )


def maximise(
    model: Any,
    layer: str,
    units: Iterable[int] | None,
    make_objective: Callable[[list[int]], UnitObjective],
    kind: str,
    *,
    steps: int = 256,
    size: int | tuple[int, int] | None = None,
    param: str = "fourier",
    decorrelate: bool = True,
    transforms: Any = "standard",
    lr: float = 0.05,
    penalty: Objective | None = None,
    blur_every: int = 0,
    blur_sigma: float = 0.5,
    images_per_unit: int = 1,
    diversity: float = 0.0,
    seed: int | None = 0,
    chunk: int | None = None,
    memory_budget: int = 1 << 30,
    reference: int = 1000,
    normalization: Any = None,
    data: Any = None,
    progress: bool | Callable[[int], Any] = False,
    _vectors: torch.Tensor | None = None,
) -> SynthesisResult:
    """Optimise one image per unit of ``layer``, all in one batch (chunked to fit memory).

    - ``steps``: optimiser steps (Adam, learning rate ``lr``).
    - ``size``: image side or (H, W); the model's input size by default.
    - ``param``: ``"fourier"`` (1/f scaled spectrum) or ``"pixel"``;
      ``decorrelate`` fits the colour basis on the data (identity without data).
    - ``transforms``: ``"standard"`` (pad, jitter, scale, rotate, scaled to the
      size), ``None``, or any callable (K, C, H, W) -> (K, C, H', W').
    - ``penalty``: an objective subtracted from the score (e.g. ``0.05 * total_variation()``);
      ``blur_every`` k > 0 blurs the image by ``blur_sigma`` every k steps.
    - ``images_per_unit`` m and ``diversity`` (weight of the Gram diversity term):
      m different images for each unit.
    - ``chunk``: images per batch (estimated from ``memory_budget`` bytes when None).
    - ``reference``: how many dataset images give each unit's highest activation.
    - ``seed``: makes the run deterministic (the caller's random state is kept).
    """
    s = E.setup(model, normalization, data)
    net = s.model
    device = s.device
    h, w = _size(size, s.input_shape)
    c = s.input_shape[0] if s.input_shape else s.normalization.channels
    E.check_layers(net, [layer])
    what = "class" if kind == "class" else "unit" if kind != "direction" else "direction"
    with E.eval_mode(net):
        shape = E.layer_shape(net, layer, (c, h, w))
        unit_list = list(range(shape[0] if shape else 1)) if units is None else list(units)
        if not unit_list:
            raise TargetError(f"units={units!r} is empty: expected at least one {what} index")
        if kind == "direction":
            _check_vectors(layer, _vectors, shape)
        else:
            E.check_units(layer, unit_list, shape, what)
        if kind == "neuron" and len(shape) != 3 and len(shape) != 1:
            raise TargetError(f"layer {layer!r} has output {shape}; neurons need (C, H, W) or (D,)")
        tf = standard_transforms(min(h, w)) if transforms == "standard" else transforms
        if tf is not None and hasattr(tf, "out_size"):
            th, tw = tf.out_size(h, w)
            if (th, tw) != (h, w):
                E.layer_shape(net, layer, (c, th, tw))
        m = max(1, int(images_per_unit))
        basis = _basis(decorrelate, E.data_images(s.data), c, s.normalization)
        if param not in PARAMS:
            raise TargetError(f"param={param!r} is unknown: expected 'fourier' or 'pixel'")
        hooks = [BlurEvery(blur_every, blur_sigma)] if blur_every > 0 else []

        def full(us: list[int]) -> tuple[UnitObjective, Objective]:
            unit = make_objective(us)
            obj: Objective = unit
            if diversity and m > 1:
                obj = obj + diversity * diversity_objective(layer, per_unit=m)
            if penalty is not None:
                obj = obj - penalty
            return unit, obj

        layers = sorted(full(unit_list[:1])[1].layers)
        # the unit objective alone reads the layer: the pass may compute only its units
        alone = not (diversity and m > 1) and (penalty is None or layer not in penalty.layers)
        per_chunk = chunk or E.chunk_size(net, layers, (c, h, w), memory_budget)
        per_chunk = max(1, per_chunk // m)  # units per chunk

        chunks = -(-len(unit_list) // per_chunk)
        bar, update = _progress(progress, steps * chunks, kind, layer)
        images, scores, reached = [], [], []
        with E.seeded(seed):
            start = 0
            while start < len(unit_list):
                us = unit_list[start : start + per_chunk]
                unit_obj, obj = full(us)
                p = PARAMS[param]((len(us) * m, c, h, w), s.normalization, basis, device=device)
                try:
                    E.optimise(
                        net,
                        obj,
                        p,
                        steps=steps,
                        lr=lr,
                        transforms=tf,
                        hooks=hooks,
                        progress=update,
                        select=unit_obj if alone else None,
                    )
                except Exception as exc:
                    if not E.is_out_of_memory(exc) or per_chunk == 1:
                        raise
                    per_chunk = max(1, per_chunk // 2)
                    continue
                x = p().detach()
                images.append(x.cpu())
                score, unit_score = E.final_scores(net, [obj, unit_obj], x)
                scores.append(score.cpu())
                reached.append(unit_score.cpu())
                start += len(us)
        if bar is not None:
            bar.close()
        ref = _reference(net, make_objective(unit_list), s, reference, seed)
    units_out = [u for u in unit_list for _ in range(m)]
    return SynthesisResult(
        images=torch.cat(images),
        units=units_out,
        scores=torch.cat(scores),
        reached=torch.cat(reached),
        reference_max=None if ref is None else ref[0].repeat_interleave(m),
        reference_mean=None if ref is None else ref[1].repeat_interleave(m),
        normalization=s.normalization,
        layer=layer,
        kind=kind,
        objective=full(unit_list)[1].name,
        params={
            "layer": layer,
            "kind": kind,
            "steps": steps,
            "size": [h, w],
            "param": param,
            "decorrelate": bool(decorrelate),
            "transforms": repr(tf),
            "lr": lr,
            "penalty": None if penalty is None else penalty.name,
            "blur_every": blur_every,
            "images_per_unit": m,
            "diversity": diversity,
            "seed": seed,
            "chunk": per_chunk * m,
            "reference": reference,
        },
    )


def _size(size: Any, input_shape: tuple[int, ...] | None) -> tuple[int, int]:
    if size is None:
        if not input_shape:
            raise InputShapeError(
                "size is needed: the model's input size is unknown; pass size=H or (H, W)"
            )
        return int(input_shape[1]), int(input_shape[2])
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if int(h) < 1 or int(w) < 1:
        raise InputShapeError(f"size={size!r}: expected a positive side or (H, W)")
    return int(h), int(w)


def _check_vectors(layer: str, vectors: torch.Tensor | None, shape: tuple[int, ...]) -> None:
    count = shape[0] if shape else 1
    if vectors is None or vectors.dim() != 2 or vectors.shape[1] != count:
        got = None if vectors is None else tuple(vectors.shape)
        raise TargetError(
            f"direction vectors of shape {got} do not fit layer {layer!r} with {count} "
            f"channels: expected (K, {count})"
        )


def _basis(decorrelate: bool, images: np.ndarray | None, c: int, norm: Any) -> ColourBasis:
    if decorrelate and images is not None and images.shape[1] == c:
        sample = images[: min(len(images), 2048)]
        return ColourBasis.fit(sample)
    return ColourBasis.identity(c, norm.mean)


def _progress(progress: Any, total: int, kind: str, layer: str):
    if callable(progress):
        return None, progress
    if progress:
        bar = tqdm(total=total, desc=f"{kind} {layer or 'output'}", unit="step", leave=False)
        return bar, bar.update
    return None, None


@torch.no_grad()
def _reference(
    net: torch.nn.Module, objective: UnitObjective, s: E.Setup, count: int, seed: int | None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Each unit's highest and mean value over ``count`` dataset images, (K,) each."""
    images = E.data_images(s.data)
    if images is None or count <= 0 or images.shape[1:] != tuple(s.input_shape or ()):
        return None
    rng = np.random.default_rng(0 if seed is None else seed)
    rows = np.sort(rng.choice(len(images), min(count, len(images)), replace=False))
    best, total = None, None
    device = s.device
    for start in range(0, len(rows), 256):
        x = s.normalization.apply(images[rows[start : start + 256]]).to(device)
        table = objective.table(_plain_forward(net, x, objective.layer))
        top, part = table.max(0).values, table.sum(0)
        best = top if best is None else torch.maximum(best, top)
        total = part if total is None else total + part
    return best.cpu(), (total / len(rows)).cpu()


def _plain_forward(net: torch.nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    import contextlib

    from ..model import StopForward, capture

    with capture(net, [layer], stop_after=True) as seen, contextlib.suppress(StopForward):
        seen.setdefault(OUTPUT, net(x))
    return seen[layer]
