"""Names of a package that are imported on first use (PEP 562 module ``__getattr__``).

``import convlens`` and ``import convlens.record`` stay free of torch this way: a
name's module is imported when the name is first read, then the name is kept in
the package, so later reads cost nothing.

>>> __getattr__, __dir__ = lazy_names("convlens", {"zoo": None, "Run": "rundir"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str, homes: Mapping[str, str | None]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for its lazy ``homes``.

    ``homes`` maps each public name to the submodule that defines it, or to None
    when the name is a submodule itself.
    """

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        home = homes[name]
        module = importlib.import_module(f"{package}.{home or name}")
        value = module if home is None else getattr(module, name)
        setattr(sys.modules[package], name, value)  # later reads skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(homes))

    return __getattr__, __dir__
