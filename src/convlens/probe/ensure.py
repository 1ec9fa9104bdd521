"""Probing a run's checkpoint unless it was: what ``convlens explore`` does first."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import RunError
from ..rundir import ProbeResult, Run, open_probe
from .pipeline import run as probe_run

__all__ = ["ensure_probe"]


def ensure_probe(
    run: Run,
    checkpoint: str | int | None = None,
    limit: int | None = None,
    layers: Sequence[str] | None = None,
    data: str | None = None,
) -> ProbeResult:
    """The probe of ``checkpoint`` (last by default); probes it first when it has none
    (``limit`` images at most, ``layers`` or the default layers, on ``data`` instead of
    the run's own data when given), with a progress bar on stderr. An existing probe is
    returned as it is.

    >>> # res = ensure_probe(convlens.open_run("runs/lenet"), limit=2000)
    """
    try:
        return open_probe(run, checkpoint)
    except RunError:
        pass
    name = run.checkpoint(checkpoint).name
    sys.stderr.write(f"convlens explore: probing {run.name}/{name} first (no probe results yet)\n")
    probe_run(run, data=data, checkpoint=name, limit=limit, layers=layers, progress=True)
    return open_probe(run, name)
