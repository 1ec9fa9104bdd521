"""Shared helpers of the record tests: a small dataset and a model that turns NaN."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

from convlens.data import load_dataset

NAN_MODEL = '''
import torch
from torch import nn


class Exploding(nn.Module):
    """A linear classifier whose output turns NaN from training call {after} on."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)
        self.calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
        out = self.fc(x.flatten(1))
        return out * float("nan") if self.calls >= {after} else out


def make():
    return Exploding()
'''


@functools.cache
def _digits():
    return load_dataset("digits", size=(28, 28))


def small_npz(folder: Path, n: int = 320) -> Path:
    """The first ``n`` digits at 28x28 as an npz file (val 20%: n/5 rows)."""
    ds = _digits()
    path = folder / "small.npz"
    np.savez(path, x=ds.images[:n, 0], y=ds.labels[:n], classes=np.array(ds.classes))
    return path


def write_nan_model(folder: Path, after: int, name: str = "nanmodel") -> str:
    """Write a module ``name`` in ``folder`` (put it on sys.path) and return its spec."""
    (folder / f"{name}.py").write_text(NAN_MODEL.replace("{after}", str(after)))
    return f"{name}:make"


class TinyNet(nn.Module):
    """A small conv net for 1x28x28 inputs, fast enough for many test steps."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5)
        self.pool = nn.MaxPool2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


def tiny() -> TinyNet:
    return TinyNet()


CRASHY_MODEL = """
import torch
from torch import nn

CRASH_AT = None  # training forward call that raises KeyboardInterrupt (a stand-in for a kill)


class Crashy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5)
        self.fc = nn.Linear(4 * 6 * 6, 10)
        self.calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if CRASH_AT is not None and self.calls == CRASH_AT:
                raise KeyboardInterrupt
        return self.fc(torch.max_pool2d(torch.relu(self.conv(x)), 4).flatten(1))


def make():
    return Crashy()
"""


def write_crashy_model(folder: Path, name: str = "crashy") -> str:
    (folder / f"{name}.py").write_text(CRASHY_MODEL)
    return f"{name}:make"
