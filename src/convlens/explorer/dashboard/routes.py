"""The dashboard's HTTP API, as a FastAPI router any app can include.

Routes (``{rid}`` is the index of an opened run, from 0)::

    GET /dashboard/                        the front end (dashboard.html)
    GET /dashboard/static/{file}           its ES modules and CSS (shipped files only),
                                           with the explorer's wire.js (shared decoding)
    GET /api/dashboard/runs                JSON: every run, its tags, parameters, progress
    GET /api/dashboard/runs/{rid}/scalars.bin?tag=T[&points=1000][&smooth=0.6]
                                           [&start=S][&end=E][&since_step=S]
        a curve, raw and smoothed, min/max-downsampled to ``points`` buckets;
        with ``since_step`` only the points logged after that step, none dropped
    GET /api/dashboard/runs/{rid}/bands.bin?param=P&kind=weight|grad[&rows=2000]
        percentile bands of one parameter over time
    GET /api/dashboard/ridgeline.bin?runs=0,1&param=P&kind=K[&rows=12][&bins=64][&lo=][&hi=]
        histogram rows of several runs on common bins
    GET /api/dashboard/runs/{rid}/heatmaps.bin?param=P[&snapshots=8][&side=256]
        the parameter's weights at several checkpoints (float16 pictures)

Binary replies are :mod:`convlens.explorer.binary` messages (a JSON header and
typed arrays). Every error is JSON ``{"error": "one line"}`` with a 4xx status.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from ...errors import ConvlensError, LayerError, PathNotFoundError
from ...rundir import Run
from .._serving import error_reply, static_files, validation_message
from ..binary import pack
from .distributions import percentile_bands, ridgeline
from .errors import DashboardError, DashboardNotFound
from .heatmaps import weight_heatmaps
from .series import ema_smooth, minmax_downsample, step_range
from .sources import RunSource, open_sources

BINARY = "application/octet-stream"
KINDS = ("weight", "grad")
MAX_SINCE_POINTS = 200_000


def error_response(exc: Exception) -> JSONResponse:
    """The JSON 4xx reply of a dashboard, convlens or validation error."""
    if isinstance(exc, RequestValidationError):
        return error_reply(validation_message(exc), 422)
    if isinstance(exc, DashboardError):
        status = exc.status
    else:
        status = 404 if isinstance(exc, LayerError | PathNotFoundError) else 400
    return error_reply(str(exc), status)


class DashboardRoute(APIRoute):
    """A route answering its own errors, so the router works inside any app."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (ConvlensError, RequestValidationError) as exc:
                return error_response(exc)

        return guarded


