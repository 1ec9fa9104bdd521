"""Serving a FastAPI app with uvicorn in a background thread (the explorer and the dashboard).

- :func:`loopback_hosts`: the Host names a server bound to an address answers.
- :func:`new_app`: a FastAPI app with the limits every convlens server has (Host check,
  request-body cap, JSON errors only, any path encodable).
- :func:`add_host_check`: middleware refusing other Host headers (against DNS rebinding).
- :func:`bind`: a listening socket, with one-line errors for a bad or busy port.
- :func:`static_files`: the front-end files shipped in the package, read once.
- :class:`BackgroundServer`: ``.url``, ``.start()``, ``.wait()``, ``.stop()``; a context manager.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import warnings
from importlib import resources
from typing import Any, Self

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConvlensError, ConvlensWarning, first_line

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def static_files(folder: str = "") -> dict[str, tuple[bytes, str]]:
    """Every file directly in the package's ``static/<folder>``: name -> (bytes, media type)."""
    kinds = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    root = resources.files("convlens.explorer") / "static"
    if folder:
        root = root / folder
    files = {}
    for entry in root.iterdir():
        if entry.is_file():
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            files[entry.name] = (entry.read_bytes(), kinds.get(suffix, "application/octet-stream"))
    return files


WILDCARD = ("0.0.0.0", "::", "")


def loopback_hosts(host: str) -> list[str]:
    """Host headers to accept when binding ``host``.

    Always the loopback names. A server bound to another address also answers to
    that address; one bound to every address (``0.0.0.0``, ``::``) to this machine's
    own names and addresses. Any other Host header (a DNS-rebinding page's) is refused.
    """
    allowed = list(LOOPBACK)
    if host in WILDCARD:
        names = {socket.gethostname(), socket.getfqdn()}
        for name in list(names):
            with contextlib.suppress(OSError):
                names.update(socket.gethostbyname_ex(name)[2])
        allowed += sorted(n for n in names if n)
    elif host not in LOOPBACK:
        allowed.append(host.strip("[]"))
    return list(dict.fromkeys(allowed))


def warn_if_exposed(host: str, port: int, product: str) -> None:
    """A :class:`~convlens.errors.ConvlensWarning` when ``host`` is not a loopback address:
    the runs served can then be read by anyone who reaches this machine."""
    if host in LOOPBACK:
        return
    hosts = ", ".join(loopback_hosts(host))
    warnings.warn(
        f"the {product} listens on {host}:{port}, not only on this machine: anyone who can "
        f"reach it can read the runs it serves (no login); requests are answered only for "
        f"the host names {hosts}; use --host 127.0.0.1 to keep it local",
        ConvlensWarning,
        stacklevel=3,
    )


def add_host_check(app: FastAPI, allowed_hosts: list[str] | None, product: str) -> None:
    """Refuse (HTTP 400, JSON error) requests whose Host header is not in ``allowed_hosts``.

    ``product`` names the server in the message ("open the URL the explorer printed").
    ``allowed_hosts=None`` accepts every host.
    """

    @app.middleware("http")
    async def check_host(request: Request, call_next: Any) -> Any:
        if allowed_hosts is not None:
            host = request.headers.get("host", "").rsplit(":", 1)[0].strip("[]")
            if host not in allowed_hosts:
                return error_reply(
                    f"host {host!r} is not served here: expected "
                    f"{' or '.join(allowed_hosts)}; open the URL the {product} printed",
                    400,
                )
        return await call_next(request)


MAX_BODY = 1 << 20
"""Largest request body a convlens server reads (1 MiB)."""


class SafeJSONResponse(JSONResponse):
    """JSON written as ASCII: any text, a run path whose bytes are not UTF-8 included,
    can be sent (as ``\\uXXXX`` escapes); NaN is refused rather than sent as invalid JSON."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        return text.encode()


def error_reply(message: str, status: int) -> SafeJSONResponse:
    """The one shape of every refusal: ``{"error": "one line"}``."""
    return SafeJSONResponse({"error": message}, status_code=status)


def validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    where = " ".join(str(p) for p in first.get("loc", ()))
    got = repr(first.get("input"))
    got = got if len(got) <= 80 else got[:77] + "..."
    return f"{where}: {first.get('msg', 'invalid')} (got {got})"[:300]


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413, before it is
    read when its Content-Length says so, else as soon as the bytes read pass the limit
    (at most ``limit`` bytes are ever held)."""

    def __init__(self, app: Any, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"").decode("latin-1")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send, f"{int(length):,} bytes")
            return
        messages, size = [], 0
        while True:  # read the body first: it is at most `limit` bytes
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send, f"more than {self.limit:,} bytes")
                return
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict, receive: Any, send: Any, size: str) -> None:
        reply = error_reply(
            f"request body of {size} is over the limit of {self.limit:,} bytes: ask for "
            "fewer rows at a time",
            413,
        )
        await reply(scope, receive, send)


def new_app(title: str, allowed_hosts: list[str] | None, product: str) -> FastAPI:
    """A FastAPI app as every convlens server needs it.

    - requests for other Host names are refused (:func:`add_host_check`);
    - request bodies over :data:`MAX_BODY` get a 413 before they are read;
    - replies are ASCII JSON (:class:`SafeJSONResponse`);
    - every error is ``{"error": "one line"}``: validation 422, HTTP errors with their
      status, and anything unexpected a JSON 500 naming it, never a plain-text page.
    """
    app = FastAPI(
        title=title,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=SafeJSONResponse,
    )
    add_host_check(app, allowed_hosts, product)
    app.add_middleware(BodyLimit, limit=MAX_BODY)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_reply(validation_message(exc), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if exc.status_code != 404 else f"no such page: {request.url.path}"
        return error_reply(str(detail), exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_reply(
            f"the {product} failed on {request.url.path} ({type(exc).__name__}: "
            f"{first_line(exc)}); this is a bug in convlens, please report it",
            500,
        )

    return app


def bind(host: str, port: int, error: type[ConvlensError] = ConvlensError) -> socket.socket:
    """A socket listening on ``host:port`` (``port=0``: any free port); raises ``error``."""
    if not 0 <= port <= 65535:
        raise error(f"port {port} is out of range: expected 0..65535 (0 = any free port)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise error(
            f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port, "
            "or --port 0 for any free port"
        ) from None
    sock.listen(64)
    return sock


class BackgroundServer:
    """``app`` served by uvicorn in a daemon thread on ``host:port``.

    Subclasses set ``product`` (named in errors) and ``path`` (the page ``.url`` opens).

    >>> # with BackgroundServer(app).start() as server: print(server.url)
    """

    product = "server"
    path = "/"

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 0,
        error: type[ConvlensError] = ConvlensError,
    ):
        self.host = host
        self.app = app
        self._socket = bind(host, port, error)
        self.port = self._socket.getsockname()[1]
        warn_if_exposed(host, self.port, self.product)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    def start(self) -> Self:
        """Serve in a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConvlensError(f"the {self.product} server did not start on {self.url}")
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
