"""Activation maximisation: one image per unit, all units of a layer in one batch.

``channels(model, "conv2")`` optimises one image for each of conv2's channels in
one batch: image k is scored by channel k only, and every image gets its own
random transform each step. The result says how strongly each image drives its
unit, compared with the unit's highest activation on the data.

Every job takes the model, what to optimise, and a
:class:`~convlens.synthesize.spec.Synthesis` spec (:data:`MAXIMISE` by default);
``data`` is an :class:`~convlens.data.ImageDataset` (normalisation, colour
basis, reference activations, MaCo spectrum) or a
:class:`~convlens.data.Normalization` alone; a Run brings its own.

Example::

    run = convlens.open_run("runs/lenet")
    res = channels(run, "conv2", spec=MAXIMISE.replace(steps=256))
    res.images.shape          # (50, 1, 28, 28), model input space
    res.ratio                 # (50,) reached vs the best real image (1 = as good)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import InputShapeError, TargetError
from . import _engine as E
from .maco import MacoParam, Spectrum
from .objectives import OUTPUT, Objective, UnitObjective, channel, class_logit, direction, neuron
from .objectives import diversity as diversity_objective
from .param import ColourBasis, ImageParam, fourier, pixel
from .result import SynthesisResult
from .spec import MAXIMISE, Synthesis

__all__ = ["channels", "classes", "directions", "maximise", "neurons"]

#: bytes a batch may take when ``spec.batch`` is None
MEMORY_BUDGET = 1 << 30
#: images sampled from the data for the colour basis and the MaCo spectrum
BASIS_IMAGES = 2048


def channels(
    model: Any,
    layer: str,
    units: Iterable[int] | None = None,
    spec: Synthesis | None = None,
    *,
    data: Any = None,
    progress: Any = False,
) -> SynthesisResult:
    """Images that maximise the mean activation of each channel in ``units`` (all by default).

    ``model`` is an ``nn.Module`` or a Run (which supplies the normalisation,
    input size and reference data). See :func:`maximise`.

    >>> # res = channels(run, "conv2", range(50), MAXIMISE.replace(steps=256))
    >>> # res.images.shape == (50, 1, 28, 28)
    """
    return maximise(model, channel(layer, units), spec, data=data, progress=progress)


def neurons(
    model: Any,
    layer: str,
    units: Iterable[int] | None = None,
    position: tuple[int, int] | None = None,
    spec: Synthesis | None = None,
    *,
    data: Any = None,
    progress: Any = False,
) -> SynthesisResult:
    """Images that maximise channel ``units[k]`` at one ``position`` (the centre by default).

    >>> # neurons(run, "conv2", [3], position=(4, 4)).reached
    """
    return maximise(model, neuron(layer, units, position), spec, data=data, progress=progress)


def classes(
    model: Any,
    units: Iterable[int] | None = None,
    spec: Synthesis | None = None,
    *,
    data: Any = None,
    progress: Any = False,
) -> SynthesisResult:
    """Images that maximise the model's output (logit) of each class in ``units`` (all).

    >>> # classes(run, range(10)).pixels().shape == (10, 1, 28, 28)
    """
    return maximise(model, class_logit(units), spec, data=data, progress=progress)


def directions(
    model: Any,
    layer: str,
    vectors: Any,
    spec: Synthesis | None = None,
    *,
    data: Any = None,
    progress: Any = False,
) -> SynthesisResult:
    """Images that maximise the projection of ``layer`` on each row of ``vectors`` (K, C).

    >>> # directions(run, "conv2", torch.randn(4, 50)).images.shape == (4, 1, 28, 28)
    """
    return maximise(model, direction(layer, vectors), spec, data=data, progress=progress)


def maximise(
    model: Any,
    objective: UnitObjective,
    spec: Synthesis | None = None,
    *,
    data: Any = None,
    progress: Any = False,
) -> SynthesisResult:
    """Optimise ``spec.samples`` images per unit of ``objective``, all in one batch.

    ``objective`` is a unit objective (``channel``, ``neuron``, ``class_logit``,
    ``direction``): image n is scored by unit ``units[n]``. The spec's penalty
    is subtracted, and its diversity term pushes the images of one unit apart.
    Batches hold ``spec.batch`` images (fitted to 1 GiB when None; halved and
    retried on an out-of-memory error). ``progress``: True for a bar, or a
    callable given the number of steps done.

    The result records the spec as it ran (size and batch resolved), the images
    (K, C, H, W), what each reached, the data's best and mean value of each
    unit, and the transparency map (K, H, W).
    """
    spec = E.check_spec(spec, MAXIMISE, "maximise")
    if not isinstance(objective, UnitObjective):
        raise TargetError(
            f"objective {getattr(objective, 'name', objective)!r} is not a unit objective: "
            "build it with channel, neuron, class_logit or direction"
        )
    s = E.setup(model, data)
    net = s.model
    h, w = _size(spec.size, s.input_shape)
    c = s.input_shape[0] if s.input_shape else s.normalization.channels
    layer = objective.layer
    E.check_layers(net, [layer])
    with E.eval_mode(net):
        shape = E.layer_shape(net, layer, (c, h, w))
        objective.check(shape)
        if objective.units is None:
            objective = objective.subset(range(objective.count(shape)))
        position = getattr(objective, "position", None)
        if objective.kind == "neuron" and position is None and len(shape) == 3:
            position = (shape[1] // 2, shape[2] // 2)
        unit_list = list(objective.units or [])
        tf = E.transforms_for(spec, h, w)
        if tf is not None and hasattr(tf, "out_size"):
            th, tw = tf.out_size(h, w)
            if (th, tw) != (h, w):
                E.layer_shape(net, layer, (c, th, tw))
        m = spec.samples
        needed = spec.decorrelate or (spec.param == "maco" and spec.spectrum is None)
        sample = E.sample_images(s.data, BASIS_IMAGES, spec.seed or 0) if needed else None
        basis = _basis(spec.decorrelate, sample, c, s.normalization)
        spectrum = _spectrum(spec, s.data, sample, (c, h, w), basis)
        penalty = spec.penalty.objective()
        diverse = spec.penalty.diversity > 0 and m > 1

        def full(unit: UnitObjective) -> Objective:
            obj: Objective = unit
            if diverse:
                obj = obj + spec.penalty.diversity * diversity_objective(layer, per_unit=m)
            return obj if penalty is None else obj - penalty

        layers = sorted(full(objective).layers)
        per_chunk = spec.batch or E.chunk_size(net, layers, (c, h, w), MEMORY_BUDGET)
        per_chunk = max(1, per_chunk // m)  # units per chunk
        chunks = -(-len(unit_list) // per_chunk)
        bar, update = _progress(progress, spec.steps * chunks, objective.kind, layer)
        images, scores, reached, maps = [], [], [], []
        with E.seeded(spec.seed):
            start = 0
            while start < len(unit_list):
                unit = objective.subset(unit_list[start : start + per_chunk])
                obj = full(unit)
                p = _param(spec, (len(unit.units) * m, c, h, w), s, basis, spectrum)
                try:
                    # the unit objective alone reads the layer: the pass may compute only its units
                    select = None if diverse else unit
                    found = E.optimise(net, obj, p, spec, progress=update, select=select)
                except Exception as exc:
                    if not E.is_out_of_memory(exc) or per_chunk == 1:
                        raise
                    per_chunk = max(1, per_chunk // 2)
                    continue
                x = p().detach()
                images.append(x.cpu())
                maps.append(found.cpu())
                score, unit_score = E.final_scores(net, [obj, unit], x)
                scores.append(score.cpu())
                reached.append(unit_score.cpu())
                start += len(unit.units)
        if bar is not None:
            bar.close()
        ref = _reference(net, objective, s)
    return SynthesisResult(
        images=torch.cat(images),
        units=[u for u in unit_list for _ in range(m)],
        scores=torch.cat(scores),
        reached=torch.cat(reached),
        reference_max=None if ref is None else ref[0].repeat_interleave(m),
        reference_mean=None if ref is None else ref[1].repeat_interleave(m),
        normalization=s.normalization,
        layer=layer,
        kind=objective.kind,
        objective=full(objective).name,
        params={
            "position": None if position is None else list(position),
            "reference": 0 if s.data is None or ref is None else len(s.data),
        },
        spec=spec.replace(size=(h, w), batch=min(per_chunk, len(unit_list)) * m),
        transparency=torch.cat(maps),
    )


def _size(size: tuple[int, int] | None, input_shape: tuple[int, ...] | None) -> tuple[int, int]:
    if size is None:
        if not input_shape:
            raise InputShapeError(
                "size is needed: the model's input size is unknown; pass "
                "spec=MAXIMISE.replace(size=H or (H, W)) or data"
            )
        return int(input_shape[1]), int(input_shape[2])
    return size


def _basis(decorrelate: bool, images: np.ndarray | None, c: int, norm: Any) -> ColourBasis:
    if decorrelate and images is not None and images.shape[1] == c:
        return ColourBasis.fit(images)
    return ColourBasis.identity(c, norm.mean)


def _spectrum(
    spec: Synthesis,
    data: Any,
    sample: np.ndarray | None,
    shape: tuple[int, int, int],
    basis: ColourBasis,
) -> Spectrum | None:
    """MaCo's magnitude for images of ``shape`` (C, H, W); None for other parameterisations."""
    if spec.param != "maco":
        return None
    c, h, w = shape
    source = spec.spectrum
    if isinstance(source, Spectrum):
        return source
    if source == "natural" or (source is None and sample is None):
        return Spectrum.natural(c, (h, w))
    if source is None:
        return Spectrum.from_images(sample, (h, w), basis, getattr(data, "source", "") or "data")
    from ..data import load_dataset

    ds = load_dataset(source, size=(h, w))
    return Spectrum.from_images(E.sample_images(ds, BASIS_IMAGES), (h, w), basis, source)


