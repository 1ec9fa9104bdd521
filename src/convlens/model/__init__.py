"""Model introspection: layers, receptive fields, and the one owner of hooks."""

from .hooks import Captured, Hooks, StopForward, capture, forward_until
from .modules import get_layer, get_layers, layer_names

__all__ = [
    "Captured",
    "Hooks",
    "StopForward",
    "capture",
    "forward_until",
    "get_layer",
    "get_layers",
    "layer_names",
]
