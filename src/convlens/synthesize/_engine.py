"""The optimisation loop shared by every synthesis job, and its checks.

- :func:`setup` turns a model or a :class:`~convlens.rundir.Run` into the model,
  its normalisation, input shape and reference data.
- :func:`activations` runs the model only as far as the objective needs
  (``forward_until``), keeping the graph.
- :func:`optimise` maximises an objective over a parameterisation with Adam,
  drawing fresh per-sample transforms every step; it names a layer that gives
  the objective no gradient.
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
from ..errors import InputShapeError, LayerError, TargetError
from ..model import Hooks, StopForward, capture, device_of, get_layer
from ._tap import LayerTap
from .objectives import IMAGE, OUTPUT, Objective, UnitObjective

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


def setup(
    model: Any,
    normalization: Normalization | None = None,
    data: ImageDataset | np.ndarray | None = None,
    input_shape: Sequence[int] | None = None,
) -> Setup:
    """Resolve ``model`` (an ``nn.Module`` or a Run) into a :class:`Setup`."""
    from ..rundir import Run

    if isinstance(model, Run):
        run = model
        net = run.model() if run.checkpoints else run.build_model().eval()
        if data is None:
            try:
                val = run.dataset("val")
                data = val if len(val) else run.dataset()
            except Exception:  # data missing on this machine: no quality figure
                data = None
        return Setup(
            net,
            normalization or run.normalization,
            tuple(input_shape or run.input_shape),  # type: ignore[arg-type]
            data,
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module or a Run, not {type(model).__name__}")
    if normalization is None and isinstance(data, ImageDataset):
        normalization = data.normalization
    if normalization is None:
        c = input_shape[0] if input_shape else _in_channels(model)
        normalization = Normalization((0.0,) * c, (1.0,) * c)
    if input_shape is None and isinstance(data, ImageDataset):
        input_shape = data.shape
    return Setup(model, normalization, tuple(input_shape) if input_shape else None, data)


def _in_channels(model: nn.Module) -> int:
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Conv1d | nn.Conv3d):
            return int(m.in_channels)
    return 1


def data_images(data: ImageDataset | np.ndarray | None) -> np.ndarray | None:
    """uint8 (N, C, H, W) of the reference data, or None."""
    if data is None:
        return None
    if isinstance(data, ImageDataset):
        return data.images
    return np.asarray(data)


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


def check_units(layer: str, units: Sequence[int], shape: tuple[int, ...], what: str) -> None:
    """A :class:`TargetError` for a unit index outside the layer's channels."""
    count = shape[0] if shape else 1
    for u in units:
        if not 0 <= int(u) < count:
            raise TargetError(
                f"{what} {int(u)} is out of range for layer {layer or 'output'!r} with {count} "
                f"{'channels' if len(shape) > 1 else 'units'}: expected 0..{count - 1}"
            )


def optimise(
    model: nn.Module,
    objective: Objective,
    param: Any,
    *,
    steps: int,
    lr: float = 0.05,
    transforms: Callable[[torch.Tensor], torch.Tensor] | None = None,
    hooks: Sequence[Callable[[Any, int], None]] = (),
    progress: Progress | None = None,
    select: UnitObjective | None = None,
) -> None:
    """Maximise ``objective`` summed over the batch by Adam on ``param``'s tensors.

    Each step draws new per-sample transforms. Gradients are taken with respect
    to the parameterisation only, so the model's ``.grad`` stays untouched (its
    parameters leave the graph while this runs). ``select``: the unit objective
    that alone reads its layer, which lets the pass compute only each image's
    own unit of that layer (see :class:`~convlens.synthesize._tap.LayerTap`).
    """
    layers = sorted(objective.layers - {IMAGE})
    tensors = param.parameters()
    opt = torch.optim.Adam(tensors, lr=lr)
    with LayerTap(model, layers, select) as tap:
        for step in range(steps):
            x = param()
            xt = transforms(x) if transforms else x
            seen = tap(xt)
            if tap.select is None:
                check_seen(seen, layers, xt)
            seen[IMAGE] = x
            loss = -objective(seen).sum()
            if not loss.requires_grad:
                raise LayerError(_no_gradient(layers[0] if layers else IMAGE, loss))
            grads = torch.autograd.grad(loss, tensors, allow_unused=True)
            if step == 0:
                check_gradient(grads, objective, layers)
            for t, g in zip(tensors, grads, strict=True):
                t.grad = g
            opt.step()
            for hook in hooks:
                hook(param, step)
            if progress is not None:
                progress(1)


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
