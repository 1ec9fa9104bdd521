"""The optimisation loop shared by every synthesis job, and its checks.

- :func:`setup` turns a model or a :class:`~convlens.rundir.Run` (and the
  ``data`` argument of every job: a dataset, a normalisation or None) into the
  model, its normalisation, input shape and reference data.
- :func:`activations` runs the model only as far as the objective needs
  (``forward_until``), keeping the graph.
- :func:`optimise` maximises an objective over a parameterisation with the
  spec's optimiser, drawing fresh per-sample transforms every step; it names a
  layer that gives the objective no gradient, and accumulates the transparency
  map (MaCo) on the way.
- :func:`require` refuses, in one line, a spec a job cannot honour.
- :func:`chunk_size` splits a large batch so it fits a memory budget.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.dataset import ImageDataset
from ..data.normalize import Normalization
from ..errors import DataError, InputShapeError, LayerError, SpecError
from ..model import Hooks, StopForward, capture, device_of, get_layer
from ._step import Stepper
from ._tap import LayerTap
from .objectives import IMAGE, OUTPUT, Objective, UnitObjective
from .spec import Synthesis
from .transforms import standard_transforms

Progress = Callable[[int], Any]


@dataclass
class Setup:
    """What a job needs: the model, its normalisation, input shape and data.

    ``device`` is where the model's parameters live: every tensor a job creates
    goes there, and what the user reads comes back on the CPU.
    """

    model: nn.Module
    normalization: Normalization
    input_shape: tuple[int, int, int] | None
    data: ImageDataset | np.ndarray | None

    @property
    def device(self) -> torch.device:
        return device_of(self.model)


def setup(model: Any, data: Any = None) -> Setup:
    """Resolve ``model`` (an ``nn.Module`` or a Run) and ``data`` into a :class:`Setup`.

    ``data`` is an :class:`~convlens.data.ImageDataset` (its normalisation, colour
    basis, reference activations and MaCo spectrum), a
    :class:`~convlens.data.Normalization` alone, or None (a Run's own data; for a
    plain module, the identity normalisation and no data).
    """
    from ..rundir import Run

    normalization = data if isinstance(data, Normalization) else None
    if normalization is not None:
        data = None
    if data is not None and not isinstance(data, ImageDataset):
        raise DataError(
            f"data={type(data).__name__}: expected an ImageDataset (images, labels, "
            "normalisation), a Normalization, or None"
        )
    if isinstance(model, Run):
        run = model
        net = run.model() if run.checkpoints else run.build_model().eval()
        if data is None and normalization is None:
            data = _run_data(run)
        return Setup(
            net,
            normalization or run.normalization,
            tuple(run.input_shape),  # type: ignore[arg-type]
            data,
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module or a Run, not {type(model).__name__}")
    if isinstance(data, ImageDataset):
        return Setup(model, data.normalization, data.shape, data)
    if normalization is None:
        c = _in_channels(model)
        normalization = Normalization((0.0,) * c, (1.0,) * c)
    return Setup(model, normalization, None, None)


#: how many of a Run's own images give the reference activations, when no data is given
RUN_REFERENCE = 1000


def _run_data(run: Any) -> ImageDataset | None:
    try:
        val = run.dataset("val")
        data = val if len(val) else run.dataset()
    except Exception:  # data missing on this machine: no quality figure
        return None
    if len(data) > RUN_REFERENCE:
        rows = np.sort(np.random.default_rng(0).choice(len(data), RUN_REFERENCE, replace=False))
        data = data.subset(rows)
    return data


def sample_images(data: ImageDataset | None, count: int, seed: int = 0) -> np.ndarray | None:
    """uint8 (n, C, H, W): up to ``count`` images of ``data`` (a seeded sample), or None."""
    if data is None or count <= 0:
        return None
    n = len(data)
    rows = (
        np.arange(n)
        if n <= count
        else np.sort(np.random.default_rng(seed).choice(n, count, replace=False))
    )
    return np.concatenate(list(data.image_batches(rows, 1024)))


def _in_channels(model: nn.Module) -> int:
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Conv1d | nn.Conv3d):
            return int(m.in_channels)
    return 1


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; every module's training flag restored after."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed torch's generator inside the block, restoring the caller's state after."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def check_layers(model: nn.Module, layers: Sequence[str]) -> None:
    """A :class:`LayerError` naming the closest layers for an unknown name."""
    for name in layers:
        if name not in (OUTPUT, IMAGE):
            get_layer(model, name)


def activations(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict:
    """Outputs of ``layers`` for input ``x``, the graph kept; the pass stops after them."""
    layers = [name for name in layers if name != IMAGE]
    if not layers:
        return {}
    with (
        capture(model, layers, detach=False, clone=True, stop_after=True) as seen,
        contextlib.suppress(StopForward),
    ):
        seen.setdefault(OUTPUT, model(x))
    check_seen(seen, layers, x)
    return dict(seen)


def check_seen(seen: dict, layers: Sequence[str], x: torch.Tensor) -> None:
    """A :class:`LayerError` for a layer not called, or one that gives no gradient."""
    missing = [name for name in layers if name not in seen]
    if missing:
        raise LayerError(
            f"layer {missing[0]!r} was not called in the forward pass: expected a layer the "
            "model uses for this input; pick one from `convlens layers`"
        )
    tracking = x.requires_grad and torch.is_grad_enabled()
    for name in layers:
        t = seen[name]
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise LayerError(_no_gradient(name, t))
        if tracking and not t.requires_grad:
            raise LayerError(_no_gradient(name, t))


def _no_gradient(name: str, t: Any) -> str:
    what = f"{t.dtype} tensor" if isinstance(t, torch.Tensor) else type(t).__name__
    return (
        f"layer {name or 'output'!r} gives the objective no gradient: its output ({what}) does "
        "not depend differentiably on the image (for example after an argmax, a comparison or "
        "a detach); choose a layer before it"
    )


def layer_shape(model: nn.Module, layer: str, sample: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape of ``layer`` (without batch) for one input of shape ``sample``."""
    x = torch.zeros((1, *sample), device=device_of(model))
    try:
        with (
            torch.no_grad(),
            capture(model, [layer], stop_after=True) as seen,
            contextlib.suppress(StopForward),
        ):
            seen.setdefault(OUTPUT, model(x))
    except LayerError:
        raise
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputShapeError(
            f"an image of shape {tuple(sample)} (C, H, W) does not fit the model ({first}); "
            "pass the size the model was built for"
        ) from None
    if layer not in seen:
        raise LayerError(
            f"layer {layer!r} was not called in the forward pass: expected a layer the model "
            "uses for this input; pick one from `convlens layers`"
        )
    out = seen[layer]
    if not isinstance(out, torch.Tensor):
        raise LayerError(f"layer {layer!r} returns {type(out).__name__}, expected a tensor")
    return tuple(out.shape[1:])


