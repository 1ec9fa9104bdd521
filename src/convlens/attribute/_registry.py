"""Methods by name, for the command line and for smoothgrad."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConvlensError, suggestion
from ._base import Method
from ._cam import cam
from ._deconvnet import Deconvnet, deconvnet
from ._grad_cam import grad_cam
from ._guided_backprop import GuidedBackprop, guided_backprop
from ._guided_grad_cam import guided_grad_cam
from ._input_x_gradient import InputXGradient, input_x_gradient
from ._integrated_gradients import IntegratedGradients, integrated_gradients
from ._occlusion import occlusion
from ._saliency import Saliency, saliency
from ._smoothgrad import smoothgrad

METHODS: dict[str, Callable[..., Any]] = {
    "saliency": saliency,
    "guided_backprop": guided_backprop,
    "deconvnet": deconvnet,
    "input_x_gradient": input_x_gradient,
    "integrated_gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "occlusion": occlusion,
    "grad_cam": grad_cam,
    "guided_grad_cam": guided_grad_cam,
    "cam": cam,
}

#: methods whose result is a map (N, 1, ...) rather than shaped like the input
LAYER_MAPS = {"grad_cam", "cam"}
#: methods that need ``layer=``
NEEDS_LAYER = {"grad_cam", "guided_grad_cam"}

_WRAPPABLE: dict[str, type[Method]] = {
    "saliency": Saliency,
    "guided_backprop": GuidedBackprop,
    "deconvnet": Deconvnet,
    "input_x_gradient": InputXGradient,
    "integrated_gradients": IntegratedGradients,
}


def _unknown(name: str, names: list[str]) -> ConvlensError:
    return ConvlensError(
        f"unknown attribution method {name!r}: expected one of {', '.join(names)}; "
        f"{suggestion(name, names, 'methods')}"
    )


def method_named(name: str) -> Method:
    """A gradient method smoothgrad can wrap, by name."""
    if name not in _WRAPPABLE:
        raise _unknown(name, list(_WRAPPABLE))
    return _WRAPPABLE[name]()


def get_method(name: str) -> Callable[..., Any]:
    """The public function of a method, by name (see ``METHODS``)."""
    if name not in METHODS:
        raise _unknown(name, list(METHODS))
    return METHODS[name]
