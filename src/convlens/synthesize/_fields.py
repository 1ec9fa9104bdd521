"""Checks of a spec's fields: each bad value is one :class:`~convlens.errors.SpecError`
line naming the field, the value given, what is expected and the fix."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

from .._limits import MAX_PIXELS
from ..errors import SpecError
from .transforms import Transform, parse_transforms

__all__ = [
    "choice",
    "integer",
    "known_fields",
    "real",
    "set_field",
    "size",
    "spectrum_name",
    "transforms",
    "transforms_name",
]


def integer(name: str, value: Any, low: int, fix: str) -> int:
    """``value`` as an int, or a SpecError unless it is a whole number >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise SpecError(f"{name}={value!r}: expected a whole number >= {low}; {fix}")
    return int(value)


def real(name: str, value: Any, low: float, fix: str, strict: bool = False) -> float:
    """``value`` as a float, or a SpecError unless it is finite and >= (or >) ``low``."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and (value > low if strict else value >= low)
    if not ok:
        relation = ">" if strict else ">="
        raise SpecError(f"{name}={value!r}: expected a finite number {relation} {low:g}; {fix}")
    return float(value)


def choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value``, or a SpecError naming the choices."""
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise SpecError(f"{name}={value!r} is unknown: expected one of {shown}")
    return str(value)


def set_field(obj: Any, name: str, value: Any) -> None:
    """Set a field of a frozen dataclass (its checked, normalised value)."""
    object.__setattr__(obj, name, value)


def known_fields(cls: Any, record: Mapping[str, Any], what: str) -> None:
    """A SpecError for the first key of ``record`` that is not a field of ``cls``."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(record) - fields)
    if unknown:
        raise SpecError(f"unknown {what} {unknown[0]!r}: expected only {', '.join(sorted(fields))}")


def size(size: Any) -> tuple[int, int] | None:
    """None, or a side or (H, W) as (H, W) positive ints, at most :data:`MAX_PIXELS`."""
    if size is None:
        return None
    fix = "pass a positive side or (H, W)"
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        side = integer("size", size, 1, fix)
        hw = side, side
    elif isinstance(size, tuple | list) and len(size) == 2:
        hw = integer("size", size[0], 1, fix), integer("size", size[1], 1, fix)
    else:
        raise SpecError(f"size={size!r}: expected a positive side or (H, W), or None")
    if hw[0] * hw[1] > MAX_PIXELS:
        raise SpecError(
            f"size={size!r} asks for {hw[0]} x {hw[1]} = {hw[0] * hw[1]:,} pixels per image, above "
            f"the limit of {MAX_PIXELS:,}; pass a smaller size"
        )
    return hw


def transforms(value: Any) -> Any:
    """``"standard"``, None (also for ``"identity"``), a parsed chain name, or a callable."""
    if value is None or value == "standard":
        return value
    if isinstance(value, str):
        return None if value.strip() == "identity" else parse_transforms(value)
    if callable(value):
        return value
    raise SpecError(
        f"transforms={value!r}: expected 'standard', None, a chain like 'jitter(4) -> "
        "rotate(5)' or a callable (K, C, H, W) -> (K, C, H', W')"
    )


def transforms_name(value: Transform | str | None) -> str | None:
    """What a spec records for its transforms: the string, or the chain's name."""
    if value is None or isinstance(value, str):
        return value
    return repr(value)


def spectrum_name(value: Any) -> str | None:
    """What a spec records for its spectrum: the string, or a Spectrum's source."""
    if value is None or isinstance(value, str):
        return value
    return getattr(value, "source", "<array>")
