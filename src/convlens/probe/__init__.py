"""Dataset probes: one streamed pass of a model over a dataset, stored per checkpoint.

- :func:`run` writes ``RUN/probe/<checkpoint>/`` (Zarr v3): embeddings of every
  chosen layer, outputs, class means, top-k (image, position) pairs per channel
  with receptive-field boxes, and PCA projections.
- :func:`open_probe` (also ``convlens.open_run(path).probe()``) reads it back
  as a :class:`ProbeResult`.
- :class:`Partial` is the map/merge core: each batch maps to a partial result,
  partials merge associatively and exactly; :func:`merge` combines shard stores.

Example::

    import convlens
    res = convlens.probe.run("runs/lenet", limit=2000)
    values, image_index, position = res.topk("conv2")
"""

from .merge import merge
from .partial import LayerPartial, LayerSpec, Partial, select_topk
from .pipeline import run
from .project import Pca, fit_pca
from .result import ProbeResult, open_probe, open_probe_dir, probed_checkpoints

__all__ = [
    "LayerPartial",
    "LayerSpec",
    "Partial",
    "Pca",
    "ProbeResult",
    "fit_pca",
    "merge",
    "open_probe",
    "open_probe_dir",
    "probed_checkpoints",
    "run",
    "select_topk",
]
