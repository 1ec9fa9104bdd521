"""Shared helpers of the dashboard tests: a tiny model recorded on digits, float64 oracles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from convlens.record import Cadence, Recorder, RunInfo


class TinyNet(nn.Module):
    """conv (1 -> 4, 3x3) -> ReLU -> fc (144 -> 10) on 8x8 digits: trains in milliseconds."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv1(x)).flatten(1))


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_digits()
    x = torch.tensor(d.images[:, None] / 16.0, dtype=torch.float32)
    return x, torch.tensor(d.target)


def record_run(
    path: Path,
    lr: float,
    steps: int = 40,
    hist_every: int = 5,
    snapshots: list[int] | None = None,
    seed: int = 0,
) -> Recorder:
    """Train TinyNet for ``steps`` SGD steps with a Recorder into ``path`` and close it.

    Logs ``train/loss`` and ``train/acc`` every step; histograms at step 1 and every
    ``hist_every``; checkpoints at ``snapshots`` (default: the histogram steps).
    """
    torch.manual_seed(seed)
    model = TinyNet()
    x, y = digits()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    if snapshots is None:
        snapshots = [1, *range(hist_every, steps + 1, hist_every)]
    rec = Recorder(
        model,
        path,
        input_shape=(1, 8, 8),
        normalization="none",
        info=RunInfo(classes=[str(i) for i in range(10)], training={"lr": lr, "optimizer": "sgd"}),
        cadence=Cadence(hist_every=hist_every, snapshots=snapshots),
    )
    for step in range(1, steps + 1):
        rows = torch.randint(0, len(x), (32,), generator=gen)
        scores = model(x[rows])
        loss = F.cross_entropy(scores, y[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        acc = (scores.argmax(1) == y[rows]).float().mean()
        rec.step(step, {"train/loss": loss, "train/acc": acc})
    rec.close()
    return rec


def ema_reference(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA, one value at a time in float64 (the test oracle)."""
    acc, n, out = 0.0, 0, []
    for v in values.tolist():
        if not np.isfinite(v):
            out.append(v)
            continue
        acc = acc * weight + (1 - weight) * v
        n += 1
        out.append(acc / (1 - weight**n))
    return np.array(out)


def minmax_reference(steps: np.ndarray, values: np.ndarray, buckets: int) -> set[int]:
    """Brute force over integer steps: for each of ``buckets`` equal step ranges, the
    indices of its first finite minimum and its last finite maximum."""
    lo, span = int(steps[0]), int(steps[-1]) - int(steps[0]) + 1
    keep: set[int] = set()
    for b in range(buckets):
        # step s is in bucket b when b * span <= (s - lo) * buckets < (b + 1) * span
        inside = [
            i
            for i in range(len(steps))
            if b * span <= (int(steps[i]) - lo) * buckets < (b + 1) * span
            and np.isfinite(values[i])
        ]
        if not inside:
            continue
        vals = [values[i] for i in inside]
        keep.add(inside[int(np.argmin(vals))])
        keep.add(inside[len(vals) - 1 - int(np.argmax(vals[::-1]))])
    return keep
