"""Finding layers of a model by their dotted names."""

from __future__ import annotations

from torch import nn

from ..errors import LayerError, suggestion


def layer_names(model: nn.Module) -> list[str]:
    """Dotted names of every sub-module, in registration order (the root excluded)."""
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The sub-module called ``name``; a :class:`LayerError` names the closest ones.

    >>> from torch import nn
    >>> get_layer(nn.Sequential(nn.Conv2d(1, 2, 3)), "0")
    Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))
    """
    modules = dict(model.named_modules())
    if not isinstance(name, str) or not name or name not in modules:
        names = layer_names(model)
        raise LayerError(
            f"unknown layer {name!r}: expected one of the model's {len(names)} layer names; "
            f"{suggestion(str(name), names, 'names')} (list them with `convlens layers`)"
        )
    return modules[name]


def get_layers(model: nn.Module, names: list[str] | tuple[str, ...]) -> dict[str, nn.Module]:
    """``{name: module}`` for each of ``names``, checking all of them."""
    return {name: get_layer(model, name) for name in names}
