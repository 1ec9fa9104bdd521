"""Models whose output is not one tensor: pick the tensor once, by name.

Hugging Face-style models return a dataclass (``ImageClassifierOutput``) whose
``logits`` field is the tensor every method wants; others return a dict or a
tuple. :func:`select_output` makes such a model return that one tensor, so every
attribution method, the probe, synthesis and the explorer see a plain tensor.

The name is a key (``"logits"`` of a dict or a Hugging Face ``ModelOutput``), an
attribute (of a dataclass or any object), or an index (``"0"`` of a tuple).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import ConvlensError, InputShapeError, ModelError, first_line

__all__ = ["OUTPUT_ATTR", "describe_output", "pick_output", "select_output", "trial_forward"]

OUTPUT_ATTR = "_convlens_output"
"""Attribute set on a model whose output is selected: the name that was chosen."""


def _fields(output: Any) -> list[str]:
    """The names a user could pick from ``output``."""
    if isinstance(output, Mapping):
        return [str(k) for k in output]
    if isinstance(output, (tuple, list)):
        return [str(i) for i in range(len(output))]
    fields = getattr(output, "__dataclass_fields__", None)
    if fields:
        return list(fields)
    return [k for k in vars(output) if not k.startswith("_")] if hasattr(output, "__dict__") else []


def describe_output(output: Any) -> str:
    """``"ImageClassifierOutput with logits, hidden_states"`` for error messages."""
    if torch.is_tensor(output):
        return f"a tensor of shape {tuple(output.shape)}"
    names = _fields(output)
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"{type(output).__name__} with {shown or 'no fields'}"


def pick_output(output: Any, name: str) -> torch.Tensor:
    """The tensor called ``name`` in ``output``; a :class:`ModelError` if there is none."""
    value: Any = None
    found = False
    if isinstance(output, Mapping) and name in output:
        value, found = output[name], True
    elif isinstance(output, (tuple, list)) and name.lstrip("-").isdigit():
        index = int(name)
        if -len(output) <= index < len(output):
            value, found = output[index], True
    elif not isinstance(output, (Mapping, tuple, list)) and hasattr(output, name):
        value, found = getattr(output, name), True
    if not found:
        raise ModelError(
            f"model output has no {name!r}: it is {describe_output(output)}; pass --output "
            "with one of those names (output= in Python)"
        )
    if not torch.is_tensor(value):
        raise ModelError(
            f"model output {name!r} is {type(value).__name__}, not a tensor; pick a tensor "
            f"field of {describe_output(output)}"
        )
    return value


def select_output(model: nn.Module, name: str | None) -> nn.Module:
    """Make ``model`` return its output field ``name`` (a forward hook on the root module).

    Layer names are unchanged. Use it on a model you built for convlens: the hook
    stays until ``model._convlens_output_handle.remove()``. ``name=None`` returns
    the model as it is.

    >>> # model = select_output(hf_model, "logits"); model(x).shape  # (N, classes)
    """
    if name is None or name == "":
        return model
    if not isinstance(name, str):
        raise ModelError(f"output={name!r}: expected a field name like 'logits' or an index '0'")
    old = getattr(model, "_convlens_output_handle", None)
    if old is not None:
        old.remove()

    def pick(module: nn.Module, args: Any, output: Any) -> torch.Tensor:
        return pick_output(output, name)

    model._convlens_output_handle = model.register_forward_hook(pick)  # type: ignore[assignment]
    setattr(model, OUTPUT_ATTR, name)
    return model


def trial_forward(model: nn.Module, x: torch.Tensor, failed: Callable[[str], str]) -> Any:
    """``model(x)`` once, without gradients and in eval mode (the model's mode is restored),
    to check that a user's model takes the data. An error from the model's own ``forward``
    becomes one :class:`~convlens.errors.InputShapeError` line, ``failed(cause)``, where
    ``cause`` is ``"Type: first line"``; convlens's own errors pass as they are."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    except ConvlensError:
        raise
    except Exception as exc:  # the user's forward
        raise InputShapeError(failed(f"{type(exc).__name__}: {first_line(exc)}")) from None
    finally:
        model.train(was_training)
