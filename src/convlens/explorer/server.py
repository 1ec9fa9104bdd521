"""Starting the explorer: serve probed runs with uvicorn in a thread.

The explorer only reads run directories; :func:`convlens.explore` (the launcher above
it) probes runs that have no probe yet before it calls :func:`explore`.
"""

from __future__ import annotations

import html
import webbrowser
from pathlib import Path

from ..errors import ConvlensError
from ..rundir import Run, open_run
from ._serving import BackgroundServer, loopback_hosts
from .app import create_app
from .session import RunView


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
) -> Explorer:
    """Serve the explorer on one or more probed runs and return the running :class:`Explorer`.

    Each run must have probe results for ``checkpoint`` (last by default; a run
    without them is a one-line :class:`~convlens.errors.RunError`:
    :func:`convlens.explore` probes such runs first). The timeline steps through the
    checkpoints that are probed. Two runs are shown side by side (A/B) with one
    linked selection. Binds 127.0.0.1 by default; ``port=0`` picks a free port. In
    Jupyter the returned object displays the explorer inline.

    >>> # ex = convlens.explorer.explore("runs/siamese"); print(ex.url); ex.stop()
    >>> # convlens.explorer.explore("runs/a", "runs/b")   # the A/B view
    """
    if not runs:
        raise ConvlensError("give at least one run directory to explore")
    if not 0 <= port <= 65535:
        raise ConvlensError(f"port {port} is out of range: expected 0..65535 (0 = any free port)")
    opened = [r if isinstance(r, Run) else open_run(r) for r in runs]
    views = []
    for run in opened:
        views.append(RunView(run, checkpoint))
    explorer = Explorer(views, host=host, port=port).start()
    if open_browser:
        webbrowser.open(explorer.url)
    return explorer
