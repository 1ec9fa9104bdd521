"""Tracing what flows where in one forward pass: module calls and torch ops as events.

:func:`trace` runs the model once and records every module call (through forward
hooks on every module) and every torch function, method and operator called
directly inside a module's ``forward`` (through a ``TorchFunctionMode``): which
tensors each event read and which it produced. A tensor is known by its key
``(id, version)``, so an in-place op (``nn.ReLU(inplace=True)``, ``out += x``)
produces a new key for the same object. Every traced tensor is kept alive until
the trace is dropped, so that ids are never reused.

The default layers (:mod:`convlens.model.blocks`) are read off these events.

Example::

    events = trace(model, torch.randn(1, 3, 32, 32))
    root = events[0]                # the call of the model itself
    [e.name for e in events if e.parent == 0]   # what the model's forward called
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .hooks import Hooks

__all__ = ["Event", "Key", "tensors", "trace"]

Key = tuple[int, int]  # (id of the tensor object, its version counter)


@dataclass
class Event:
    """One module call (``module`` set) or one torch op called directly in a forward.

    ``parent`` is the index of the enclosing module call (-1 for the root call).
    ``reads``/``writes`` are tensor keys; ``args``/``kwargs`` (module calls and ops) are
    what it was called with (a tensor that a later in-place op changes is copied first,
    so that a re-run sees the values of the call);
    ``output`` the (shape, floating point) of what it produced when that is one tensor.
    """

    name: str
    parent: int
    module: nn.Module | None = None
    func: Any = None
    reads: list[Key] = field(default_factory=list)
    writes: list[Key] = field(default_factory=list)
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    output: tuple[tuple[int, ...], bool] | None = None
    children: list[int] = field(default_factory=list)
    children_possible: bool = False  # a module with sub-modules (its own ops are recorded)

    @property
    def is_module(self) -> bool:
        return self.module is not None


def tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from tensors(item)


def _meta(out: Any) -> tuple[tuple[int, ...], bool] | None:
    """(shape with batch, floating point) of a tensor output; None for anything else."""
    if not isinstance(out, torch.Tensor):
        return None
    return tuple(int(s) for s in out.shape), out.is_floating_point()


def _in_place(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a torch op changes a tensor argument in place: ``relu_``, ``+=``, ``out=``,
    ``x[i] = v``, or a function called with ``inplace=True`` (``F.relu`` from ``nn.ReLU``)."""
    name = getattr(func, "__name__", "")
    if (name.endswith("_") and not name.startswith("_")) or name.startswith("__i"):
        return True
    if name == "__setitem__" or "out" in kwargs:
        return True
    params = _inplace_param(func)
    if params is None:
        return False
    at, default = params
    if "inplace" in kwargs:
        return bool(kwargs["inplace"])
    return bool(args[at]) if at < len(args) else bool(default)


@functools.cache
def _inplace_param(func: Any) -> tuple[int, bool] | None:
    """(position, default) of a function's ``inplace`` parameter, or None."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    for at, p in enumerate(params):
        if p.name == "inplace":
            return at, bool(p.default) if p.default is not inspect.Parameter.empty else False
    return None


def _swap(obj: Any, old: torch.Tensor, new: torch.Tensor) -> Any:
    """``obj`` with the tensor ``old`` replaced by ``new`` (lists, tuples, dicts rebuilt)."""
    if obj is old:
        return new
    if isinstance(obj, (list, tuple)):
        return type(obj)(_swap(o, old, new) for o in obj)
    if isinstance(obj, dict):
        return {k: _swap(v, old, new) for k, v in obj.items()}
    return obj


class _Recorder(TorchFunctionMode):
    """Records module calls (driven by hooks) and the ops called directly inside them.

    Arguments are kept by reference; ``watch`` notes which events hold each tensor, and
    an op about to change a tensor in place first gives those events a copy of it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []
        self.stack: list[int] = []
        self.keep: list[torch.Tensor] = []  # keeps ids unique for the trace's lifetime
        self.names: dict[int, str] = {}
        self.paused = False  # while a hook runs: its own tensor calls are not the model's
        self.watch: dict[int, list[int]] = {}

    def _hold(self, index: int) -> None:
        for t in tensors((self.events[index].args, self.events[index].kwargs)):
            self.watch.setdefault(id(t), []).append(index)

    def _before_change(self, args: Any, kwargs: Any) -> None:
        """Copies of the tensors an in-place op is about to change, for events holding them."""
        for t in tensors((args, kwargs)):
            for key in {id(t), id(t._base) if t._base is not None else id(t)}:
                for index in self.watch.pop(key, []):
                    ev = self.events[index]
                    held = next((h for h in tensors((ev.args, ev.kwargs)) if id(h) == key), None)
                    if held is not None:
                        ev.args, ev.kwargs = _swap((ev.args, ev.kwargs), held, held.clone())

    def key(self, t: torch.Tensor) -> Key:
        self.keep.append(t)
        return (id(t), t._version)

    def _add(self, event: Event) -> int:
        index = len(self.events)
        self.events.append(event)
        if event.parent >= 0:
            self.events[event.parent].children.append(index)
        return index

    # ------------------------------------------------------------------ modules
    def enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.paused = True
        try:
            parent = self.stack[-1] if self.stack else -1
            event = Event(
                self.names.get(id(module), ""),
                parent,
                module=module,
                reads=[self.key(t) for t in tensors(args)],
                args=args,
            )
            event.children_possible = any(True for _ in module.children())
            index = self._add(event)
            self._hold(index)
            self.stack.append(index)
        finally:
            self.paused = False

    def leave(self, output: Any) -> None:
        self.paused = True
        try:
            event = self.events[self.stack.pop()]
            event.writes = [self.key(t) for t in tensors(output)]
            event.output = _meta(output)
        finally:
            self.paused = False

    # ---------------------------------------------------------------------- ops
    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        if not self.paused and self.watch and _in_place(func, args, kwargs):
            self._before_change(args, kwargs)
        if self.paused or not self.stack or not self.events[self.stack[-1]].children_possible:
            return func(*args, **kwargs)
        reads = [self.key(t) for t in tensors((args, kwargs))]
        out = func(*args, **kwargs)
        writes = [self.key(t) for t in tensors(out)]
        if writes:
            name = getattr(func, "__name__", str(func))
            event = Event(name, self.stack[-1], func=func, reads=reads, writes=writes)
            event.args, event.kwargs = args, kwargs
            event.output = _meta(out)
            self._hold(self._add(event))
        return out


def trace(model: nn.Module, x: torch.Tensor) -> list[Event]:
    """Events of one forward pass of ``model`` on ``x`` (eval mode, no gradients).

    Index 0 is the model's own call. Each module's training flag is restored and
    every hook removed afterwards, also on error.
    """
    recorder = _Recorder()
    recorder.names = {id(m): n for n, m in model.named_modules()}
    flags = {m: m.training for m in model.modules()}

    def pre(module: nn.Module, args: tuple[Any, ...]) -> None:
        recorder.enter(module, args)

    def post(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        recorder.leave(output)

    try:
        model.eval()
        with Hooks(model) as hooks, torch.no_grad():
            for module in model.modules():
                hooks.module_forward_pre(module, pre)
                hooks.module_forward(module, post)
            with recorder:
                model(x)
    finally:
        for m, flag in flags.items():
            m.training = flag
    return recorder.events
