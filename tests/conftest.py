"""Shared fixtures: seeded generators, the shared MNIST data, small trained runs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from convlens.data import load_dataset
from convlens.model.factory import build_model
from convlens.rundir import DataEntry, ModelEntry, Run

# The trust file of run-directory code (convlens.rundir.trust) lives in a folder of
# this test session, never in the developer's home; CLI subprocesses inherit it.
os.environ.setdefault(
    "CONVLENS_TRUST_FILE", str(Path(tempfile.mkdtemp(prefix="convlens-trust-")) / "trusted.json")
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST_DIR = SHARED_DATA / "mnist"


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same random state."""
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"shared MNIST data not found at {MNIST_DIR}")
    return MNIST_DIR


def train_quick(
    run: Run, model: torch.nn.Module, epochs: int = 1, lr: float = 1e-3, batch: int = 64
) -> torch.nn.Module:
    """A plain Adam loop over the run's train split, saving one checkpoint per epoch.

    Independent of convlens.record, so tests of other rooms do not depend on it.
    """
    ds = run.dataset("train")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    step = 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(ds), generator=g).numpy()
        for b in ds.batches(batch, order):
            loss = torch.nn.functional.cross_entropy(model(b.inputs), b.labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        run.save_checkpoint(model, step, epoch=epoch + 1)
    return model.eval()


def make_run(path: Path, model: str, data: str, val: tuple[int, int] | None) -> Run:
    shape = (1, 28, 28)
    ds = load_dataset(data, size=shape[1:])
    norm = ds.subset(np.arange(val[0]) if val else slice(None)).normalization
    norm = type(norm).fit(ds.images[: val[0]] if val else ds.images)
    return Run.create(path, ModelEntry(model, shape), DataEntry(data, ds.classes, norm, val=val))


@pytest.fixture(scope="session")
def mnist_lenet_run(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Run:
    """lenet trained 1 epoch on the first 8,000 MNIST test images (val: last 2,000)."""
    torch.manual_seed(0)
    run = make_run(
        tmp_path_factory.mktemp("runs") / "lenet", "lenet", str(mnist_dir), (8000, 10000)
    )
    train_quick(run, build_model("lenet"), epochs=1)
    return run


@pytest.fixture(scope="session")
def digits_lenet_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """lenet trained 2 epochs on the embedded digits (val: last 297)."""
    torch.manual_seed(0)
    run = make_run(
        tmp_path_factory.mktemp("runs") / "digits-lenet", "lenet", "digits", (1500, 1797)
    )
    train_quick(run, build_model("lenet"), epochs=2)
    return run


@pytest.fixture(scope="session")
def bad_input_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run every bad-input case copies: lenet, 1 epoch on digits, 100 images probed."""
    import convlens.probe

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("bad-input")
    run = make_run(root / "run", "lenet", "digits", (1500, 1797))
    train_quick(run, build_model("lenet"), epochs=1)
    convlens.probe.run(run, limit=100)
    return run.path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The bad-input suite's tally (tests/_bad_input.py), when it ran."""
    import sys

    tally = sys.modules.get("_bad_input")
    if tally is not None and tally.TALLY["cases"]:
        terminalreporter.write_line(tally.summary_line())
