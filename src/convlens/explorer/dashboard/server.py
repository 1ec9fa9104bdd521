"""Serving the dashboard alone (``convlens dashboard``): a small app and a uvicorn thread."""

from __future__ import annotations

import socket
import threading
import time
import webbrowser
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...errors import ConvlensError
from ...rundir import Run
from .errors import DashboardError
from .routes import error_response, make_router
from .sources import RunSource

LOOPBACK = ("127.0.0.1", "localhost", "::1")


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

    @app.middleware("http")
    async def check_host(request: Request, call_next: Any) -> Any:
        if allowed_hosts is not None:
            host = request.headers.get("host", "").rsplit(":", 1)[0].strip("[]")
            if host not in allowed_hosts:
                return JSONResponse(
                    {
                        "error": f"host {host!r} is not served here: expected "
                        f"{' or '.join(allowed_hosts)}; open the URL the dashboard printed"
                    },
                    status_code=400,
                )
        return await call_next(request)

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


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise DashboardError(f"port {port} is out of range: expected 0..65535 (0 = any free port)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DashboardError(
            f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port, "
            "or --port 0 for any free port"
        ) from None
    sock.listen(64)
    return sock


class DashboardServer:
    """The dashboard served in a background thread: ``.url``, ``.stop()``; a context manager.

    >>> # with serve_dashboard(["runs/a", "runs/b"]) as d: print(d.url)
    """

    def __init__(
        self, runs: list[str | Path | Run | RunSource], host: str = "127.0.0.1", port: int = 0
    ):
        self.host = host
        allowed = list(LOOPBACK) if host in LOOPBACK else None
        self.app = create_dashboard_app(runs, allowed_hosts=allowed)
        self._socket = _bind(host, port)
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/dashboard/"

    def start(self) -> DashboardServer:
        """Serve in a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConvlensError(f"the dashboard server did not start on {self.url}")
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

    def __enter__(self) -> DashboardServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
