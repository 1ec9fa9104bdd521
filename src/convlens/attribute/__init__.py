"""Attribution: which inputs a model relied on for one chosen output.

Every method has the signature ``method(model, inputs, target="predicted", **options)``,
is batched, leaves the model as it found it (frozen parameters included), and
returns a tensor shaped like ``inputs`` (N, C, H, W) unless noted. ``inputs`` may
be a tuple of tensors sharing N, which gives a tuple of maps, and
``additional_forward_args`` follow the inputs in the model's call. A target is an
int, one int per sample, ``"predicted"``, None (the output is the score), an
output index tuple (or one per sample) or a callable ``output -> (N,)`` scores.

- gradients: :func:`saliency`, :func:`input_x_gradient`;
- rectifier rules: :func:`guided_backprop`, :func:`deconvnet`, :func:`project_units`;
- path and noise: :func:`integrated_gradients`, :func:`smoothgrad` (with :class:`Noise`);
- perturbation: :func:`occlusion`;
- class activation maps: :func:`grad_cam`, :func:`guided_grad_cam`, :func:`cam`
  (a :class:`Layer` picks a layer's input or one of its calls);
- faithfulness: :mod:`convlens.attribute.metrics`.
"""

from . import metrics
from ._base import Method, Pipeline, Step
from ._cam import cam
from ._deconvnet import deconvnet
from ._grad_cam import grad_cam
from ._guided_backprop import guided_backprop
from ._guided_grad_cam import guided_grad_cam
from ._input_x_gradient import input_x_gradient
from ._integrated_gradients import Completeness, integrated_gradients
from ._layer import Layer, LayerCallWarning
from ._occlusion import occlusion
from ._project import project_units
from ._registry import METHODS, get_method
from ._rule import has_max_pool, projection_rule
from ._saliency import saliency
from ._smoothgrad import Noise, smoothgrad
from ._targets import Target, resolve_target

__all__ = [
    "METHODS",
    "Completeness",
    "Layer",
    "LayerCallWarning",
    "Method",
    "Noise",
    "Pipeline",
    "Step",
    "Target",
    "cam",
    "deconvnet",
    "get_method",
    "grad_cam",
    "guided_backprop",
    "guided_grad_cam",
    "has_max_pool",
    "input_x_gradient",
    "integrated_gradients",
    "metrics",
    "occlusion",
    "project_units",
    "projection_rule",
    "resolve_target",
    "saliency",
    "smoothgrad",
]
