"""Which rule projects a unit back to the input: deconvnet where the model max-pools,
guided backprop where it does not.

Without the switches of max-pooling, a deconvnet projection hardly depends on the
image (on resnet8 every image and channel gave the same picture, cosine similarity
1.0000), so figures and the explorer's channel panel default to guided backprop there
and say so.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import DataError

__all__ = ["RULES", "RULE_NAMES", "has_max_pool", "projection_rule"]

RULES = ("deconvnet", "guided", "gradient")
RULE_NAMES = {"deconvnet": "deconvnet", "guided": "guided backprop", "gradient": "gradient"}
_MAX_POOLS = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.FractionalMaxPool2d,
    nn.FractionalMaxPool3d,
)


def has_max_pool(model: nn.Module, example: torch.Tensor | None = None) -> bool:
    """Whether ``model`` max-pools: a max-pool module, or (given an ``example`` input
    (N, C, H, W)) a ``max_pool*`` function called in its forward pass.

    >>> has_max_pool(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)))
    True
    """
    if any(isinstance(m, _MAX_POOLS) for m in model.modules()):
        return True
    if example is None:
        return False
    from torch.overrides import TorchFunctionMode

    class _Calls(TorchFunctionMode):
        found = False

        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            if "max_pool" in getattr(func, "__name__", ""):
                _Calls.found = True
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), _Calls():
        model(example[:1])
    return _Calls.found


def projection_rule(
    model: nn.Module, example: torch.Tensor | None = None, requested: str | None = None
) -> tuple[str, str]:
    """The projection rule to use and one line saying why: ``requested`` when given,
    else ``"deconvnet"`` for a model that max-pools and ``"guided"`` for one that does not.

    >>> projection_rule(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))[0]
    'guided'
    """
    if requested is not None:
        if requested not in RULES:
            raise DataError(f"projection method {requested!r}: expected one of {', '.join(RULES)}")
        return requested, f"{RULE_NAMES[requested]} projections (as asked)"
    if has_max_pool(model, example):
        return "deconvnet", "deconvnet projections (Zeiler & Fergus; the model max-pools)"
    return "guided", (
        "guided backprop projections: the model has no max-pool, so deconvnet projections "
        "would hardly depend on the image (ask for --method deconvnet to see them anyway)"
    )
