"""Starting the explorer: probe a run when needed, serve it with uvicorn in a thread."""

from __future__ import annotations

import html
import socket
import sys
import threading
import time
import webbrowser
from pathlib import Path
from typing import Any

import uvicorn

from ..errors import ConvlensError, RunError
from ..rundir import Run, open_run
from .app import create_app
from .session import RunView

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def ensure_probe(run: Run, checkpoint: str | int | None = None, limit: int | None = None) -> Any:
    """The probe of ``checkpoint``; runs :func:`convlens.probe.run` first when it is missing.

    The probe shows its own progress bar on stderr.
    """
    from .. import probe

    try:
        return probe.open_probe(run, checkpoint)
    except RunError:
        pass
    name = run.checkpoint(checkpoint).name
    sys.stderr.write(f"convlens explore: probing {run.name}/{name} first (no probe results yet)\n")
    probe.run(run, checkpoint=checkpoint, limit=limit, progress=True)
    return probe.open_probe(run, checkpoint)


class Explorer:
    """A running explorer server. ``.url``; ``.stop()``; usable as a context manager.

    >>> # with convlens.explore("runs/siamese") as ex: print(ex.url)
    """

    def __init__(self, views: list[RunView], host: str = "127.0.0.1", port: int = 0):
        self.views = views
        self.host = host
        allowed = list(LOOPBACK) if host in LOOPBACK else None
        self.app = create_app(views, allowed_hosts=allowed)
        self._socket = _bind(host, port)
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> Explorer:
        """Serve in a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConvlensError(f"the explorer server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.25)

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._socket.close()

    def __enter__(self) -> Explorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConvlensError(
            f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port, "
            "or --port 0 for any free port"
        ) from None
    sock.listen(64)
    return sock


def explore(
    *runs: str | Path | Run,
    checkpoint: str | int | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    open_browser: bool = False,
    probe_limit: int | None = None,
    timeline: bool = False,
) -> Explorer:
    """Serve the explorer on one or more runs and return the running :class:`Explorer`.

    Runs without probe results for ``checkpoint`` (last by default) are probed
    first (``probe_limit`` images at most); ``timeline=True`` probes every
    checkpoint, so that the timeline can step through all of them (otherwise it
    steps through the checkpoints already probed). Two runs are shown side by side
    (A/B) with one linked selection. Binds 127.0.0.1 by default; ``port=0`` picks a
    free port. In Jupyter the returned object displays the explorer inline.

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
        ensure_probe(run, checkpoint, probe_limit)
        if timeline:
            for snapshot in run.checkpoints:
                ensure_probe(run, snapshot.name, probe_limit)
        views.append(RunView(run, checkpoint))
    explorer = Explorer(views, host=host, port=port).start()
    if open_browser:
        webbrowser.open(explorer.url)
    return explorer
