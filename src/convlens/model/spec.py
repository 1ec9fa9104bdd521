"""Model specs: which code builds a model, found without running it.

A spec is one of:

- a zoo name: ``"lenet"``;
- ``"package.module:factory"``: a module on ``sys.path``, or one found in the
  working directory when the spec was recorded (its folder is kept as ``root``,
  so later commands need no ``PYTHONPATH``);
- ``"path/to/file.py:factory"``: a Python file, recorded by absolute path and
  SHA-256 so that a moved or changed file is noticed.

:func:`locate` finds the source file of a spec by searching paths only: no
module, not even a parent package, is imported. That is what lets a run
directory be checked against the user's trust file before any of its code runs
(see :mod:`convlens.rundir.trust`).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError

__all__ = [
    "ModelSource",
    "ModelSpec",
    "check_options",
    "file_sha256",
    "locate",
    "module_root",
    "parse_spec",
]


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: ``kind`` is ``"zoo"``, ``"module"`` or ``"file"``.

    ``target`` is the zoo name, the dotted module name or the file's path;
    ``factory`` the attribute called (empty for the zoo).

    >>> parse_spec("models.net:build")
    ModelSpec(kind='module', target='models.net', factory='build')
    """

    kind: str
    target: str
    factory: str = ""

    @property
    def text(self) -> str:
        return self.target if self.kind == "zoo" else f"{self.target}:{self.factory}"

    def canonical(self) -> str:
        """The spec as recorded: a file by its absolute path, anything else as written."""
        if self.kind != "file":
            return self.text
        return f"{Path(self.target).expanduser().resolve()}:{self.factory}"


@dataclass(frozen=True)
class ModelSource:
    """Where a spec's code lives on this machine.

    ``file`` is the absolute path of the module or file that defines the factory,
    ``sha256`` its content hash, and ``root`` the folder to put on ``sys.path``
    for a module that is not importable from the default path (None when it is).
    """

    file: str
    sha256: str
    root: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "root": self.root}

    @classmethod
    def from_json(cls, obj: Any) -> ModelSource | None:
        if not isinstance(obj, dict) or not isinstance(obj.get("file"), str):
            return None
        root = obj.get("root")
        root = root if isinstance(root, str) else None
        return cls(str(obj["file"]), str(obj.get("sha256", "")), root)


def parse_spec(text: Any) -> ModelSpec:
    """Parse a spec string; a :class:`ModelError` for anything else.

    >>> parse_spec("lenet").kind, parse_spec("nets/res.py:make").kind
    ('zoo', 'file')
    """
    if not isinstance(text, str) or not text.strip():
        raise ModelError(
            f"model spec {text!r} is not a model name: expected a zoo name (lenet), "
            "module:factory or path/to/file.py:factory"
        )
    if ":" not in text:
        return ModelSpec("zoo", text)
    target, _, factory = text.rpartition(":")
    if not target or not factory or not factory.replace("_", "a").replace(".", "a").isalnum():
        raise ModelError(
            f"model spec {text!r} is not of the form module:factory or file.py:factory; "
            "write it like mypackage.models:make_net or nets/resnet.py:build"
        )
    if target.endswith(".py") or os.sep in target or "/" in target:
        return ModelSpec("file", target, factory)
    if not all(part.isidentifier() for part in target.split(".")):
        raise ModelError(
            f"model spec {text!r}: {target!r} is neither a dotted module name nor a .py "
            "file; write it like mypackage.models:make_net or nets/resnet.py:build"
        )
    return ModelSpec("module", target, factory)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


BUILT_IN = "<built-in>"
"""What :func:`_find_module_file` gives for a module compiled or frozen into Python."""


def _find_spec(name: str, path: list[str] | None) -> Any:
    """The module spec of ``name`` from the import system's finders, importing nothing.

    ``path`` None asks every finder on ``sys.meta_path`` (the default path, editable
    installs included); a list asks the path finder to look only there.
    """
    if path is not None:
        return importlib.machinery.PathFinder.find_spec(name, path)
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            found = find(name, None)
        except (ImportError, ValueError, AttributeError):
            found = None
        if found is not None:
            return found
    return None