def optimise(
    model: nn.Module,
    objective: Objective,
    param: Any,
    spec: Synthesis,
    *,
    progress: Progress | None = None,
    select: UnitObjective | None = None,
) -> torch.Tensor:
    """Maximise ``objective`` summed over the batch: ``spec.steps`` steps of ``spec.optimiser``.

    Each step draws new per-sample transforms (``spec.transforms``) and calls the
    penalty's step hooks (the blur). Gradients are taken with respect to the
    parameterisation only, so the model's ``.grad`` stays untouched (its
    parameters leave the graph while this runs). ``select``: the unit objective
    that alone reads its layer, which lets the pass compute only each image's
    own unit of that layer (see :class:`~convlens.synthesize._tap.LayerTap`).

    An image whose gradient is zero everywhere in one of the first
    :data:`RESTARTS` steps (its unit is dead for it: a ReLU that never opens)
    gets a fresh random start; when every image's gradient is still zero at
    the end of that window the layer is named in one line.

    Returns the transparency map (K, H, W): the absolute gradient of the
    objective with respect to the image (before transforms), summed over
    channels and over the steps (Fel et al. 2023).
    """
    layers = sorted(objective.layers - {IMAGE})
    tensors = param.parameters()
    k, _, h, w = param.shape
    tf = transforms_for(spec, h, w)
    hooks = spec.penalty.hooks()
    stepper = Stepper(spec.optimiser, spec.lr, spec.steps, tensors)
    transparency = torch.zeros((k, h, w), device=param.device)
    seen_gradient = False
    with LayerTap(model, layers, select) as tap:
        for step in range(spec.steps):
            x = param()
            xt = tf(x) if tf else x
            seen = tap(xt)
            if tap.select is None:
                check_seen(seen, layers, xt)
            seen[IMAGE] = x
            loss = -objective(seen).sum()
            if not loss.requires_grad:
                raise LayerError(_no_gradient(layers[0] if layers else IMAGE, loss))
            *grads, gx = torch.autograd.grad(loss, [*tensors, x], allow_unused=True)
            if step == min(RESTARTS, spec.steps) - 1 and not seen_gradient:
                check_gradient(grads, objective, layers)
            if gx is not None:
                gx = gx.detach()
                transparency += gx.abs().sum(1)
                if step < RESTARTS:
                    dead = gx.flatten(1).abs().amax(1) == 0
                    seen_gradient = seen_gradient or not bool(dead.all())
                    if bool(dead.any()) and hasattr(param, "redraw_"):
                        param.redraw_(dead.cpu())
            stepper.step(grads, step)
            for hook in hooks:
                hook(param, step)
            if progress is not None:
                progress(1)
    return transparency


