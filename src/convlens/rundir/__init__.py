"""Run directories: the one contract between computing and viewing."""

from .checkpoints import Checkpoint, list_checkpoints, load_weights, read_state, save_checkpoint
from .create import NewRun, create_run
from .manifest import Manifest
from .run import EXTERNAL, NORMALIZATION_KINDS, DataEntry, ModelEntry, Run, open_run

__all__ = [
    "EXTERNAL",
    "NORMALIZATION_KINDS",
    "Checkpoint",
    "DataEntry",
    "Manifest",
    "ModelEntry",
    "NewRun",
    "Run",
    "create_run",
    "list_checkpoints",
    "load_weights",
    "open_run",
    "read_state",
    "save_checkpoint",
]
