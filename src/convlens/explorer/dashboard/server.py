"""Serving the dashboard alone (``convlens dashboard``): a small app and a uvicorn thread."""

from __future__ import annotations

import webbrowser
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...rundir import Run
from .._serving import BackgroundServer, add_host_check, loopback_hosts
from .errors import DashboardError
from .routes import error_response, make_router
from .sources import RunSource


def create_dashboard_app(
    runs: list[str | Path | Run | RunSource], allowed_hosts: list[str] | None = None
) -> FastAPI:
    """A FastAPI app with only the dashboard; ``/`` leads to ``/dashboard/``.

    ``allowed_hosts`` refuses requests whose Host header names another machine
    (against DNS rebinding).

    >>> # app = create_dashboard_app(["runs/lr-small", "runs/lr-large"])
    """
    app = FastAPI(title="convlens dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(make_router(runs))

    add_host_check(app, allowed_hosts, "dashboard")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if exc.status_code != 404 else f"no such page: {request.url.path}"
        return JSONResponse({"error": str(detail)}, status_code=exc.status_code)

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
