"""The optimisers of a synthesis, one step at a time, from the gradient of a loss to minimise.

- ``"adam"``: :class:`torch.optim.Adam` at ``lr``;
- ``"sgd"``: heavy-ball momentum 0.9, ``v = 0.9 v - rate g; t = t + v``, the
  rate ``lr`` for the first two thirds of the steps and ``lr / 10`` after
  (the schedule of Mahendran & Vedaldi 2015);
- ``"normalized"``: ``t = t - lr * g / mean|g|``, a step of ``lr`` along the
  gradient divided by its mean absolute value (DeepDream).

Example::

    stepper = Stepper("adam", 0.05, steps=100, tensors=[z])
    for step in range(100):
        (g,) = torch.autograd.grad(loss(z), [z])
        stepper.step([g], step)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["MOMENTUM", "Stepper"]

#: the momentum of ``"sgd"``
MOMENTUM = 0.9


class Stepper:
    """Update ``tensors`` in place from their gradients, by the optimiser ``kind``."""

    def __init__(self, kind: str, lr: float, steps: int, tensors: Sequence[torch.Tensor]):
        self.kind, self.lr, self.steps = kind, float(lr), int(steps)
        self.tensors = list(tensors)
        self._adam = torch.optim.Adam(self.tensors, lr=self.lr) if kind == "adam" else None
        self._velocity = [torch.zeros_like(t) for t in self.tensors] if kind == "sgd" else []

    def rate(self, step: int) -> float:
        """The learning rate at ``step`` (0-based)."""
        if self.kind == "sgd" and step >= (2 * self.steps) // 3:
            return self.lr / 10
        return self.lr

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor | None], step: int) -> None:
        """One update; a None gradient leaves its tensor as it is."""
        if self._adam is not None:
            for t, g in zip(self.tensors, grads, strict=True):
                t.grad = g
            self._adam.step()
            return
        rate = self.rate(step)
        for i, (t, g) in enumerate(zip(self.tensors, grads, strict=True)):
            if g is None:
                continue
            if self.kind == "sgd":
                v = self._velocity[i]
                v.mul_(MOMENTUM).add_(g, alpha=-rate)
                t.add_(v)
            else:
                t.sub_(g * (rate / g.abs().mean().clamp_min(1e-12)))
