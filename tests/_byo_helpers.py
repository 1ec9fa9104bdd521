"""A model nobody here wrote and a folder of JPEGs of varying sizes, for the bring-your-own tests.

The model is Hugging Face's ResNet (``transformers``), a small configuration of the
very code that builds their ResNet-50, which returns an ``ImageClassifierOutput``
dataclass. Where ``transformers`` is not installed, a small model of our own that
returns a dataclass the same way stands in.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

HF_MODEL = """
from transformers import ResNetConfig, ResNetForImageClassification


def build(num_labels=3):
    config = ResNetConfig(
        num_labels=num_labels, embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1]
    )
    return ResNetForImageClassification(config)
"""

OWN_MODEL = """
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Output:
    logits: torch.Tensor
    features: torch.Tensor


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


class Net(nn.Module):
    def __init__(self, num_labels=3):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.stage1 = Block(8)
        self.stage2 = Block(8)
        self.head = nn.Linear(8, num_labels)

    def forward(self, pixel_values):
        f = self.stage2(self.stage1(self.stem(pixel_values)))
        return Output(logits=self.head(f.mean((2, 3))), features=f)


def build(num_labels=3):
    return Net(num_labels)
"""


def model_source() -> tuple[str, str]:
    """(file text, the name of the model's family) of the model under test."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        return OWN_MODEL, "own"
    return HF_MODEL, "transformers"


def write_model(folder: Path, seed: int = 0) -> tuple[Path, Path, str]:
    """The model file, its random weights as safetensors, and the model's family."""
    import importlib.util

    text, family = model_source()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "their_net.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("their_net_for_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    torch.manual_seed(seed)
    state = module.build().state_dict()
    weights = folder / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    return path, weights, family


def write_jpegs(folder: Path, n: int = 200, classes: tuple[str, ...] = ("cat", "dog", "fox")):
    """``n`` JPEGs of random sizes (30..90 px a side) with a class-coloured tint."""
    rng = np.random.default_rng(0)
    for c in classes:
        (folder / c).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        label = i % len(classes)
        h, w = (int(v) for v in rng.integers(30, 90, 2))
        img = rng.integers(0, 200, (h, w, 3), dtype=np.uint8)
        img[..., label] += 55
        Image.fromarray(img).save(folder / classes[label] / f"{i:04d}.jpg", quality=90)
    return folder


def tree_hash(folder: Path) -> str:
    """One hash of every file's name and bytes under ``folder``."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()
