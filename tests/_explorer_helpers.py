"""A small probed run shared by the explorer's API and browser tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import convlens
import convlens.probe
from conftest import make_run, train_quick
from convlens.explorer.binary import unpack
from convlens.model.factory import build_model

PROBE_LIMIT = 600


def probed_digits_run(root: Path) -> convlens.Run:
    """lenet trained 1 epoch on the embedded digits, probed on its first 600 images."""
    torch.manual_seed(0)
    run = make_run(root / "digits-lenet", "lenet", "digits", (1500, 1797))
    train_quick(run, build_model("lenet"), epochs=1)
    convlens.probe.run(run, limit=PROBE_LIMIT)
    return run


def decode_points(message: bytes) -> tuple[dict, np.ndarray]:
    """A points message -> (header, float64 values (D, N*P) decoded as the browser does)."""
    header, arrays = unpack(message)
    raw = arrays["values"]
    lo = np.asarray(header["lo"], np.float64)[:, None]
    hi = np.asarray(header["hi"], np.float64)[:, None]
    if header["dtype"] == "u8":
        return header, lo + raw.astype(np.float64) / 255 * (hi - lo)
    return header, raw.astype(np.float64)


def inside_polygon(x: np.ndarray, y: np.ndarray, poly: list[list[float]]) -> np.ndarray:
    """Even-odd point-in-polygon for arrays of points (float64 reference)."""
    inside = np.zeros(x.shape, bool)
    n = len(poly)
    for k in range(n):
        xi, yi = poly[k]
        xj, yj = poly[k - 1]
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = (xj - xi) * (y - yi) / (yj - yi) + xi
        inside ^= crosses & (x < at)
    return inside


_TIMELINE_RUNS: dict[str, tuple[convlens.Run, convlens.Run]] = {}


def probed_timeline_runs(root: Path, limit: int = 300) -> tuple[convlens.Run, convlens.Run]:
    """Two digits lenet runs for the Explorer II tests, built once per test session.

    Run A: 2 epochs, one checkpoint per epoch, both probed (the timeline).
    Run B: another seed, 1 epoch, probed on the same images (the A/B view).
    ``root`` must outlive the session (a ``tmp_path_factory`` folder).
    """
    if "runs" not in _TIMELINE_RUNS:
        _TIMELINE_RUNS["runs"] = _build_timeline_runs(root, limit)
    return _TIMELINE_RUNS["runs"]


def _build_timeline_runs(root: Path, limit: int) -> tuple[convlens.Run, convlens.Run]:
    torch.manual_seed(0)
    a = make_run(root / "lenet-a", "lenet", "digits", (1500, 1797))
    train_quick(a, build_model("lenet"), epochs=2)
    for checkpoint in a.checkpoints:
        convlens.probe.run(a, checkpoint=checkpoint.name, limit=limit)
    torch.manual_seed(1)
    b = make_run(root / "lenet-b", "lenet", "digits", (1500, 1797))
    train_quick(b, build_model("lenet"), epochs=1, lr=2e-3)
    convlens.probe.run(b, limit=limit)
    return a, b


# ----------------------------------------------------------------- a planted structure
PLANTED = (7, 31)  # the class cluster sits in these two dimensions of layer "feat"
PLANTED_CLASS = 2


def planted_model() -> torch.nn.Module:
    """8x8 images -> "feat" (40 dims: pixel d of the flattened image, as it is) -> 5 scores.

    The model factory of the planted run (``_explorer_helpers:planted_model``).
    """
    model = torch.nn.Sequential()
    model.add_module("flatten", torch.nn.Flatten())
    model.add_module("feat", torch.nn.Linear(64, 40))
    model.add_module("head", torch.nn.Linear(40, 5))
    with torch.no_grad():
        model.feat.weight.zero_()
        model.feat.weight[:, :40] = torch.eye(40)
        model.feat.bias.zero_()
    return model


def planted_run(root: Path, n: int = 1500) -> convlens.Run:
    """A run whose layer "feat" holds every image's first 40 pixels: uniform noise, except
    that class 2's images have pixels 7 and 31 in a tight cluster (200 +- 2). Probed.

    Every other pair of dimensions is noise for every class, so the ranking must put
    (7, 31) first.
    """
    from convlens.data.normalize import Normalization
    from convlens.rundir import DataEntry, ModelEntry

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 5, n)
    pixels = rng.integers(0, 256, (n, 1, 8, 8)).astype(np.uint8)
    flat = pixels.reshape(n, 64)
    cluster = labels == PLANTED_CLASS
    for d in PLANTED:
        flat[cluster, d] = rng.integers(198, 203, cluster.sum())
    data = root / "planted.npz"
    root.mkdir(parents=True, exist_ok=True)
    np.savez(data, x=pixels, y=labels, classes=np.array(["a", "b", "c", "d", "e"]))
    run = convlens.Run.create(
        root / "planted",
        ModelEntry("_explorer_helpers:planted_model", (1, 8, 8)),
        DataEntry(str(data), ["a", "b", "c", "d", "e"], Normalization.fit(pixels)),
    )
    run.save_checkpoint(planted_model(), 1)
    convlens.probe.run(run, projections=())
    return run
