"""``run.json``: what a run directory holds and how to rebuild its model and data."""

from __future__ import annotations

import datetime as _dt
import json
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
            obj = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(
                f"{str(path)!r} is not valid JSON ({exc}); restore or recreate it"
            ) from None
        missing = [k for k in ("model", "data", "classes", "normalization") if k not in obj]
        if missing:
            raise RunError(
                f"{str(path)!r} lacks {', '.join(missing)}; it was not written by convlens "
                "or was edited by hand"
            )
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in obj.items() if k in known})
