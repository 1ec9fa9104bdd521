"""``convlens.explore``: probe what the explorer needs, then serve it.

The explorer (:mod:`convlens.explorer`) only reads run directories; this launcher
sits above it and :mod:`convlens.probe` and runs the probe first for runs that have
none. With two runs (A/B), each is probed on its default layers plus those of the
other run that it has too, so that both panes can show the same layer names (a
network without a ReLU after ``fc1`` has ``fc1`` where the other has ``relu1``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .rundir import Run, open_run

__all__ = ["explore"]


def explore(
    *runs: str | Path | Run,
    checkpoint: str | int | None = None,
    probe_limit: int | None = None,
    timeline: bool = False,
    data: str | None = None,
    **serve: Any,
) -> Any:
    """Serve the explorer on one or more runs (A/B for two) and return the running
    :class:`~convlens.explorer.Explorer`.

    Runs without probe results for ``checkpoint`` (last by default) are probed first
    (``probe_limit`` images at most; on ``data``, a dataset spec, instead of each run's
    own data when given: a run recorded from the user's own loader needs it);
    ``timeline=True`` probes every checkpoint, so that the timeline can step through
    all of them. ``serve``: ``host``, ``port``, ``open_browser`` (see
    :func:`convlens.explorer.explore`).

    >>> # ex = convlens.explore("runs/siamese", "runs/siamese-norelu"); print(ex.url); ex.stop()
    """
    from .explorer import explore as serve_runs
    from .model import default_layers, layer_names
    from .probe.ensure import ensure_probe

    opened = [r if isinstance(r, Run) else open_run(r) for r in runs]
    if len(opened) > 1:
        defaults = [default_layers(r.build_model().eval(), r.input_shape) for r in opened]
        wanted = list(dict.fromkeys(name for d in defaults for name in d))
    for i, run in enumerate(opened):
        layers = None
        if len(opened) > 1:
            own = set(layer_names(run.build_model()))
            layers = [n for n in wanted if n in own] or defaults[i]
        ensure_probe(run, checkpoint, probe_limit, layers, data)
        if timeline:
            for snapshot in run.checkpoints:
                ensure_probe(run, snapshot.name, probe_limit, layers, data)
    return serve_runs(*opened, checkpoint=checkpoint, **serve)