def _param(
    spec: Synthesis, shape: tuple[int, int, int, int], s: E.Setup, basis: ColourBasis, spectrum
) -> ImageParam:
    if spec.param == "maco":
        return MacoParam(shape, s.normalization, basis, spectrum, device=s.device)
    make = fourier if spec.param == "fourier" else pixel
    return make(shape, s.normalization, basis, device=s.device)


def _progress(progress: Any, total: int, kind: str, layer: str):
    if callable(progress):
        return None, progress
    if progress:
        bar = tqdm(total=total, desc=f"{kind} {layer or 'output'}", unit="step", leave=False)
        return bar, bar.update
    return None, None


@torch.no_grad()
def _reference(
    net: torch.nn.Module, objective: UnitObjective, s: E.Setup
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Each unit's highest and mean value over the data's images, (K,) each."""
    data = s.data
    if data is None or tuple(data.shape) != tuple(s.input_shape or ()):
        return None
    best, total = None, None
    for pixels in data.image_batches(np.arange(len(data)), 256):
        x = s.normalization.apply(pixels).to(s.device)
        table = objective.table(_plain_forward(net, x, objective.layer))
        top, part = table.max(0).values, table.sum(0)
        best = top if best is None else torch.maximum(best, top)
        total = part if total is None else total + part
    return best.cpu(), (total / len(data)).cpu()


def _plain_forward(net: torch.nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    import contextlib

    from ..model import StopForward, capture

    with capture(net, [layer], stop_after=True) as seen, contextlib.suppress(StopForward):
        seen.setdefault(OUTPUT, net(x))
    return seen[layer]