#: the first steps in which an image with no gradient at all gets a fresh start
RESTARTS = 8


def transforms_for(spec: Synthesis, h: int, w: int) -> Callable | None:
    """The spec's transforms for (H, W) images: ``"standard"`` is scaled to the size."""
    return standard_transforms(min(h, w)) if spec.transforms == "standard" else spec.transforms


#: the default spec of each job, by the name the package exports it under
DEFAULTS = {
    "maximise": "MAXIMISE",
    "invert": "INVERSION",
    "deepdream": "DREAM",
    "zoom_frames": "DREAM",
    "dream_class": "DREAM_CLASS",
}


def check_spec(spec: Any, default: Synthesis, job: str) -> Synthesis:
    """``spec`` (``default`` when None) resolved, or a one-line error when it is not a Synthesis."""
    if spec is None:
        spec = default
    elif not isinstance(spec, Synthesis):
        name = DEFAULTS.get(job, "MAXIMISE")
        raise SpecError(
            f"{job}: spec={spec!r} is not a Synthesis; pass one, for example "
            f"synthesize.{name}.replace(steps=100)"
        )
    if job != "maximise" and spec.decorrelate is None:
        spec = spec.replace(decorrelate=False)  # no colour basis outside maximisation
    return spec.resolved()


def require(spec: Synthesis, job: str, **allowed: Any) -> None:
    """A one-line :class:`~convlens.errors.SpecError` for a field ``job`` cannot honour.

    ``allowed`` maps a field (``penalty`` names the terms) to the values the job
    takes, e.g. ``param=("pixel",)``, ``penalty=("tv", "blur_every")``.
    """
    hint = DEFAULTS.get(job)
    start = f"start from synthesize.{hint}, e.g. {hint}.replace(steps=...)" if hint else ""
    for name, values in allowed.items():
        if name == "penalty":
            extra = [t for t in spec.penalty.terms() if t not in values]
            if extra:
                shown = ", ".join(values) or "none"
                raise SpecError(
                    f"{job} takes no penalty.{extra[0]} (it takes: {shown}); set it to 0"
                    + (f", or {start}" if start else "")
                )
            continue
        value = getattr(spec, name)
        if value not in values:
            shown = " or ".join(repr(v) for v in values)
            raise SpecError(
                f"{job} takes {name}={shown}, not {value!r}" + (f"; {start}" if start else "")
            )


def check_gradient(grads: Sequence[torch.Tensor | None], objective: Objective, layers) -> None:
    """Name the layer when the objective's gradient is missing or zero everywhere."""
    if all(g is None or not bool(torch.any(g != 0)) for g in grads):
        where = ", ".join(repr(name or "output") for name in layers) or "the image"
        raise LayerError(
            f"the objective {objective.name} has a zero gradient with respect to the image "
            f"through layer {where}: that layer is flat (a step, rounding or argmax) or every "
            "unit is inactive; choose a layer before it"
        )


def final_scores(
    model: nn.Module, objectives: Sequence[Objective], images: torch.Tensor
) -> list[torch.Tensor]:
    """Each objective on the final images, without transforms, (K,) each; one forward pass."""
    layers = sorted(set().union(*(o.layers for o in objectives)) - {IMAGE})
    x = images.detach().requires_grad_(True)
    seen = activations(model, x, layers)
    seen[IMAGE] = x
    return [o(seen).detach() for o in objectives]


def chunk_size(
    model: nn.Module, layers: Sequence[str], sample: tuple[int, ...], budget: int
) -> int:
    """How many images fit ``budget`` bytes: layer outputs up to ``layers``, x4 for the graph."""
    total = 0

    def count(module, args, output):
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    wanted = [name for name in layers if name not in (IMAGE,)] or [OUTPUT]
    x = torch.zeros((1, *sample), device=device_of(model))
    with torch.no_grad(), Hooks(model) as hooks:
        for m in model.modules():
            if m is not model:
                hooks.module_forward(m, count)
        with capture(model, wanted, stop_after=True), contextlib.suppress(StopForward):
            model(x)
    per_image = 4 * total + 24 * x.numel() * x.element_size()
    return max(1, int(budget // max(per_image, 1)))


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate" in text)
    )
