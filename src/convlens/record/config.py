"""The options of a training run, kept apart from the trainer so that reading them
imports neither torch nor numpy (``convlens train --help`` prints the defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
