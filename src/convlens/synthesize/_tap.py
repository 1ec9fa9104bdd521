"""One forward pass per optimiser step, with its hooks set up once.

:class:`LayerTap` registers the hooks of a whole optimisation once (instead of
once per step), runs the model only as far as the objective needs, and keeps
the model's parameters out of the autograd graph while it is open (their
``requires_grad`` flags are restored on exit), so each backward pass computes
the gradient with respect to the image only.

When the objective reads its layer only through one unit per image
(``select``) and that layer is a plain ``nn.Conv2d`` or ``nn.Linear``, the tap
stops at the layer's INPUT and computes just the unit each image is scored by
(a grouped convolution with one filter per image), rather than all C channels
for all K images. The values are those of the layer's own output, so the
objective and its gradient do not change; only the work does.

Example::

    with LayerTap(model, ["conv2"], select=unit_objective) as tap:
        for step in range(steps):
            seen = tap(x)            # {"conv2": ...} or {unit_objective.own_key: (K, H, W)}
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_globals

from ..model import Hooks, StopForward, get_layer
from .objectives import IMAGE, OUTPUT, UnitObjective

__all__ = ["LayerTap", "selectable"]


def selectable(model: nn.Module, unit: UnitObjective | None) -> nn.Module | None:
    """The layer module when ``unit``'s own units can be computed from its input, else None."""
    if unit is None or not unit.supports_own or unit.layer in (OUTPUT, IMAGE):
        return None
    module = get_layer(model, unit.layer)
    plain_conv = type(module) is nn.Conv2d and module.groups == 1 and module.padding_mode == "zeros"
    if not (plain_conv or type(module) is nn.Linear):
        return None
    if "forward" in module.__dict__ or module._forward_hooks or module._forward_pre_hooks:
        return None  # the user changed what the layer does: run it as it is
    if module_globals._global_forward_hooks or module_globals._global_forward_pre_hooks:
        return None
    return module


class LayerTap:
    """Context manager: ``tap(x)`` is one forward pass that stops after ``layers``.

    Returns ``{name: output}`` for ``layers`` (the graph kept; each output
    cloned when the layer produces it) plus ``OUTPUT`` when the pass runs to the
    end, or, on the selected path, ``{select.own_key: (K, ...)}``: each image's
    own unit of the layer.
    """

    def __init__(
        self, model: nn.Module, layers: Sequence[str], select: UnitObjective | None = None
    ):
        self.model = model
        self.layers = [name for name in layers if name != IMAGE]
        only_layer = select is not None and self.layers == [select.layer]
        self.module = selectable(model, select) if only_layer else None
        self.select = select if self.module is not None else None
        self._hooks = Hooks(model)
        self._frozen: list[nn.Parameter] = []
        self._seen: dict[str, Any] = {}
        self._filters: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    # ---------------------------------------------------------------- context
    def __enter__(self) -> LayerTap:
        self._frozen = [p for p in self.model.parameters() if p.requires_grad]
        try:
            for p in self._frozen:
                p.requires_grad_(False)
            if self.module is not None:
                self._hooks.forward_pre(self.select.layer, self._own_units)
            else:
                for name in dict.fromkeys(self.layers):
                    self._hooks.forward(name, self._keeper(name))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.remove()
        for p in self._frozen:
            p.requires_grad_(True)
        self._frozen = []

    # ---------------------------------------------------------------- passes
    def __call__(self, x: torch.Tensor) -> dict[str, Any]:
        self._seen = seen = {}
        with contextlib.suppress(StopForward):
            seen.setdefault(OUTPUT, self.model(x))
        return seen

    def _keeper(self, name: str):
        wanted = self.layers

        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            last = all(w in self._seen or w == name for w in wanted)
            # the pass stops here after the last layer, so nothing can change that output
            keep = isinstance(output, torch.Tensor) and not last
            self._seen[name] = output.clone() if keep else output
            if last:
                raise StopForward

        return hook

    def _own_units(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        unit = self.select
        inp = args[0]
        k = inp.shape[0]
        weight, bias = self._filter_bank(k, inp)
        if isinstance(module, nn.Linear):
            own = (inp * weight).sum(1)
            own = own + bias if bias is not None else own
        else:
            c, h, w = inp.shape[1:]
            out = F.conv2d(
                inp.reshape(1, k * c, h, w),
                weight,
                bias,
                module.stride,
                module.padding,
                module.dilation,
                groups=k,
            )
            own = out.view(k, *out.shape[2:])
        self._seen[unit.own_key] = own
        raise StopForward

    def _filter_bank(self, k: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each image's own filter (K, C_in, kh, kw) or (K, D) and bias (K,); cached per K."""
        if k not in self._filters:
            module = self.module
            index = self.select.per_sample(k).to(module.weight.device)
            weight = module.weight.detach()[index].to(like.dtype)
            bias = None if module.bias is None else module.bias.detach()[index].to(like.dtype)
            self._filters[k] = (weight, bias)
        return self._filters[k]
