"""The default layers of a model: what the network passes on from stage to stage.

Tools that look at "every layer" (the probe, the explorer, ``invert --all-layers``)
take this set by default; every other module stays available by name. The rule is
read off one traced forward pass (:mod:`convlens.model._dataflow`), not off class
names, so it applies to models nobody here wrote:

1. A module whose ``forward`` is a *chain* (each step takes the one tensor the step
   before it made, and nothing else reads it) is looked into: its steps are stages.
   ``nn.Sequential``, a ResNet's top level and LeNet's ``forward`` are chains.
2. A module that is not a chain (its input or an intermediate tensor is read twice:
   a residual add, branches joined by ``cat``) is a *block*: its output, after the
   add and whatever activation its ``forward`` applies, is one default layer, and
   nothing inside it is. A ResNet bottleneck is a block.
3. Inside a chain, a step that only rearranges or copies its input (Flatten,
   Identity, Dropout in eval mode, ``view``) is skipped; a step that changes each
   value on its own (ReLU, BatchNorm in eval mode, any activation: perturbing one
   input value changes at most that output value) joins the stage before it, so
   the stage's output is taken after its activation; any other step (conv, pool,
   linear, a block) starts a new stage.
4. A stage is named by the last module in it. An activation called as a function
   (``F.relu``) has no module name, so such a stage is named by the module before
   it (the value before the activation). A module called more than once is never
   a default layer (its name would not say which call).
5. Only stages with an (N, D) or (N, C, H, W) floating-point output are kept; the
   model's own top-level call is always looked into, chain or not. On the ``meta``
   device, where there are no values to compare, a step that keeps the number of
   values but changes the shape is taken as a reshape, and any other as a stage.

Example::

    >>> from convlens import zoo
    >>> default_layers(zoo.create("lenet"), (1, 28, 28))
    ['conv1', 'pool1', 'conv2', 'pool2', 'relu1', 'fc2']
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ._dataflow import Event, Key, tensors, trace

__all__ = ["default_layers", "is_probeable"]

_PROBES = 3  # perturbed values per pointwise test


@dataclass
class _Stage:
    name: str | None  # the module whose output the stage ends with (None: a function)
    output: tuple[tuple[int, ...], bool] | None  # (shape with batch, floating point)
    open: bool = True  # whether a following pointwise step may join it


def is_probeable(shape: Sequence[int], floating: bool = True) -> bool:
    """Whether an output of ``shape`` (with the batch) is (N, D) or (N, C, H, W) floats."""
    return floating and len(shape) in (2, 4)


def default_layers(model: nn.Module, input_shape: Sequence[int], seed: int = 0) -> list[str]:
    """Names of the default layers of ``model`` for inputs of ``input_shape`` (C, H, W),
    in the order they run (see the module docstring for the rule).

    One forward pass on seeded random input, in eval mode and without gradients;
    each module's training flag is restored and every hook removed afterwards.
    Falls back to every leaf module called once with an (N, D) or (N, C, H, W) output
    when the rule finds no such stage.
    """
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    device = param.device if param is not None else torch.device("cpu")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((1, *(int(v) for v in input_shape)), generator=g).to(device, dtype)
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()  # the steps are run again apart: BatchNorm must use its running stats
        events = trace(model, x)
        calls = Counter(e.name for e in events if e.is_module)
        stages: list[_Stage] = []
        with torch.no_grad():
            _Walk(events, calls).visit_root(stages)
    finally:
        for m, flag in flags.items():
            m.training = flag
    names = [
        s.name
        for s in stages
        if s.name and calls[s.name] == 1 and s.output is not None and is_probeable(*s.output)
    ]
    if not names:
        names = [
            e.name
            for e in events
            if e.is_module
            and e.name
            and not e.children_possible
            and e.output is not None
            and calls[e.name] == 1
            and is_probeable(*e.output)
        ]
    return list(dict.fromkeys(names))


class _Walk:
    """Turns the traced events into stages (rules 1-4 of the module docstring)."""

    def __init__(self, events: list[Event], calls: Counter[str]):
        self.events = events
        self.calls = calls

    def visit_root(self, stages: list[_Stage]) -> None:
        if not self.events:
            return
        path = chain(self.events, 0)
        if path is not None:
            for j, key in path:
                self.visit(j, key, stages)
            return
        for j in self.events[0].children:  # not a chain: each direct module call apart
            if self.events[j].is_module:
                if stages:
                    stages[-1].open = False
                self.visit(j, self.events[j].reads[0] if self.events[j].reads else None, stages)

    def visit(self, j: int, key: Key | None, stages: list[_Stage]) -> None:
        ev = self.events[j]
        if ev.is_module and ev.children_possible:
            path = chain(self.events, j)
            if path is not None:
                for k, inner in path:
                    self.visit(k, inner, stages)
                return
            kind = "stage"
        else:
            kind = step_kind(ev, key)
        if kind == "repeat":
            return
        named = ev.is_module and self.calls[ev.name] == 1
        if kind == "pointwise" and stages and stages[-1].open:
            if named:
                stages[-1].name = ev.name
            stages[-1].output = ev.output
            return
        stages.append(_Stage(ev.name if ev.is_module else None, ev.output))


def _uses(events: list[Event], i: int) -> dict[Key, int]:
    """How many direct events of call ``i`` read each key (pass-through events aside)."""
    uses: dict[Key, int] = defaultdict(int)
    for c in events[i].children:
        ev = events[c]
        if set(ev.writes) <= set(ev.reads):  # returns its input as it is (contiguous, ...)
            continue
        for k in set(ev.reads):
            uses[k] += 1
    return uses


def chain(events: list[Event], i: int) -> list[tuple[int, Key]] | None:
    """The direct events of call ``i`` that carry its one input to its one output, one
    after another, each with the key of the tensor it takes from the one before, or
    None when its forward is not such a chain (rule 1)."""
    call = events[i]
    if len(set(call.reads)) != 1 or len(call.writes) != 1:
        return None
    uses = _uses(events, i)
    current = call.reads[0]
    on_path = {current}
    path: list[tuple[int, Key]] = []
    for c in call.children:
        ev = events[c]
        read = set(ev.reads)
        if current not in read:
            if read & on_path:
                return None  # reads an earlier tensor of the path: a branch
            continue
        if set(ev.writes) <= read:
            continue  # pass-through
        if uses[current] != 1 or len(read & on_path) != 1 or len(ev.writes) != 1:
            return None
        path.append((c, current))
        current = ev.writes[0]
        on_path.add(current)
    return path if current == call.writes[0] else None


def step_kind(ev: Event, key: Key | None) -> str:
    """``"repeat"`` (same values, maybe reshaped), ``"pointwise"`` (each output value
    depends on its own input value only) or ``"stage"``, found by running the step
    again on its recorded input ``key``, as it is and with single values perturbed."""
    if key not in ev.reads or ev.output is None:
        return "stage"
    inputs = _path_input(ev, ev.reads.index(key))
    if inputs is None:
        return "stage"
    a, run = inputs
    shape, _floating = ev.output
    if not a.is_floating_point() or a.numel() != _numel(shape):
        return "stage"
    if a.device.type == "meta":  # no values to compare: a reshape repeats, nothing else
        return "repeat" if tuple(a.shape) != tuple(shape) else "stage"
    try:
        with torch.no_grad():
            y0 = run(a.clone())
            if not isinstance(y0, torch.Tensor):
                return "stage"
            if y0.numel() == a.numel() and torch.equal(y0.reshape(-1), a.reshape(-1)):
                return "repeat"
            if tuple(y0.shape) != tuple(a.shape):
                return "stage"
            flat = a.reshape(-1)
            n = flat.numel()
            for at in sorted({0, n // 2, n - 1})[:_PROBES]:
                b = a.clone()
                b.view(-1)[at] += 1.0 + abs(float(flat[at]))
                y1 = run(b)
                changed = torch.nonzero(y1.reshape(-1) != y0.reshape(-1)).reshape(-1)
                if any(int(k) != at for k in changed):
                    return "stage"
    except Exception:  # a step that cannot run apart is treated as a stage of its own
        return "stage"
    return "pointwise"


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _path_input(ev: Event, at: int) -> tuple[torch.Tensor, Any] | None:
    """The step's ``at``-th tensor input and a function re-running the step on a new one
    (every other tensor input cloned, so that an in-place step changes nothing kept)."""
    recorded = list(tensors((ev.args, ev.kwargs)))
    if at >= len(recorded):
        return None
    first = recorded[at]

    def run(new: torch.Tensor) -> Any:
        args, kwargs = _replace((ev.args, ev.kwargs), first, new)
        if ev.module is not None:
            return ev.module(*args, **kwargs)
        return ev.func(*args, **kwargs)

    return first, run


def _replace(obj: Any, old: torch.Tensor, new: torch.Tensor) -> Any:
    """``obj`` with the tensor ``old`` replaced by ``new`` and the other tensors cloned."""
    if obj is old:
        return new
    if isinstance(obj, torch.Tensor):
        return obj if isinstance(obj, nn.Parameter) else obj.clone()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_replace(o, old, new) for o in obj)
    if isinstance(obj, dict):
        return {k: _replace(v, old, new) for k, v in obj.items()}
    return obj
