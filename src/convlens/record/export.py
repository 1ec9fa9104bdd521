"""Export a run's log to TensorBoard event files (``tensorboard`` is optional)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConvlensError
from .reader import open_log


def _summary_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConvlensError(
            "exporting to TensorBoard needs the tensorboard package, which is not installed; "
            "install it with `pip install 'convlens[tensorboard]'`"
        ) from None
    return SummaryWriter


def to_tensorboard(run: Any, out_dir: str | Path) -> dict[str, int]:
    """Write every scalar and histogram of ``run``'s log as event files in ``out_dir``.

    Scalars keep their tags; histograms are named ``weights/<param>`` and
    ``grads/<param>``. Wall times are the logged ones. Returns counts written.

    >>> # to_tensorboard("demo-runs/lenet", "tb/lenet")
    """
    writer_cls = _summary_writer()
    counts = {"tags": 0, "scalars": 0, "histograms": 0}
    with open_log(run) as log:
        writer = writer_cls(log_dir=str(out_dir))
        try:
            for tag in log.tags():
                s = log.scalars(tag)
                counts["tags"] += 1
                for step, wall, value in zip(s.step, s.wall, s.value, strict=True):
                    writer.add_scalar(tag, float(value), int(step), walltime=float(wall))
                counts["scalars"] += len(s.step)
            for param in log.params():
                for kind, prefix in (("weight", "weights"), ("grad", "grads")):
                    h = log.histograms(param, kind)
                    for t in range(len(h.step)):
                        n = int(h.count[t])
                        if n == 0:
                            continue
                        mean, std = float(h.mean[t]), float(h.std[t])
                        writer.add_histogram_raw(
                            f"{prefix}/{param}",
                            min=float(h.min[t]),
                            max=float(h.max[t]),
                            num=n,
                            sum=mean * n,
                            sum_squares=(std * std + mean * mean) * n,
                            bucket_limits=h.edges[t][1:].tolist(),
                            bucket_counts=h.counts[t].tolist(),
                            global_step=int(h.step[t]),
                            walltime=float(h.wall[t]),
                        )
                        counts["histograms"] += 1
        finally:
            writer.close()
    return counts
