"""Model introspection: layers, default layers, receptive fields, the one owner of hooks."""

from .blocks import default_layers
from .device import device_of, resolve_device
from .hooks import Captured, Hooks, StopForward, capture, forward_until
from .layers import LayerInfo, layer_table
from .modules import get_layer, get_layers, layer_names
from .receptive_field import ReceptiveField, receptive_fields, rf_box, rf_boxes

__all__ = [
    "Captured",
    "Hooks",
    "LayerInfo",
    "ReceptiveField",
    "StopForward",
    "capture",
    "default_layers",
    "device_of",
    "forward_until",
    "get_layer",
    "get_layers",
    "layer_names",
    "layer_table",
    "receptive_fields",
    "resolve_device",
    "rf_box",
    "rf_boxes",
]
