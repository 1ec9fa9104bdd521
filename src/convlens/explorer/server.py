"""Starting the explorer: serve runs with uvicorn in a thread, probing them in the background
(each probe in its own process, :mod:`convlens.explorer.live`) when needed."""

from __future__ import annotations

import html
import webbrowser
from pathlib import Path

from ..errors import ConvlensError
from ..rundir import Run, open_run
from ._serving import BackgroundServer, loopback_hosts
from .app import create_app
from .live import Workspace
from .session import RunView


class Explorer(BackgroundServer):
    """A running explorer server. ``.url``; ``.stop()``; usable as a context manager.

    >>> # with convlens.explore("runs/siamese") as ex: print(ex.url)
    """

    product = "explorer"

    def __init__(self, views: list[RunView] | Workspace, host: str = "127.0.0.1", port: int = 0):
        self.workspace = views if isinstance(views, Workspace) else Workspace.of_views(views)
        super().__init__(create_app(self.workspace, allowed_hosts=loopback_hosts(host)), host, port)

    @property
    def views(self) -> list[RunView | None]:
        """Each opened run's view (None while its first probe runs)."""
        return [slot.view for slot in self.workspace.slots]

    def stop(self) -> None:
        """Stop serving, watching and probing; release the port."""
        self.workspace.stop()
        super().stop()

    def __repr__(self) -> str:
        names = ", ".join(run.name for run in self.workspace.runs)
        return f"Explorer({self.url!r}, runs=[{names}])"

    def _repr_html_(self) -> str:
        """Jupyter shows the running explorer inline: an IFrame on the local server."""
        return self.iframe()

    def iframe(self, height: int = 720) -> str:
        """HTML of an IFrame showing this explorer (for notebooks and reports)."""
        names = ", ".join(run.name for run in self.workspace.runs)
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
    live: bool = True,
    data: str | None = None,
) -> Explorer:
    """Serve the explorer on one or more runs and return the running :class:`Explorer`.

    The page opens at once. Runs without probe results for ``checkpoint`` (last by
    default) are probed in the background (``probe_limit`` images at most, on ``data``, a
    dataset spec, instead of their own data when given: a run recorded from the user's
    own loader needs it) and the page says what it waits for. ``live=True`` watches the
    run directories: a checkpoint written while the explorer is open joins the timeline
    and is probed in the background with the opened probe's options; ``timeline=True``
    also probes every older checkpoint in the background. Two runs are shown side by side
    (A/B) with one linked selection. Binds 127.0.0.1 by default; ``port=0`` picks a free
    port. In Jupyter the returned object displays the explorer inline.

    >>> # ex = convlens.explore("runs/siamese"); print(ex.url); ex.stop()
    >>> # convlens.explorer.explore("runs/a", "runs/b")   # the A/B view
    """
    if not runs:
        raise ConvlensError("give at least one run directory to explore")
    if not 0 <= port <= 65535:
        raise ConvlensError(f"port {port} is out of range: expected 0..65535 (0 = any free port)")
    if probe_limit is not None and (
        isinstance(probe_limit, bool) or not isinstance(probe_limit, int) or probe_limit < 1
    ):
        raise ConvlensError(
            f"probe_limit={probe_limit!r} is out of range: expected a whole number of images "
            ">= 1, or None for all"
        )
    opened = [r if isinstance(r, Run) else open_run(r) for r in runs]
    workspace = Workspace(opened, checkpoint, probe_limit, timeline=timeline, live=live, data=data)
    explorer = Explorer(workspace, host=host, port=port)
    try:
        workspace.start()
        explorer.start()
    except BaseException:
        explorer.stop()
        raise
    if open_browser:
        webbrowser.open(explorer.url)
    return explorer
