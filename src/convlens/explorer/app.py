"""The explorer's web application: static front end and a small read-only JSON/binary API.

Routes (``{rid}`` is the index of an opened run, from 0)::

    GET  /                                        the front end (index.html)
    GET  /static/{file}                           front-end files shipped in the package
    GET  /api/runs                                JSON: every opened run and its layers
    GET  /api/runs/{rid}/labels.bin               labels, dataset indices, predictions
    GET  /api/runs/{rid}/images.bin?page=P        one page of the pixel atlas,
                                                  (n, H, W, C) uint8, at most 16 MB
    GET  /api/runs/{rid}/images/{row}.png         one image as PNG (?scale=1..16)
    GET  /api/runs/{rid}/layers/{layer}/points.bin   a layer's points (?proj=raw|pca,
                                                  ?dtype=auto|u8|f16)
    POST /api/runs/{rid}/maps                     {"rows": [...]}: the average response
                                                  of those images at every layer

``?checkpoint=NAME`` on labels, points and maps picks another probed snapshot (the
timeline). The Explorer II routes (confusion, neighbours, cross-layer values,
weights, method panels) are in :mod:`convlens.explorer.routes`, the pair ranking in
:mod:`convlens.explorer.guide`, and the live status (``GET /api/live``, ``POST
/api/runs/{rid}/probe``) in :mod:`convlens.explorer.live`.

Binary replies use :mod:`convlens.explorer.binary`. Every error is JSON
``{"error": "one line"}`` with a 4xx status.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..errors import ConvlensError, LayerError, PathNotFoundError
from ._http import BINARY, ApiError, choice, image_rows, in_range
from ._serving import error_reply, new_app, static_files
from .live import Workspace
from .routes import _png, make_router, pick_view
from .session import DTYPES, PROJECTIONS, RunView


def create_app(views: list[RunView] | Workspace, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The FastAPI application serving ``views``: one view per opened run, or a live
    :class:`~convlens.explorer.live.Workspace`.

    ``allowed_hosts`` (for example ``["127.0.0.1", "localhost"]``) refuses requests
    whose Host header names another machine, against DNS rebinding.

    >>> # app = create_app([RunView(convlens.open_run("runs/siamese"))])
    """
    if not isinstance(views, Workspace):
        views = Workspace.of_views(list(views))
    app = new_app("convlens explorer", allowed_hosts, "explorer")
    logged = [run for run in views.runs if run.log_path.exists()]
    static = static_files()

    def view(rid: int) -> RunView:
        return pick_view(views, rid)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_reply(exc.message, exc.status)

    @app.exception_handler(ConvlensError)
    async def convlens_error(_: Request, exc: ConvlensError) -> JSONResponse:
        status = 404 if isinstance(exc, LayerError | PathNotFoundError) else 400
        return error_reply(str(exc), status)

    @app.get("/")
    def index() -> Response:
        body, kind = static["index.html"]
        return Response(body, media_type=kind, headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name:path}")
    def static_file(name: str) -> Response:
        if name not in static:
            raise ApiError(404, f"no static file {name!r}: the explorer ships only its own files")
        body, kind = static[name]
        return Response(body, media_type=kind, headers={"Cache-Control": "no-cache"})

    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        return {"runs": views.summaries(), "dashboard": bool(logged)}

    @app.get("/api/runs/{rid}/labels.bin")
    def labels(rid: int, checkpoint: str | None = None) -> Response:
        return Response(view(rid).labels_message(checkpoint), media_type=BINARY)

    @app.get("/api/runs/{rid}/images.bin")
    def images(rid: int, page: int = 0) -> Response:
        return Response(view(rid).images_message(page), media_type=BINARY)

    @app.get("/api/runs/{rid}/images/{row}.png")
    def image_png(rid: int, row: int, scale: int = 1) -> Response:
        v = view(rid)
        if not 0 <= row < v.n_images:
            raise ApiError(404, f"image row {row} does not exist: expected 0..{v.n_images - 1}")
        return _png(v.images()[row], in_range("scale", scale, 1, 16))

    @app.get("/api/runs/{rid}/layers/{layer}/points.bin")
    def points(
        rid: int, layer: str, proj: str = "raw", dtype: str = "auto", checkpoint: str | None = None
    ) -> Response:
        v = view(rid)
        message = v.points_message(
            v.layer(layer),
            choice("proj", proj, PROJECTIONS),
            choice("dtype", dtype, DTYPES),
            checkpoint,
        )
        return Response(message, media_type=BINARY)

    @app.post("/api/runs/{rid}/maps")
    def maps(
        rid: int, rows: Annotated[list[int], Body(embed=True)], checkpoint: str | None = None
    ) -> Response:
        v = view(rid)
        rows = image_rows(rows, v.n_images)
        return Response(v.maps_message(rows, checkpoint), media_type=BINARY)

    # Explorer II: snapshots, confusion, neighbours, cross-layer values, method panels.
    app.include_router(make_router(views))
    # The guide (pair ranking) and the live status.
    from . import guide, live

    app.include_router(guide.make_router(views))
    app.include_router(live.make_router(views))

    # The training dashboard (/dashboard/) of every opened run that has a training log.
    from .dashboard import make_router as make_dashboard_router

    if logged:
        app.include_router(make_dashboard_router(logged))

    return app
