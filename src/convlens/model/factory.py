"""Building a model from a spec: a zoo name, ``module:factory`` or ``file.py:factory``.

:func:`build_model` runs the code a spec names. It is for specs the user gives
(``--model``, Python calls). A spec read from a run directory goes through
:meth:`convlens.Run.build_model`, which checks the user's trust first.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from .. import zoo
from ..errors import ModelError, first_line
from .spec import ModelSource, ModelSpec, check_options, file_sha256, locate, parse_spec

__all__ = ["build_from", "build_model", "default_input_shape", "load_factory"]


def build_model(spec: str, **options: Any) -> nn.Module:
    """A fresh model from ``spec``: a zoo name (``"lenet"``), ``"pkg.module:factory"``
    or ``"path/to/file.py:factory"``, called with ``**options``.

    >>> build_model("lenet").__class__.__name__
    'LeNet'
    """
    parsed = parse_spec(spec)
    options = check_options(spec, options)
    return build_from(parsed, options, locate(parsed))


@contextmanager
def _on_path(folder: str | None) -> Iterator[None]:
    """``folder`` first on ``sys.path`` while user code imports and runs."""
    if not folder or folder in sys.path:
        yield
        return
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def _first_line(exc: BaseException) -> str:
    line = first_line(exc)
    return line if line == type(exc).__name__ else f"{type(exc).__name__}: {line}"


def _load_file(path: str, spec_text: str) -> ModuleType:
    name = "convlens_user_" + file_sha256(path)[:16]
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ModelError(f"model file {path!r} of {spec_text!r} cannot be loaded as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _code_folder(spec: ModelSpec, source: ModelSource | None) -> str | None:
    """The folder user code imports its siblings from: a file's own folder, or a
    module's recorded root."""
    if source is None:
        return None
    return str(Path(source.file).parent) if spec.kind == "file" else source.root


def load_factory(spec: ModelSpec, source: ModelSource | None) -> Any:
    """Import the module (or file) of ``spec`` and return its factory callable."""
    folder = _code_folder(spec, source)
    try:
        with _on_path(folder):
            if spec.kind == "file":
                module = _load_file(source.file if source else spec.target, spec.text)
            else:
                module = importlib.import_module(spec.target)
    except (Exception, SystemExit) as exc:  # any import-time failure of user code
        where = "file" if spec.kind == "file" else "module"
        raise ModelError(
            f"model factory {spec.text!r}: {where} {spec.target!r} does not import "
            f"({_first_line(exc)}); fix the error in that code or its dependencies"
        ) from None
    factory = getattr(module, spec.factory, None)
    if not callable(factory):
        raise ModelError(
            f"model factory {spec.text!r}: {spec.target!r} has no callable {spec.factory!r}; "
            "name a function or class that returns an nn.Module"
        )
    return factory


def _check_signature(spec_text: str, factory: Any, options: dict[str, Any]) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        if options:
            raise ModelError(
                f"model factory {spec_text!r} has no inspectable signature, so options "
                f"{sorted(options)} cannot be checked; make it a Python function or class"
            ) from None
        return
    try:
        signature.bind(**options)
    except TypeError as exc:
        params = ", ".join(signature.parameters) or "none"
        raise ModelError(
            f"model factory {spec_text!r} does not take options {sorted(options)} ({exc}); "
            f"its parameters are: {params}; drop or rename the options"
        ) from None


def build_from(
    spec: ModelSpec, options: dict[str, Any], source: ModelSource | None = None
) -> nn.Module:
    """Run the factory of ``spec`` with ``options`` (already checked to be JSON values).

    The options are bound to the factory's signature before it is called; an
    exception in the factory, or ``sys.exit`` from it, is one :class:`ModelError`.
    """
    if spec.kind == "zoo":
        entry = zoo.entry(spec.target)
        factory: Any = entry.factory
    else:
        factory = load_factory(spec, source)
    _check_signature(spec.text, factory, options)
    folder = _code_folder(spec, source)
    try:
        with _on_path(folder):
            model = factory(**options)
    except (Exception, SystemExit) as exc:  # user code: report it in one line
        raise ModelError(
            f"model factory {spec.text!r} raised {_first_line(exc)}; "
            "check the factory and its options"
        ) from None
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"model factory {spec.text!r} returned {type(model).__name__}, expected an nn.Module"
        )
    return model


def default_input_shape(spec: str) -> tuple[int, ...] | None:
    """The zoo's input shape (C, H, W) for a zoo name; None for a factory."""
    if ":" in spec:
        return None
    return zoo.entry(spec).input_shape
