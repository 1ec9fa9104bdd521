"""Forward hooks that take each probed layer's output as the layer produces it.

For every probed layer a hook keeps:

- the stored form, float16 laid out (B, H, W, C) or (B, D), converted at once while
  the output is still in cache (the conversion is also the copy that protects what
  was seen from a later in-place operation);
- what ``summarise(name, output, stored)`` returns, if given: the probe's per-batch
  reductions, made while the output is still in cache;
- the float32 output itself, *without* a copy. Its version
  counter is noted, and :meth:`StorageTaps.changed` names the layers whose output
  the rest of the forward pass modified in place (``nn.ReLU(inplace=True)`` after a
  conv). Those layers are copied from then on (:meth:`StorageTaps.copy`), and the
  batch is run again.

Version counters exist outside ``torch.inference_mode``, so a probe pass runs
under ``torch.no_grad``.

The stored forms are written into a few recycled sets of page-aligned buffers
(:meth:`StorageTaps.take` / :meth:`StorageTaps.give_back`): no fresh memory per
batch, and blocks the writer can hand to the disk by direct I/O.

Example::

    with StorageTaps(model, ["conv1", "fc1"]) as taps, torch.no_grad():
        model(x)
        if taps.changed(): ...
        taps.stored["conv1"]   # float16 (B, H, W, C)
"""

from __future__ import annotations

import math
import queue
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..model import Hooks
from ._chunks import aligned_buffer

__all__ = ["StorageTaps", "storage_form"]


def storage_form(a: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, H, W) or (B, D) -> float16 (B, H, W, C) or (B, D), contiguous, in one pass.

    ``out``: where to write it (a float16 tensor of that shape); new when None.
    """
    src = a.permute(0, 2, 3, 1) if a.ndim == 4 else a
    if out is None:
        out = torch.empty(src.shape, dtype=torch.float16, device=a.device)
    return out.copy_(src)


def aligned_empty(shape: tuple[int, ...], dtype: torch.dtype = torch.float16) -> torch.Tensor:
    """A CPU tensor whose data starts on a page boundary (anonymous ``mmap``)."""
    count = math.prod(shape)
    nbytes = count * torch.empty((), dtype=dtype).element_size()
    return torch.from_numpy(aligned_buffer(nbytes)).view(dtype)[:count].view(shape)


class StorageTaps:
    """Hooks on ``layers`` filling ``.stored`` (float16), ``.outputs`` (as produced) and
    ``.summaries`` (what ``summarise(name, output, stored)`` returned).

    ``shapes`` (a layer's stored shape per sample) and ``capacity`` (rows) give
    ``sets`` recycled buffer sets; without them each batch gets new tensors.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str],
        shapes: Mapping[str, tuple[int, ...]] | None = None,
        capacity: int = 0,
        sets: int = 3,
        summarise: Callable[[str, torch.Tensor, torch.Tensor], Any] | None = None,
    ):
        self.layers = list(dict.fromkeys(layers))
        self.stored: dict[str, torch.Tensor] = {}
        self.outputs: dict[str, torch.Tensor] = {}
        self.summaries: dict[str, Any] = {}
        self._summarise = summarise
        self._versions: dict[str, int] = {}
        self._copied: set[str] = set()
        self._hooks = Hooks(model)
        self._sets = [
            {n: aligned_empty((capacity, *shapes[n])) for n in self.layers}
            for _ in range(sets if shapes and capacity else 0)
        ]
        self._free: queue.Queue[int] = queue.Queue()
        for i in range(len(self._sets)):
            self._free.put(i)
        self._current: int | None = None

    def take(self, check: Callable[[], None] | None = None) -> int | None:
        """Claim a free buffer set for the next pass (waits for one); its id, or None.

        ``check`` is called while waiting; it should raise when the thread that
        gives sets back has failed, which would otherwise leave this wait forever.
        """
        if not self._sets:
            self._current = None
            return None
        while True:
            try:
                self._current = self._free.get(timeout=0.2)
                return self._current
            except queue.Empty:
                if check is not None:
                    check()

    def give_back(self, set_id: int | None) -> None:
        """Return a set claimed by :meth:`take` once its stored forms are written."""
        if set_id is not None:
            self._free.put(set_id)

    def __enter__(self) -> StorageTaps:
        for name in self.layers:
            self._hooks.forward(name, self._hook_for(name))
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.remove()

    def _hook_for(self, name: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                return
            t = output.detach()
            self.stored[name] = stored = self._store(name, t)
            if self._summarise is not None:
                self.summaries[name] = self._summarise(name, t, stored)
            if name in self._copied:
                t = t.clone()
            self.outputs[name] = t
            self._versions[name] = t._version

        return hook

    def _store(self, name: str, t: torch.Tensor) -> torch.Tensor:
        """The stored form of ``t``, in the current buffer set when it fits."""
        if self._current is None:
            return storage_form(t)
        buf = self._sets[self._current][name]
        want = (t.shape[0], *t.shape[2:], t.shape[1]) if t.ndim == 4 else tuple(t.shape)
        if t.shape[0] > buf.shape[0] or want[1:] != tuple(buf.shape[1:]):
            return storage_form(t)
        dst = buf[: t.shape[0]]
        if t.device.type != "cpu":  # convert on the device, move half the bytes
            return dst.copy_(storage_form(t))
        return storage_form(t, out=dst)

    def changed(self) -> list[str]:
        """Layers whose kept output was modified in place after the hook saw it."""
        return [n for n, t in self.outputs.items() if t._version != self._versions[n]]

    def copy(self, names: Sequence[str]) -> None:
        """Copy these layers' outputs in the hook from now on."""
        self._copied.update(names)

    def clear(self) -> None:
        self.stored.clear()
        self.outputs.clear()
        self.summaries.clear()
