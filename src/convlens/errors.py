"""Typed exceptions of convlens.

Every error convlens raises on bad input is a :class:`ConvlensError`. Its message is
one line that says what was given, what was expected and how to fix it. The
command-line tool prints that line on stderr and exits with status 2, without a
traceback. Each class also derives from the matching built-in exception, so
``except ValueError`` keeps working for callers that do not know convlens.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConvlensError",
    "ConvlensWarning",
    "DataError",
    "InputShapeError",
    "LayerError",
    "ModelError",
    "OutputError",
    "PathNotFoundError",
    "RunError",
    "SpecError",
    "TargetError",
    "TrainingError",
    "UntrustedCodeError",
    "closest",
    "first_line",
]


class ConvlensError(Exception):
    """Base class: a one-line, user-facing message."""


class PathNotFoundError(ConvlensError, FileNotFoundError):
    """A path the user gave does not exist."""


class DataError(ConvlensError, ValueError):
    """A dataset that cannot be read, is empty, or does not fit the model."""


class ModelError(ConvlensError, ValueError):
    """An unknown model, a factory that does not import, or weights that do not fit."""


class LayerError(ConvlensError, ValueError):
    """A layer name that is not in the model, or a layer of the wrong kind."""


class InputShapeError(ConvlensError, ValueError):
    """An input tensor whose shape does not fit the model or the method."""


class TargetError(ConvlensError, ValueError):
    """An attribution or synthesis target that does not fit the model output."""


class RunError(ConvlensError, ValueError):
    """A run directory that is missing parts or lacks a requested checkpoint."""


class SpecError(ConvlensError, ValueError):
    """A setting of a job out of range or of an unknown kind: a negative step count,
    an unknown parameterisation, a learning rate that is not a positive number."""


class TrainingError(ConvlensError, RuntimeError):
    """Training that cannot go on, for example because the loss became NaN."""


class UntrustedCodeError(ConvlensError, PermissionError):
    """A run directory names code (a model factory) that the user has not trusted."""


class OutputError(ConvlensError, OSError):
    """An output path that cannot be written: a folder where a file is needed or a file
    where a folder is, a read-only folder, a full disk, a file over the size limit."""


class ConvlensWarning(UserWarning):
    """Something convlens did on the user's behalf that the user should know about
    (for example a normalisation recorded as "none" because none was given)."""


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message, or its type's name: what a
    one-line error quotes of an exception raised by other code."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def closest(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """The names in ``choices`` most like ``name``, best first (may be empty).

    >>> closest("conv", ["conv1", "conv2", "fc1"])
    ['conv1', 'conv2']
    """
    choices = list(choices)
    found = difflib.get_close_matches(name, choices, n=n, cutoff=0.4)
    if not found:
        found = [c for c in choices if name.lower() in c.lower()][:n]
    return found


def suggestion(name: str, choices: Iterable[str], what: str) -> str:
    """A short ``did you mean`` phrase for an error message."""
    choices = list(choices)
    near = closest(name, choices)
    if near:
        return "closest " + what + ": " + ", ".join(near)
    shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
    return f"known {what}: {shown}"
