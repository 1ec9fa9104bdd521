"""What ``--resume`` needs at the end of each epoch: weights and optimizer state.

``RUN/state/epoch-XXXX.safetensors`` holds the model's tensors (``model.*``) and
the optimizer's tensors (``optim.<param index>.<name>``). ``RUN/state/train.json``
holds the epoch, the step and the optimizer's other values, and names the
safetensors file; it is written last, atomically, so it always points at a
complete file. Older state files are removed only after that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._atomic import write_json
from ..errors import RunError
from ..rundir.checkpoints import read_state, save_state

STATE_DIR = "state"
STATE_JSON = "train.json"


@dataclass(frozen=True)
class TrainState:
    """The last complete epoch: ``epoch`` epochs done, ``step`` optimizer steps done."""

    epoch: int
    step: int


def save_train_state(
    run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainState
) -> None:
    """Save weights and optimizer state after a complete epoch (atomic)."""
    folder = Path(run_dir) / STATE_DIR
    name = f"epoch-{state.epoch:04d}.safetensors"
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    other: dict[str, dict[str, Any]] = {}
    for idx, values in opt["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                other.setdefault(str(idx), {})[key] = value
    save_state(folder / name, tensors, {"epoch": str(state.epoch), "step": str(state.step)})
    write_json(
        folder / STATE_JSON,
        {
            "epoch": state.epoch,
            "step": state.step,
            "file": name,
            "param_groups": opt["param_groups"],
            "optimizer_values": other,
        },
    )
    for old in folder.glob("epoch-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)


def load_train_state(
    run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer
) -> TrainState | None:
    """Restore the last complete epoch into ``model`` and ``optimizer``; None if none."""
    folder = Path(run_dir) / STATE_DIR
    path = folder / STATE_JSON
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
        tensors = read_state(folder / info["file"])
    except (json.JSONDecodeError, KeyError) as exc:
        raise RunError(
            f"resume state {str(path)!r} is damaged ({exc}); delete {STATE_DIR}/ to restart "
            "the run from step 0 with --resume, or use --overwrite"
        ) from None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, values in info.get("optimizer_values", {}).items():
        state.setdefault(int(idx), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    return TrainState(int(info["epoch"]), int(info["step"]))
