"""convlens: see inside convolutional neural networks.

The public API, by room (each subpackage lists its own names in ``__all__``):

- :mod:`convlens.model`: layer tables, receptive fields, the one owner of hooks.
- :mod:`convlens.data`: datasets (``digits``, MNIST, CIFAR-10, npz, image folders).
- :mod:`convlens.zoo`: reference models built from code.
- :mod:`convlens.record`: the training recorder, its log reader and the trainer.
- :mod:`convlens.attribute`: saliency, guided backprop, deconvnet, Grad-CAM and more.
- :mod:`convlens.synthesize`: activation maximisation, DeepDream, inversion.
- :mod:`convlens.probe`: one streamed pass over a dataset, stored in the run.
- :mod:`convlens.render`: heatmaps, overlays, grids and channel reductions.
- :func:`open_run`: a run directory, the contract every tool reads.
- :func:`explore`: the Seein' In explorer in the browser (probing runs that need it).

The heavier rooms are imported on first use, so ``import convlens`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import data, errors, model, zoo
from ._version import __version__
from .rundir import Run, open_run

_LAZY_MODULES = ("attribute", "explorer", "probe", "record", "render", "synthesize")

__all__ = [
    "Run",
    "__version__",
    "attribute",
    "data",
    "errors",
    "explore",
    "explorer",
    "model",
    "open_run",
    "probe",
    "record",
    "render",
    "synthesize",
    "zoo",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "explore":
        return importlib.import_module(f"{__name__}._launch").explore
    raise AttributeError(f"module 'convlens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
