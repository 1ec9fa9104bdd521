"""What a :class:`~convlens.record.Recorder` says about a run, and how often it writes.

Two small frozen specs, so that the Recorder takes a handful of arguments:

- :class:`RunInfo`: what the run directory records beyond the model, the input shape and
  the data: the class names, the validation rows, how to rebuild the model, the task
  and the training settings;
- :class:`Cadence`: how often histograms and weight snapshots are written.

Example::

    info = RunInfo(model_spec="nets.py:Net", model_options={"width": 64})
    rec = Recorder(model, "runs/mine", input_shape=(3, 32, 32), info=info,
                   cadence=Cadence(hist_every=100, snapshots=[1, 1000]))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .histograms import BINS

__all__ = ["Cadence", "RunInfo"]


@dataclass(frozen=True)
class RunInfo:
    """What the run directory says, beyond the model, input shape and data.

    - ``classes``: class names (default: the data's);
    - ``val``: the rows ``(start, stop)`` of the data held out for validation;
    - ``model_spec``/``model_options``: how to rebuild the model (a zoo name,
      ``module:factory`` or ``file.py:factory``, and its keyword arguments); by default
      the model's class, ``module:Class``, called with ``model_options``;
    - ``output``: the field of a model whose output is a dataclass, dict or tuple
      (``"logits"``);
    - ``task``: ``"classify"`` (default) or ``"embed"``;
    - ``training``: your training settings, shown beside the run (learning rate, ...).
    """

    classes: list[str] | None = None
    val: tuple[int, int] | None = None
    model_spec: str | None = None
    model_options: Mapping[str, Any] | None = None
    output: str | None = None
    task: str = "classify"
    training: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Cadence:
    """How often the Recorder writes.

    - ``hist_every``: a summary of each parameter and its gradient every this many
      steps, and at step 1 (None: never);
    - ``snapshots``: weight snapshots at ``"log"`` steps (1, 2, 5, 10, 20, 50, ...,
      plus the last step at ``close``), at an iterable of steps, or None (never);
    - ``bins``: histogram bins;
    - ``flush_seconds``: the longest a logged value waits before it is on disk.
    """

    hist_every: int | None = 50
    snapshots: str | Iterable[int] | None = "log"
    bins: int = BINS
    flush_seconds: float = 0.5
