"""An in-process HTTP client for the explorer's and the dashboard's ASGI apps."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np

from convlens.explorer.binary import unpack


class InProcessClient:
    """A synchronous in-process client for an ASGI app (httpx's ASGITransport, no network)."""

    def __init__(self, app, base_url: str = "http://127.0.0.1", raise_server_exceptions=True):
        self.app = app
        self.base_url = base_url
        self.raise_server_exceptions = raise_server_exceptions

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(
                app=self.app, raise_app_exceptions=self.raise_server_exceptions
            )
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def binary(self, url: str, **params) -> tuple[dict, dict[str, np.ndarray]]:
        """GET ``url?params``, expect 200, and unpack the binary message."""
        response = self.get(url, params=params)
        assert response.status_code == 200, response.text
        return unpack(response.content)
