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
- :func:`open_run` -> :class:`Run`: a run directory, the contract every tool reads.
- :func:`explore`: the Seein' In explorer in the browser.

Every room is imported on first use (PEP 562 module ``__getattr__``), so
``import convlens`` imports neither torch nor numpy and ``convlens --help`` starts
at once; ``convlens.open_run`` or ``from convlens import Run`` import what they need.

>>> import convlens
>>> convlens.__version__ == convlens._version.__version__
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import errors
from ._lazy import lazy_names
from ._version import __version__

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load on first use
    from . import attribute, data, explorer, model, probe, record, render, synthesize, zoo
    from .explorer import explore
    from .rundir import Run, open_run

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

_ROOMS = ("attribute", "data", "explorer", "model", "probe", "record", "render", "rundir",
          "synthesize", "zoo")  # fmt: skip
#: each lazy public name -> the room that defines it (None: the name is a room)
_HOMES = {**dict.fromkeys(_ROOMS), "Run": "rundir", "open_run": "rundir", "explore": "explorer"}
__getattr__, __dir__ = lazy_names(__name__, _HOMES)
