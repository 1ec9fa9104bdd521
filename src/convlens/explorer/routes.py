"""Explorer II routes: snapshots, deepViz views, cross-layer values and method panels.

Mounted by :func:`convlens.explorer.create_app` (``{rid}`` is an opened run's index;
``?checkpoint=NAME`` picks a probed snapshot, the opened one by default)::

    GET /api/runs/{rid}/confusion                          JSON (K, K) counts
    GET /api/runs/{rid}/layers/{layer}/neighbours/{row}    JSON: ?k= nearest images
    GET /api/runs/{rid}/scatter.bin?axes=fc1:3,conv2:7     one value per image and axis
    GET /api/runs/{rid}/layers/{layer}/weights.bin         the layer's weights at a snapshot
    GET /api/runs/{rid}/images/{row}/attribution.bin       ?method=&target=&layer=
    GET /api/runs/{rid}/layers/{layer}/channels/{c}/topk.bin        top-k + projections
    GET /api/runs/{rid}/layers/{layer}/channels/{c}/synthesis.png   synthesised image
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter
from fastapi.responses import Response

from ..render import png_bytes, upscale
from . import analysis, methods
from ._http import BINARY, ApiError, choice, in_range
from .binary import pack
from .session import RunView

MAX_AXES = 3


def pick_view(views: Any, rid: int) -> RunView:
    """The opened run ``rid``, or a 404 naming the valid indices (a 503 saying what a run
    of a live :class:`~convlens.explorer.live.Workspace` waits for)."""
    if not 0 <= rid < len(views):
        raise ApiError(
            404, f"run {rid} is not open: expected a run index from 0 to {len(views) - 1}"
        )
    return views[rid]


def _png(pixels: np.ndarray, scale: int) -> Response:
    pixels = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    return Response(png_bytes(upscale(pixels, scale)), media_type="image/png")


def make_router(views: Any) -> APIRouter:
    """The Explorer II API over ``views`` (errors are raised as :class:`ApiError`)."""
    router = APIRouter()

    @router.get("/api/runs/{rid}/confusion")
    def confusion(rid: int, checkpoint: str | None = None) -> dict[str, Any]:
        return analysis.confusion(pick_view(views, rid), checkpoint)

    @router.get("/api/runs/{rid}/layers/{layer}/neighbours/{row}")
    def neighbours(
        rid: int, layer: str, row: int, k: int = 9, checkpoint: str | None = None
    ) -> dict[str, Any]:
        return analysis.neighbours(
            pick_view(views, rid), layer, row, in_range("k", k, 1, 100), checkpoint
        )

    @router.get("/api/runs/{rid}/scatter.bin")
    def scatter(rid: int, axes: str, checkpoint: str | None = None) -> Response:
        v = pick_view(views, rid)
        specs = [a for a in axes.split(",") if a]
        if not 1 <= len(specs) <= MAX_AXES:
            raise ApiError(
                400,
                f"query parameter 'axes' names {len(specs)} axes: expected 1 to {MAX_AXES}, "
                "comma-separated 'layer:dimension'",
            )
        parsed = [analysis.parse_axis(v, s) for s in specs]
        values = analysis.image_values(v, parsed, checkpoint)
        return Response(
            pack({"values": values}, axes=specs, n_images=v.n_images), media_type=BINARY
        )

    @router.get("/api/runs/{rid}/layers/{layer}/weights.bin")
    def weights(rid: int, layer: str, checkpoint: str | None = None) -> Response:
        v = pick_view(views, rid)
        w = analysis.layer_weights(v, layer, checkpoint)
        return Response(
            pack({"weights": w}, layer=layer, checkpoint=checkpoint or v.probe.checkpoint),
            media_type=BINARY,
        )

    @router.get("/api/runs/{rid}/images/{row}/attribution.bin")
    def attribution(
        rid: int,
        row: int,
        method: str = "saliency",
        target: str = "predicted",
        layer: str | None = None,
        checkpoint: str | None = None,
    ) -> Response:
        v = pick_view(views, rid)
        out = methods.attribution(
            v, row, choice("method", method, methods.METHODS), target, layer, checkpoint
        )
        arrays = {"map": out["map"], "picture": out["picture"], "scores": out["scores"]}
        return Response(
            pack(arrays, method=method, target=out["target"], row=row, layer=layer),
            media_type=BINARY,
        )

    @router.get("/api/runs/{rid}/layers/{layer}/channels/{channel}/topk.bin")
    def channel_topk(rid: int, layer: str, channel: int, checkpoint: str | None = None) -> Response:
        arrays, method = methods.channel_topk(pick_view(views, rid), layer, channel, checkpoint)
        return Response(pack(arrays, layer=layer, channel=channel, **method), media_type=BINARY)

    @router.get("/api/runs/{rid}/layers/{layer}/channels/{channel}/synthesis.png")
    def channel_synthesis(
        rid: int, layer: str, channel: int, scale: int = 4, checkpoint: str | None = None
    ) -> Response:
        pixels = methods.channel_synthesis(pick_view(views, rid), layer, channel, checkpoint)
        return _png(pixels, in_range("scale", scale, 1, 16))

    return router
