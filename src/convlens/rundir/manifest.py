"""``run.json``: what a run directory holds and how to rebuild its model and data."""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import write_json
from .._version import __version__
from ..errors import PathNotFoundError, RunError

FORMAT = "convlens-run/1"
MANIFEST = "run.json"


@dataclass
class Manifest:
    """The content of ``run.json``.

    - ``model``: ``{"spec": name or "module:factory", "options": {...},
      "input_shape": [C, H, W], "task": "classify" | "embed"}``
    - ``data``: ``{"spec": "digits" or an absolute path, "format": ..., "val": [start, stop]}``
      where ``val`` is the validation rows of the dataset (or absent).
    - ``classes``: class names; ``normalization``: ``{"mean": [...], "std": [...]}``.
    - ``training``: the options of the training run (learning rate, seed, ...).
    """

    model: dict[str, Any]
    data: dict[str, Any]
    classes: list[str]
    normalization: dict[str, list[float]]
    training: dict[str, Any] = field(default_factory=dict)
    convlens_version: str = __version__
    created: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    )
    format: str = FORMAT

    def write(self, run_dir: Path) -> None:
        write_json(Path(run_dir) / MANIFEST, asdict(self))

    @classmethod
    def read(cls, run_dir: Path) -> Manifest:
        run_dir = Path(run_dir)
        if not run_dir.exists():
            raise PathNotFoundError(
                f"run directory {str(run_dir)!r} does not exist; check the path, or create "
                "one with `convlens train`"
            )
        path = run_dir / MANIFEST
        if not path.exists():
            raise RunError(
                f"{str(run_dir)!r} is not a convlens run: it has no {MANIFEST}; give a "
                "directory made by `convlens train` or convlens.record"
            )
        try:
            obj = json.loads(path.read_bytes().decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(
                f"{str(path)!r} is not valid JSON ({exc}); restore it from a copy of the run, "
                "or make the run again"
            ) from None
        except OSError as exc:
            raise RunError(
                f"{str(path)!r} cannot be read ({exc.strerror or exc}): expected the run's "
                "manifest file; check the path and its permissions"
            ) from None
        problem = _problem(obj)
        if problem:
            raise RunError(
                f"{str(path)!r} is not a convlens run manifest: {problem}; it was not written "
                "by convlens or was edited by hand: restore it from a copy of the run"
            )
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in obj.items() if k in known})


def _numbers(value: Any) -> bool:
    """A list of finite numbers (JSON has NaN and Infinity as Python writes them)."""
    return isinstance(value, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
    )


def _problem(obj: Any) -> str:
    """What is wrong with a parsed ``run.json`` (empty when nothing is)."""
    if not isinstance(obj, dict):
        return f"it holds {type(obj).__name__} {str(obj)[:40]!r}, expected a JSON object"
    missing = [k for k in ("model", "data", "classes", "normalization") if k not in obj]
    if missing:
        return f"it lacks {', '.join(missing)}"
    model, data, norm = obj["model"], obj["data"], obj["normalization"]
    if not isinstance(model, dict) or not isinstance(model.get("spec"), str):
        return f"'model' is {model!r}, expected an object with a 'spec' string"
    shape = model.get("input_shape")
    if not _numbers(shape) or not shape or any(int(d) != d or d <= 0 for d in shape):
        return f"'model.input_shape' is {shape!r}, expected a list of positive integers"
    if not isinstance(model.get("options", {}), dict):
        return f"'model.options' is {model.get('options')!r}, expected an object"
    if not isinstance(model.get("output") or "", str):
        return f"'model.output' is {model.get('output')!r}, expected a field name or null"
    if not isinstance(data, dict) or not isinstance(data.get("spec"), str):
        return f"'data' is {data!r}, expected an object with a 'spec' string"
    classes = obj["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        return f"'classes' is {str(classes)[:40]!r}, expected a list of names"
    if (
        not isinstance(norm, dict)
        or not _numbers(norm.get("mean"))
        or not _numbers(norm.get("std"))
        or len(norm["mean"]) != len(norm["std"])
        or any(v <= 0 for v in norm["std"])
    ):
        return (
            f"'normalization' is {norm!r}, expected mean and std lists of equal length, of "
            "finite numbers, std > 0"
        )
    return ""
