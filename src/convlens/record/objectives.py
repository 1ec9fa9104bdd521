"""What the built-in trainer optimises: class scores, or a 2-D embedding of pairs.

- :class:`Classify`: cross-entropy; accuracy is the fraction of correct argmax.
- :class:`Contrastive`: the siamese objective of Hadsell, Chopra & LeCun (2006), as
  in Caffe's ``mnist_siamese``: both images of a pair go through the same network
  and ``L = 1/(2N) sum[y d^2 + (1 - y) max(margin - d, 0)^2]`` with ``d`` the
  Euclidean distance of the two embeddings, ``y = 1`` for a pair of one class,
  margin 1. Half of the pairs share a class (Caffe draws partners at random, so
  90% of its pairs differ; balancing them trains the same embedding faster).
  Its accuracy is **nearest class-centroid accuracy**: the centroid of each class
  is the mean embedding of up to 2,000 training images, and an image counts as
  correct when its nearest centroid is its own class.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.dataset import Batch, ImageDataset
from ..model.device import device_of

EVAL_BATCH = 500
CENTROID_IMAGES = 2000


class Objective(Protocol):
    """A training objective: a loss per batch and an evaluation on held-out data."""

    def loss(
        self, model: nn.Module, batch: Batch, gen: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]: ...

    def evaluate(self, model: nn.Module, val: ImageDataset) -> dict[str, float]: ...


def _embed(model: nn.Module, ds: ImageDataset, rows: np.ndarray | None = None) -> torch.Tensor:
    """The model's outputs for ``ds`` (rows), computed on the model's device, back on the CPU."""
    device = device_of(model)
    out = [model(b.inputs.to(device)).cpu() for b in ds.batches(EVAL_BATCH, rows)]
    return torch.cat(out) if out else torch.zeros(0)


class Classify:
    """Cross-entropy on class scores (N, K)."""

    def loss(
        self, model: nn.Module, batch: Batch, gen: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        device = device_of(model)
        labels = batch.labels.to(device)
        scores = model(batch.inputs.to(device))
        loss = F.cross_entropy(scores, labels)
        acc = (scores.detach().argmax(1) == labels).float().mean().item()
        return loss, {"train/acc": acc}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, val: ImageDataset) -> dict[str, float]:
        scores = _embed(model, val)
        labels = torch.from_numpy(val.labels)
        return {
            "val/loss": F.cross_entropy(scores, labels).item(),
            "val/acc": (scores.argmax(1) == labels).float().mean().item(),
        }


def contrastive_loss(
    a: torch.Tensor, b: torch.Tensor, same: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """Contrastive loss of embedding pairs ``a``, ``b`` (N, D); ``same`` (N,) 1 or 0.

    >>> a = torch.zeros(2, 2); b = torch.tensor([[0.6, 0.8], [0.3, 0.4]])
    >>> round(contrastive_loss(a, b, torch.tensor([1.0, 0.0])).item(), 4)
    0.3125
    """
    d2 = (a - b).pow(2).sum(1)
    d = (d2 + 1e-12).sqrt()
    same = same.to(a.dtype)
    return (same * d2 + (1 - same) * (margin - d).clamp(min=0).pow(2)).mean() / 2


def centroid_accuracy(
    train_emb: torch.Tensor, train_labels: torch.Tensor, emb: torch.Tensor, labels: torch.Tensor
) -> float:
    """Fraction of ``emb`` (N, D) whose nearest class centroid (from the training
    embeddings) is its own label."""
    classes = torch.unique(train_labels)
    centroids = torch.stack([train_emb[train_labels == c].mean(0) for c in classes])
    nearest = classes[torch.cdist(emb, centroids).argmin(1)]
    return (nearest == labels).float().mean().item()


class Contrastive:
    """Siamese training on pairs drawn from ``train`` (see the module docstring)."""

    def __init__(self, train: ImageDataset, margin: float = 1.0, seed: int = 0):
        self.train = train
        self.margin = margin
        self._by_class = {
            int(c): np.flatnonzero(train.labels == c) for c in np.unique(train.labels)
        }
        pick = np.random.default_rng(seed).permutation(len(train))[:CENTROID_IMAGES]
        self._centroid_rows = np.sort(pick)

    def partners(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each label, a training row: of the same class with probability 1/2."""
        rows = rng.integers(0, len(self.train), size=len(labels))
        same = rng.random(len(labels)) < 0.5
        for i in np.flatnonzero(same):
            pool = self._by_class[int(labels[i])]
            rows[i] = pool[rng.integers(0, len(pool))]
        return rows

    def _pair_loss(
        self, model: nn.Module, x: torch.Tensor, labels: np.ndarray, rng: np.random.Generator
    ) -> torch.Tensor:
        rows = self.partners(labels, rng)
        device = device_of(model)
        x2 = self.train.normalization.apply(self.train.images[rows])
        emb = model(torch.cat([x, x2]).to(device))
        same = torch.from_numpy(labels == self.train.labels[rows]).float().to(device)
        return contrastive_loss(emb[: len(x)], emb[len(x) :], same, self.margin)

    def loss(
        self, model: nn.Module, batch: Batch, gen: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        rng = np.random.default_rng(seed)
        return self._pair_loss(model, batch.inputs, batch.labels.numpy(), rng), {}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, val: ImageDataset) -> dict[str, float]:
        train_emb = _embed(model, self.train, self._centroid_rows)
        train_labels = torch.from_numpy(self.train.labels[self._centroid_rows])
        val_emb = _embed(model, val)
        val_labels = torch.from_numpy(val.labels)
        rng = np.random.default_rng(12345)  # the same validation pairs every time
        losses = [
            self._pair_loss(model, b.inputs, b.labels.numpy(), rng).item() * len(b.labels)
            for b in val.batches(EVAL_BATCH)
        ]
        return {
            "train/acc": centroid_accuracy(train_emb, train_labels, train_emb, train_labels),
            "val/loss": sum(losses) / max(len(val), 1),
            "val/acc": centroid_accuracy(train_emb, train_labels, val_emb, val_labels),
        }