def _find_module_file(name: str, search: list[str] | None) -> str | None:
    """The source file of dotted module ``name`` (see :func:`_find_spec`), importing nothing:
    each parent package is found, never executed."""
    spec = None
    path = search
    parts = name.split(".")
    for i in range(len(parts)):
        prefix = ".".join(parts[: i + 1])
        spec = _find_spec(prefix, path) if i == 0 else _find_sub(prefix, path or [])
        if spec is None:
            return None
        path = list(spec.submodule_search_locations or [])
        if i < len(parts) - 1 and not path:
            return None
    if spec is None:
        return None
    if not spec.origin or spec.origin in ("built-in", "frozen"):
        return BUILT_IN
    return spec.origin


def _find_sub(name: str, locations: list[str]) -> Any:
    """A submodule's spec inside its parent's locations (also for editable installs,
    whose finders map a package to a source folder)."""
    found = importlib.machinery.PathFinder.find_spec(name, locations)
    if found is not None:
        return found
    standard = (
        importlib.machinery.PathFinder,
        importlib.machinery.BuiltinImporter,
        importlib.machinery.FrozenImporter,
    )
    for finder in sys.meta_path:
        if finder in standard or isinstance(finder, standard):
            continue
        find = getattr(finder, "find_spec", None)
        try:
            found = find(name, None) if find is not None else None
        except (ImportError, ValueError, AttributeError):
            found = None
        if found is not None:
            return found
    return None


def locate(spec: ModelSpec, root: str | None = None) -> ModelSource | None:
    """Where ``spec``'s code is, found by searching paths only; None for zoo models and
    for modules built into Python (``sys``, ...).

    A module spec is looked for on ``sys.path``, then in ``root`` (a recorded folder),
    then in the working directory. A :class:`ModelError` says when nothing is found.
    """
    if spec.kind == "zoo":
        return None
    if spec.kind == "file":
        path = Path(spec.target).expanduser()
        if not path.is_file():
            raise ModelError(
                f"model file {spec.target!r} does not exist: expected a Python file "
                "defining the factory; check the path"
            )
        path = path.resolve()
        return ModelSource(str(path), file_sha256(path))
    found = _find_module_file(spec.target, None)
    used_root = None
    if found is None:
        for extra in (root, os.getcwd()):
            if extra and Path(extra).is_dir():
                found = _find_module_file(spec.target, [extra])
                if found is not None:
                    used_root = str(Path(extra).resolve())
                    break
    if found is None:
        where = f", in {root!r}" if root else ""
        raise ModelError(
            f"model spec {spec.text!r}: module {spec.target!r} is found neither on the Python "
            f"path{where} nor in the working directory; give path/to/file.py:{spec.factory}, "
            "or install the module"
        )
    if found == BUILT_IN:
        return None
    try:
        digest = file_sha256(found)
    except OSError:
        digest = ""
    return ModelSource(str(Path(found).resolve()), digest, used_root)


def module_root(spec: ModelSpec, file: str) -> str | None:
    """The folder that holds the top package of module ``spec`` defined in ``file``:
    the entry ``sys.path`` needs for the import to work from anywhere."""
    if spec.kind != "module":
        return None
    path = Path(file)
    depth = len(spec.target.split("."))
    if path.name == "__init__.py":
        depth += 1
    parents = path.parents
    return str(parents[depth - 1]) if depth - 1 < len(parents) else None


def _json_value(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_json_value(v) for v in value)
    return False


def check_options(spec_text: str, options: Any) -> dict[str, Any]:
    """Factory options as a dict of JSON scalars or lists; a :class:`ModelError` otherwise.

    Checked before any code is imported.
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ModelError(
            f"model {spec_text!r}: options {options!r} are not a mapping; expected "
            '{"name": value, ...} with JSON scalars or lists'
        )
    for key, value in options.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ModelError(
                f"model {spec_text!r}: option name {key!r} is not a parameter name; "
                "expected identifiers like num_classes"
            )
        if not _json_value(value):
            raise ModelError(
                f"model {spec_text!r}: option {key}={value!r} is not a JSON scalar or list; "
                "give numbers, strings, booleans, null or lists of them"
            )
    return dict(options)
