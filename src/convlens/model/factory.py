"""Building a model from a spec: a zoo name or ``module:factory``."""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from .. import zoo
from ..errors import ModelError


def build_model(spec: str, **options: Any) -> nn.Module:
    """A fresh model from ``spec``: a zoo name (``"lenet"``) or ``"pkg.module:factory"``.

    The factory is called with ``**options`` and must return an ``nn.Module``.

    >>> build_model("lenet").__class__.__name__
    'LeNet'
    """
    if ":" not in spec:
        return zoo.create(spec, **options)
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ModelError(
            f"model spec {spec!r} is not of the form module:factory; "
            "write it like mypackage.models:make_net"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of user code
        raise ModelError(
            f"model factory {spec!r}: module {module_name!r} does not import "
            f"({type(exc).__name__}: {exc}); check the module is on PYTHONPATH"
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModelError(
            f"model factory {spec!r}: {module_name!r} has no callable {attr!r}; "
            "name a function or class that returns an nn.Module"
        )
    try:
        model = factory(**options)
    except Exception as exc:  # user code: report it in one line
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(
            f"model factory {spec!r} raised {type(exc).__name__}: {first}; "
            "check the factory and its options"
        ) from None
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"model factory {spec!r} returned {type(model).__name__}, expected an nn.Module"
        )
    return model


def default_input_shape(spec: str) -> tuple[int, ...] | None:
    """The zoo's input shape (C, H, W) for a zoo name; None for a factory."""
    if ":" in spec:
        return None
    return zoo.entry(spec).input_shape
