"""Cascading model-parameter randomisation (Adebayo et al. 2018, "Sanity checks").

Layers are re-initialised one by one from the output towards the input, each
time keeping the earlier randomisations; after each, the maps are recomputed and
compared with the maps of the trained model by Spearman rank correlation. A
method whose maps stay highly correlated does not depend on the learnt weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from ...errors import LayerError
from ...model.hooks import Hooks
from .._inputs import check_inputs


@dataclass
class Randomisation:
    """``layers`` in randomisation order (output first); ``spearman`` (L, N)."""

    layers: list[str]
    spearman: torch.Tensor

    @property
    def mean(self) -> torch.Tensor:
        """(L,) mean Spearman correlation over the samples, per randomised layer."""
        return self.spearman.mean(1)


def spearman_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation (N,) between rows of (N, D) arrays (ties averaged)."""
    ra = rankdata(a.double().numpy(), axis=1)
    rb = rankdata(b.double().numpy(), axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra**2).sum(1) * (rb**2).sum(1))
    rho = np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1), 0.0)
    return torch.from_numpy(rho).float()


def parameter_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Modules with their own parameters, in the order the forward pass calls them."""
    order: list[str] = []
    with Hooks(model) as hooks, torch.no_grad():
        for name, module in model.named_modules():
            if name and any(True for _ in module.parameters(recurse=False)):
                hooks.module_forward(module, lambda m, a, o, name=name: order.append(name))
        was = model.training
        model.eval()
        try:
            model(x[:1])
        finally:
            model.train(was)
    return list(dict.fromkeys(order))


def _reinitialise(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
        module.reset_parameters()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            p.normal_(float(p.mean()), max(float(p.std()) if p.numel() > 1 else 0.0, 0.1))


def randomisation(
    model: nn.Module,
    inputs: torch.Tensor,
    method: Callable[..., torch.Tensor] | str,
    target: Any = "predicted",
    *,
    layers: Sequence[str] | None = None,
    absolute: bool = True,
    seed: int = 0,
    **method_options: Any,
) -> Randomisation:
    """Spearman correlation of ``method``'s maps per cascading randomised layer.

    - ``method``: an attribution function or its name ("guided_backprop", ...);
    - ``layers``: the layers to randomise, output first (default: every layer
      with parameters, in reverse forward order);
    - ``absolute``: compare |maps| (as in the paper's main figures).

    ``target`` is fixed on the trained model ("predicted" stays the trained
    model's prediction). The model itself is not changed: a copy is randomised.

    >>> # r = randomisation(model, x, "guided_backprop", layers=["fc", "layer3.conv2"])
    >>> # r.mean   # (2,) near 1.0 means the maps ignore those weights
    """
    from .._registry import get_method

    fn = get_method(method) if isinstance(method, str) else method
    x = check_inputs(inputs)
    if isinstance(target, str) and target == "predicted":
        with torch.no_grad():
            was = model.training
            model.eval()
            try:
                target = model(x).argmax(1)
            finally:
                model.train(was)
    reference = fn(model, x, target, **method_options).detach()
    copy_ = copy.deepcopy(model)
    known = parameter_layers(copy_, x)
    order = list(reversed(known)) if layers is None else list(layers)
    for name in order:
        if name not in known:
            raise LayerError(
                f"layer {name!r} has no parameters to randomise: expected one of {', '.join(known)}"
            )
    modules = dict(copy_.named_modules())
    flat = (lambda t: t.abs()) if absolute else (lambda t: t)
    rows = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in order:
            _reinitialise(modules[name])
            maps = fn(copy_, x, target, **method_options).detach()
            rows.append(spearman_rows(flat(reference).flatten(1), flat(maps).flatten(1)))
    return Randomisation(order, torch.stack(rows) if rows else torch.empty(0, len(x)))
