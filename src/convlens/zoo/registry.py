"""The zoo's registry: model names, their factories and default input shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import ModelError, suggestion


@dataclass(frozen=True)
class ZooEntry:
    """A named model: ``factory(**options)`` builds it; ``input_shape`` is (C, H, W).

    ``task`` is ``"classify"`` for class scores or ``"embed"`` for an embedding
    trained with a contrastive loss.
    """

    name: str
    factory: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    task: str = "classify"
    description: str = ""


_REGISTRY: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    """Add ``entry`` to the zoo (a later entry of the same name replaces it)."""
    _REGISTRY[entry.name] = entry
    return entry


def names() -> list[str]:
    """The names of every zoo model."""
    return sorted(_REGISTRY)


def entry(name: str) -> ZooEntry:
    """The :class:`ZooEntry` called ``name``."""
    if name not in _REGISTRY:
        raise ModelError(
            f"unknown model {name!r}: expected a zoo name or module:factory; "
            f"{suggestion(name, names(), 'zoo models')}"
        )
    return _REGISTRY[name]


def create(name: str, **options: Any) -> nn.Module:
    """Build the zoo model ``name`` with fresh weights.

    >>> create("lenet").fc2.out_features
    10
    """
    e = entry(name)
    try:
        return e.factory(**options)
    except TypeError as exc:
        raise ModelError(
            f"model {name!r} does not take options {sorted(options)}: {exc}; "
            "drop or rename the options"
        ) from None
