"""The options of a training run, kept apart from the trainer so that reading them
imports neither torch nor numpy (``convlens train --help`` prints the defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import TrainingError


@dataclass
class TrainConfig:
    """Options of a training run; stored as ``training`` in ``run.json``."""

    model: str
    data: str
    epochs: int = 2
    lr: float = 2e-3
    batch_size: int = 64
    seed: int = 0
    val_split: float | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "adam"
    schedule: str = "cosine"
    hist_every: int = 50
    margin: float = 1.0
    device: str = "cpu"  # "cpu", "cuda", "cuda:N" or "auto" (CUDA when available)

    def check(self) -> None:
        """One :class:`~convlens.errors.TrainingError` line for any option out of range."""
        counts = {"epochs": (self.epochs, 1), "batch_size": (self.batch_size, 1),
                  "hist_every": (self.hist_every, 0), "seed": (self.seed, 0)}  # fmt: skip
        for name, (value, low) in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                flag = "--" + name.replace("_", "-")
                raise TrainingError(
                    f"{flag} {value!r} is out of range: expected a whole number >= {low}"
                    + ("; 0 turns histograms off" if name == "hist_every" else "")
                )
        for name, value in (("lr", self.lr), ("margin", self.margin)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise TrainingError(
                    f"--{name} {value!r} is out of range: expected a finite number > 0, "
                    "such as 0.002"
                )
        if self.optimizer not in ("adam", "sgd"):
            raise TrainingError(f"optimizer {self.optimizer!r} is unknown: expected adam or sgd")
        if self.schedule not in ("cosine", "constant"):
            raise TrainingError(
                f"schedule {self.schedule!r} is unknown: expected 'cosine' or 'constant'"
            )
