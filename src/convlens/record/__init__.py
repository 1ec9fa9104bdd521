"""Recording training: the :class:`Recorder`, its log reader, and the built-in trainer.

- :class:`Recorder`: add four lines to your own training loop; it writes a run
  directory (``run.json``, ``log.sqlite``, ``checkpoints/``).
- :func:`open_log` -> :class:`LogReader`: scalars and histograms as numpy arrays,
  readable while training writes.
- :func:`train` with :class:`TrainConfig`: what ``convlens train`` runs.
"""

from .histograms import BINS, PERCENTILES, Summary, summarize
from .objectives import centroid_accuracy, contrastive_loss
from .reader import Histograms, LogReader, Scalars, open_log
from .recorder import EXTERNAL, Recorder
from .schedule import log_schedule
from .trainer import TrainConfig, TrainResult, resume_config, train, val_rows
from .trainstate import TrainState, load_train_state, save_train_state

__all__ = [
    "BINS",
    "EXTERNAL",
    "PERCENTILES",
    "Histograms",
    "LogReader",
    "Recorder",
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
    "train",
    "val_rows",
]
