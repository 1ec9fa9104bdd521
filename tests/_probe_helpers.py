"""Shared pieces of the probe tests: brute-force references and small nets."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from convlens.model import capture


def forward_all(model: nn.Module, inputs: torch.Tensor, layers: list[str], batch: int):
    """Every layer's float32 output over ``inputs``, in batches of ``batch`` (like the probe)."""
    got: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    outs = []
    with torch.inference_mode(), capture(model, layers) as seen:
        for s in range(0, len(inputs), batch):
            outs.append(model(inputs[s : s + batch]).float())
            for n in layers:
                got[n].append(seen[n].float())
    return {n: torch.cat(v).numpy() for n, v in got.items()}, torch.cat(outs).numpy()


def brute_topk(act: np.ndarray, index: np.ndarray, k: int, all_positions: bool = False):
    """Top-k per channel by a plain loop: act (N, C, H, W) or (N, D)."""
    if act.ndim == 2:
        act = act[:, :, None, None]
    n, c, h, w = act.shape
    values = np.zeros((c, k), np.float32)
    images = np.zeros((c, k), np.int64)
    positions = np.zeros((c, k, 2), np.int64)
    for ch in range(c):
        cands = []
        for r in range(n):
            m = act[r, ch]
            if all_positions:
                for i in range(h):
                    for j in range(w):
                        cands.append((-float(m[i, j]), int(index[r]), i, j))
            else:
                flat = int(np.argmax(m))  # first maximum, row-major
                i, j = divmod(flat, w)
                cands.append((-float(m[i, j]), int(index[r]), i, j))
        cands.sort()
        for t, (v, idx, i, j) in enumerate(cands[:k]):
            values[ch, t], images[ch, t], positions[ch, t] = -v, idx, (i, j)
    return values, images, positions


class PaddedNet(nn.Module):
    """A random net with padding, stride, dilation and an in-place ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2, dilation=2, padding=2)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.relu(self.conv1(x)))
        return self.fc(self.pool(x).flatten(1))