def _in(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise DashboardError(f"query parameter {name!r} is {value!r}: expected {lo:g}..{hi:g}")


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise DashboardError(f"query parameter 'kind' is {kind!r}: expected 'weight' or 'grad'")
    return kind


def _binary(arrays: dict[str, np.ndarray], **meta: Any) -> Response:
    return Response(pack(arrays, **meta), media_type=BINARY, headers={"Cache-Control": "no-store"})


def make_router(runs: list[str | Path | Run | RunSource]) -> APIRouter:
    """The dashboard's routes over ``runs`` (run directories, Runs or RunSources).

    >>> # app.include_router(make_router(["runs/lr-small", "runs/lr-large"]))
    """
    sources = open_sources(runs)
    static = static_files("dashboard")
    # The wire format shared with the explorer, imported by api.js as "./wire.js".
    static["wire.js"] = static_files()["wire.js"]
    router = APIRouter(route_class=DashboardRoute)

    def source(rid: int) -> RunSource:
        if not 0 <= rid < len(sources):
            raise DashboardNotFound(
                f"run {rid} is not open: expected a run index from 0 to {len(sources) - 1}"
            )
        return sources[rid]

    @router.get("/dashboard")
    def dashboard_redirect() -> Response:
        return RedirectResponse("/dashboard/")

    @router.get("/dashboard/")
    def dashboard_page() -> Response:
        body, kind = static["dashboard.html"]
        return Response(body, media_type=kind, headers={"Cache-Control": "no-cache"})

    @router.get("/dashboard/static/{name}")
    def dashboard_static(name: str) -> Response:
        if name not in static:
            raise DashboardNotFound(
                f"no dashboard file {name!r}: the dashboard ships only its own files"
            )
        body, kind = static[name]
        return Response(body, media_type=kind, headers={"Cache-Control": "no-cache"})

    @router.get("/api/dashboard/runs")
    def list_runs() -> dict[str, Any]:
        return {"runs": [dict(s.describe(), id=i) for i, s in enumerate(sources)]}

    @router.get("/api/dashboard/runs/{rid}/scalars.bin")
    def scalars(
        rid: int,
        tag: str,
        points: int = 1000,
        smooth: float = 0.6,
        start: float | None = None,
        end: float | None = None,
        since_step: int | None = None,
    ) -> Response:
        src = source(rid)
        _in("points", points, 16, 20_000)
        _in("smooth", smooth, 0.0, 0.999)
        steps, values = src.scalars(tag)
        smoothed = ema_smooth(values, smooth)
        meta: dict[str, Any] = {"tag": tag, "run": rid, "count": len(steps), "smooth": smooth}
        meta["last_step"] = int(steps[-1]) if len(steps) else None
        if since_step is not None:
            i0, i1 = step_range(steps, since_step + 1, None)
            if i1 - i0 > MAX_SINCE_POINTS:
                raise DashboardError(
                    f"{i1 - i0} points were logged after since_step={since_step}: expected at "
                    f"most {MAX_SINCE_POINTS}; fetch the curve without since_step"
                )
            idx = np.arange(i0, i1)
            return _binary(
                {
                    "raw_step": steps[idx].astype(np.float64),
                    "raw_value": values[idx].astype(np.float32),
                    "smooth_step": steps[idx].astype(np.float64),
                    "smooth_value": smoothed.value[idx].astype(np.float32),
                },
                **meta,
                since_step=since_step,
                buckets=0,
            )
        raw = minmax_downsample(steps, values, points, start, end)
        smo = minmax_downsample(steps, smoothed.value, points, start, end)
        return _binary(
            {
                "raw_step": raw.step.astype(np.float64),
                "raw_value": raw.value.astype(np.float32),
                "smooth_step": smo.step.astype(np.float64),
                "smooth_value": smo.value.astype(np.float32),
            },
            **meta,
            buckets=raw.buckets,
            in_range=raw.in_range,
            nonfinite=raw.nonfinite,
        )

    @router.get("/api/dashboard/runs/{rid}/bands.bin")
    def bands(rid: int, param: str, kind: str = "weight", rows: int = 2000) -> Response:
        src = source(rid)
        _in("rows", rows, 1, 20_000)
        h = src.histograms(param, _kind(kind))
        b = percentile_bands(h, rows)
        return _binary(
            {
                "step": b.step.astype(np.float64),
                "levels": b.levels.astype(np.float32),
                "percentiles": b.percentiles.astype(np.float32),
                "mean": b.mean.astype(np.float32),
            },
            run=rid,
            param=h.param,
            kind=kind,
            count=len(h.step),
            buckets=b.buckets,
        )

    @router.get("/api/dashboard/ridgeline.bin")
    def ridge(
        runs: str,
        param: str,
        kind: str = "weight",
        rows: int = 12,
        bins: int = 64,
        lo: float | None = None,
        hi: float | None = None,
    ) -> Response:
        try:
            ids = [int(t) for t in runs.split(",") if t.strip()]
        except ValueError:
            raise DashboardError(
                f"query parameter 'runs' is {runs!r}: expected run indices separated by "
                "commas, like 0,1"
            ) from None
        if not ids:
            raise DashboardError("query parameter 'runs' is empty: expected indices like 0,1")
        hists = [source(i).histograms(param, _kind(kind)) for i in ids]
        r = ridgeline(hists, rows, bins, lo, hi)
        return _binary(
            {
                "edges": r.edges.astype(np.float64),
                "targets": r.targets.astype(np.float64),
                "steps": r.steps.astype(np.float64),
                "density": r.density,
            },
            runs=ids,
            param=param,
            kind=kind,
        )

    @router.get("/api/dashboard/runs/{rid}/heatmaps.bin")
    def heatmaps(rid: int, param: str, snapshots: int = 8, side: int = 256) -> Response:
        src = source(rid)
        h = weight_heatmaps(src.checkpoints(), param, snapshots, side)
        return _binary(
            {"steps": h.steps.astype(np.float64), "images": h.images.astype(np.float16)},
            run=rid,
            param=param,
            factor=h.factor,
            shape=list(h.shape),
            scale=h.scale,
        )

    router.sources = sources  # type: ignore[attr-defined]
    return router
