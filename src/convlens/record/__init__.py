"""Recording training: the :class:`Recorder`, its log reader, and the built-in trainer.

- :class:`Recorder`: add four lines to your own training loop; it writes a run
  directory (``run.json``, ``log.sqlite``, ``checkpoints/``). :class:`RunInfo` and
  :class:`Cadence` hold what it records about the run and how often it writes.
- :func:`open_log` -> :class:`LogReader`: scalars and histograms as numpy arrays,
  readable while training writes (the file format: ``docs/log-format.md``).
- :func:`train` with :class:`TrainConfig`: what ``convlens train`` runs.
- :func:`to_tensorboard`: the log, weight heatmaps and figures as TensorBoard events.

Names load on first use (module ``__getattr__``), so that ``convlens train --help``
reads :class:`TrainConfig` without importing torch.

>>> from convlens.record import TrainConfig
>>> TrainConfig("lenet", "digits").epochs
2
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .config import TrainConfig
    from .export import to_tensorboard
    from .histograms import BINS, PERCENTILES, Summary, summarize
    from .objectives import centroid_accuracy, contrastive_loss
    from .options import Cadence, RunInfo
    from .reader import Histograms, LogReader, Scalars, open_log
    from .recorder import EXTERNAL, Recorder
    from .schedule import log_schedule
    from .trainer import TrainResult, resume_config, train, val_rows
    from .trainstate import TrainState, load_train_state, save_train_state

#: each public name -> the module of this package that defines it
_HOME = {
    "BINS": "histograms",
    "Cadence": "options",
    "EXTERNAL": "recorder",
    "PERCENTILES": "histograms",
    "Histograms": "reader",
    "LogReader": "reader",
    "Recorder": "recorder",
    "RunInfo": "options",
    "Scalars": "reader",
    "Summary": "histograms",
    "TrainConfig": "config",
    "TrainResult": "trainer",
    "TrainState": "trainstate",
    "centroid_accuracy": "objectives",
    "contrastive_loss": "objectives",
    "load_train_state": "trainstate",
    "log_schedule": "schedule",
    "open_log": "reader",
    "resume_config": "trainer",
    "save_train_state": "trainstate",
    "summarize": "histograms",
    "to_tensorboard": "export",
    "train": "trainer",
    "val_rows": "trainer",
}

__all__ = [
    "BINS",
    "EXTERNAL",
    "PERCENTILES",
    "Cadence",
    "Histograms",
    "LogReader",
    "Recorder",
    "RunInfo",
    "Scalars",
    "Summary",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "centroid_accuracy",
    "contrastive_loss",
    "load_train_state",
    "log_schedule",
    "open_log",
    "resume_config",
    "save_train_state",
    "summarize",
    "to_tensorboard",
    "train",
    "val_rows",
]


__getattr__, __dir__ = lazy_names(__name__, _HOME)
