"""Dataset probes: one streamed pass of a model over a dataset, stored per checkpoint.

- :func:`run` writes ``RUN/probe/<checkpoint>/`` (Zarr v3, see
  :mod:`convlens.rundir.probe_layout`): the points of every chosen layer (all of
  them, or a seeded sample of positions sized to a storage budget), their PCA
  coordinates, outputs, per-image channel means, and exact summaries over every
  position (top-k pairs per channel with receptive-field boxes, ranges, class means).
- :func:`plan` makes the plan a probe follows, to give every shard of one probe;
  :func:`merge` joins shard stores into the one-pass store.
- :class:`Partial` is the map/merge core: each batch maps to a partial result,
  partials merge associatively and exactly.
- Reading a store back is :func:`convlens.open_run(path).probe()
  <convlens.rundir.Run.probe>` (:class:`~convlens.rundir.ProbeResult`, in ``rundir``);
  ``open_probe`` and ``ProbeResult`` are re-exported here for convenience.

Example::

    import convlens
    res = convlens.probe.run("runs/lenet", limit=2000)
    values, image_index, position = res.topk("conv2")
"""

from ..rundir.probe_result import ProbeResult, open_probe, open_probe_dir, probed_checkpoints
from .ensure import ensure_probe
from .merge import merge
from .partial import LayerPartial, LayerSpec, Partial, select_topk
from .pipeline import plan, run
from .plan import LayerPlan, ProbeOptions, ProbePlan
from .project import Pca, fit_pca
from .store import create_store

__all__ = [
    "LayerPartial",
    "LayerPlan",
    "LayerSpec",
    "Partial",
    "Pca",
    "ProbeOptions",
    "ProbePlan",
    "ProbeResult",
    "create_store",
    "ensure_probe",
    "fit_pca",
    "merge",
    "open_probe",
    "open_probe_dir",
    "plan",
    "probed_checkpoints",
    "run",
    "select_topk",
]
