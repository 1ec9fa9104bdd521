"""Serving the dashboard alone (``convlens dashboard``): a small app and a uvicorn thread."""

from __future__ import annotations

import webbrowser
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response

from ...rundir import Run
from .._serving import BackgroundServer, loopback_hosts, new_app
from .errors import DashboardError
from .routes import make_router
from .sources import RunSource


def create_dashboard_app(
    runs: list[str | Path | Run | RunSource], allowed_hosts: list[str] | None = None
) -> FastAPI:
    """A FastAPI app with only the dashboard; ``/`` leads to ``/dashboard/``.

    ``allowed_hosts`` refuses requests whose Host header names another machine
    (against DNS rebinding).

    >>> # app = create_dashboard_app(["runs/lr-small", "runs/lr-large"])
    """
    app = new_app("convlens dashboard", allowed_hosts, "dashboard")
    app.include_router(make_router(runs))

    @app.get("/")
    def root() -> Response:
        return RedirectResponse("/dashboard/")

    return app


class DashboardServer(BackgroundServer):
    """The dashboard served in a background thread: ``.url``, ``.stop()``; a context manager.

    >>> # with serve_dashboard(["runs/a", "runs/b"]) as d: print(d.url)
    """

    product = "dashboard"
    path = "/dashboard/"

    def __init__(
        self, runs: list[str | Path | Run | RunSource], host: str = "127.0.0.1", port: int = 0
    ):
        app = create_dashboard_app(runs, allowed_hosts=loopback_hosts(host))
        super().__init__(app, host, port, error=DashboardError)


def serve_dashboard(
    runs: list[str | Path | Run | RunSource],
    host: str = "127.0.0.1",
    port: int = 0,
    open_browser: bool = False,
) -> DashboardServer:
    """Serve the dashboard on ``runs`` and return the running :class:`DashboardServer`.

    Binds 127.0.0.1 by default; ``port=0`` picks a free port.

    >>> # d = serve_dashboard(["runs/lr-small", "runs/lr-large"]); print(d.url); d.stop()
    """
    if not runs:
        raise DashboardError("give at least one run directory to the dashboard")
    server = DashboardServer(runs, host=host, port=port).start()
    if open_browser:
        webbrowser.open(server.url)
    return server
