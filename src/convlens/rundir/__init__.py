"""Run directories: the one contract between computing and viewing.

The readers of everything a run directory holds live here, the probe store's
included (:class:`ProbeResult`); nothing here imports the code that writes them.
"""

from .checkpoints import Checkpoint, list_checkpoints, load_weights, read_state, save_checkpoint
from .create import NewRun, create_run
from .manifest import Manifest
from .probe_result import ProbeResult, open_probe, open_probe_dir, probed_checkpoints
from .probe_store import ProbeStore
from .run import EXTERNAL, NORMALIZATION_KINDS, DataEntry, ModelEntry, Run, open_run

__all__ = [
    "EXTERNAL",
    "NORMALIZATION_KINDS",
    "Checkpoint",
    "DataEntry",
    "Manifest",
    "ModelEntry",
    "NewRun",
    "ProbeResult",
    "ProbeStore",
    "Run",
    "create_run",
    "list_checkpoints",
    "load_weights",
    "open_probe",
    "open_probe_dir",
    "open_run",
    "probed_checkpoints",
    "read_state",
    "save_checkpoint",
]
