"""convlens: see inside convolutional neural networks.

The public API, by room:

- :mod:`convlens.model`: layer tables, receptive fields, the hook owner.
- :mod:`convlens.data`: datasets (``digits``, MNIST, CIFAR-10, npz, image folders).
- :mod:`convlens.zoo`: reference models built from code.
- :mod:`convlens.record`: the training recorder and trainer.
- :func:`open_run`: a run directory, the contract every tool reads.
"""

from . import data, errors, model, zoo
from ._version import __version__
from .rundir import Run, open_run

__all__ = ["Run", "__version__", "data", "errors", "model", "open_run", "zoo"]
