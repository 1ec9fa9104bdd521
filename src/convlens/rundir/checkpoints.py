"""Weight snapshots as safetensors files under ``checkpoints/``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from .._atomic import write_with
from ..errors import RunError
from .weights import fit_state, load_safetensors

CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"^step-(\d+)\.safetensors$")


@dataclass(frozen=True)
class Checkpoint:
    """One snapshot: ``name`` like ``"step-00000120"``, its training ``step`` and path."""

    name: str
    step: int
    path: Path


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(run_dir: Path) -> list[Checkpoint]:
    """Complete snapshots of a run, by step (temporary files are ignored)."""
    folder = Path(run_dir) / CHECKPOINTS
    found = []
    if folder.is_dir():
        for p in folder.iterdir():
            m = _NAME.match(p.name)
            if m:
                found.append(Checkpoint(p.name[: -len(".safetensors")], int(m.group(1)), p))
    return sorted(found, key=lambda c: c.step)


def remove_orphans(run_dir: Path) -> list[Path]:
    """Delete the temporary files a killed writer left in the run (``.NAME.*.tmp`` of
    :func:`convlens._atomic.atomic_path`) in the run folder, ``checkpoints/`` and
    ``state/``; returns what was removed. Only a resuming writer calls this."""
    removed = []
    for folder in (Path(run_dir), Path(run_dir) / CHECKPOINTS, Path(run_dir) / "state"):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp") and p.is_file():
                    p.unlink(missing_ok=True)
                    removed.append(p)
    return removed


def save_state(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write ``tensors`` to a safetensors file atomically."""
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    # safetensors writes to any path (it takes an OS path); only its readers need UTF-8
    write_with(path, lambda tmp: save_file(flat, os.fspath(tmp), metadata=metadata))


def save_checkpoint(run_dir: Path, model: nn.Module, step: int, **metadata: object) -> Checkpoint:
    """Snapshot ``model.state_dict()`` at ``step`` (atomic: never half-written)."""
    path = Path(run_dir) / CHECKPOINTS / (checkpoint_name(step) + ".safetensors")
    meta = {"step": str(step), **{k: str(v) for k, v in metadata.items()}}
    save_state(path, model.state_dict(), meta)
    return Checkpoint(checkpoint_name(step), step, path)


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, with a clear error when it is damaged."""
    if not Path(path).exists():
        raise RunError(f"checkpoint file {str(path)!r} does not exist; list them with `runs show`")
    return load_safetensors(
        Path(path),
        f"checkpoint file {str(path)!r} is corrupt or truncated",
        "move it out of checkpoints/ to fall back to an earlier one",
    )


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load a snapshot into ``model``; names and shapes must match exactly."""
    fit_state(
        model,
        read_state(path),
        f"checkpoint {str(path)!r}",
        "use the model and options the checkpoint was trained with",
    )
    return model
