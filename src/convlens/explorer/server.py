"""Starting the explorer: probe a run when needed, serve it with uvicorn in a thread."""

from __future__ import annotations

import html
import sys
import webbrowser
from pathlib import Path
from typing import Any

from ..errors import ConvlensError, RunError
from ..rundir import Run, open_run
from ._serving import BackgroundServer, loopback_hosts
from .app import create_app
from .session import RunView


def ensure_probe(
    run: Run,
    checkpoint: str | int | None = None,
    limit: int | None = None,
    data: str | None = None,
) -> Any:
    """The probe of ``checkpoint``; runs :func:`convlens.probe.run` first when it is missing
    (on ``data``, a dataset spec, instead of the run's own data when given).

    The probe shows its own progress bar on stderr.
    """
    from .. import probe

    try:
        return probe.open_probe(run, checkpoint)
    except RunError:
        pass
    name = run.checkpoint(checkpoint).name
    sys.stderr.write(f"convlens explore: probing {run.name}/{name} first (no probe results yet)\n")
    probe.run(run, data=data, checkpoint=checkpoint, limit=limit, progress=True)
    return probe.open_probe(run, checkpoint)


class Explorer(BackgroundServer):
    """A running explorer server. ``.url``; ``.stop()``; usable as a context manager.

    >>> # with convlens.explore("runs/siamese") as ex: print(ex.url)
    """

    product = "explorer"

    def __init__(self, views: list[RunView], host: str = "127.0.0.1", port: int = 0):
        self.views = views
        super().__init__(create_app(views, allowed_hosts=loopback_hosts(host)), host, port)

    def __repr__(self) -> str:
        names = ", ".join(v.run.name for v in self.views)
        return f"Explorer({self.url!r}, runs=[{names}])"

    def _repr_html_(self) -> str:
        """Jupyter shows the running explorer inline: an IFrame on the local server."""
        return self.iframe()

    def iframe(self, height: int = 720) -> str:
        """HTML of an IFrame showing this explorer (for notebooks and reports)."""
        names = ", ".join(v.run.name for v in self.views)
        return (
            f'<iframe src="{html.escape(self.url)}" width="100%" height="{int(height)}" '
            f'style="border: 1px solid #30343a" title="convlens explorer: {html.escape(names)}">'
            "</iframe>"
        )


def explore(
    *runs: str | Path | Run,
    checkpoint: str | int | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    open_browser: bool = False,
    probe_limit: int | None = None,
    timeline: bool = False,
    data: str | None = None,
) -> Explorer:
    """Serve the explorer on one or more runs and return the running :class:`Explorer`.

    Runs without probe results for ``checkpoint`` (last by default) are probed
    first (``probe_limit`` images at most); ``timeline=True`` probes every
    checkpoint, so that the timeline can step through all of them (otherwise it
    steps through the checkpoints already probed). Two runs are shown side by side
    (A/B) with one linked selection. Binds 127.0.0.1 by default; ``port=0`` picks a
    free port. ``data`` (a dataset spec) is what runs without a probe are probed on,
    instead of their own data: a run recorded from the user's own loader needs it.
    In Jupyter the returned object displays the explorer inline.

    >>> # ex = convlens.explore("runs/siamese"); print(ex.url); ex.stop()
    >>> # convlens.explorer.explore("runs/a", "runs/b")   # the A/B view
    """
    if not runs:
        raise ConvlensError("give at least one run directory to explore")
    if not 0 <= port <= 65535:
        raise ConvlensError(f"port {port} is out of range: expected 0..65535 (0 = any free port)")
    opened = [r if isinstance(r, Run) else open_run(r) for r in runs]
    views = []
    for run in opened:
        ensure_probe(run, checkpoint, probe_limit, data)
        if timeline:
            for snapshot in run.checkpoints:
                ensure_probe(run, snapshot.name, probe_limit, data)
        views.append(RunView(run, checkpoint))
    explorer = Explorer(views, host=host, port=port).start()
    if open_browser:
        webbrowser.open(explorer.url)
    return explorer
