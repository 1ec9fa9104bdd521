"""The explorer's guide: which cells of a layer's matrix to look at, served.

Route (mounted by :func:`convlens.explorer.create_app`)::

    GET /api/runs/{rid}/layers/{layer}/ranking.bin?proj=raw|pca&checkpoint=NAME

Reply: a binary message (:mod:`convlens.explorer.binary`) with ``screen`` (D, D)
float32, the screening score of every dimension pair (the overview's heat map), and
a header with ``pairs`` (the refined pairs and their measures, best first),
``measures``, ``labelled``, ``cost`` and, for a 2-D layer, ``spread`` (one row per
class; :func:`convlens.explorer.ranking.class_spread`).

The ranking is computed from a plain (P, D) matrix of the layer's stored points and
their labels (:func:`layer_points`), so it does not care how the points were chosen.
It is computed once per (layer, projection, snapshot) and cached with the view.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter
from fastapi.responses import Response

from ._http import BINARY, choice
from .binary import pack
from .ranking import class_spread, rank_pairs
from .session import PROJECTIONS, RunView

__all__ = ["layer_points", "make_router", "ranking_message"]


def layer_points(
    view: RunView, layer: str, projection: str = "raw", checkpoint: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The stored points of ``layer`` as (P, D) and the class label of each (P,).

    A point is one image at one feature-map position: the image's label is the
    point's. A sampled layer's points are the positions the probe kept (the same
    number per image, rows in order). ``projection="pca"`` gives the layer's PCA
    coordinates instead of its dimensions. The (P, D) array is a view on the cached
    points (no copy).

    >>> # points, labels = layer_points(view, "pool2")   # (N*4*4, 50), (N*4*4,)
    """
    view.layer(layer)
    probe = view.probe_at(checkpoint)
    if projection == "pca":
        values = np.asarray(probe.projection(layer, method="pca"))
    else:
        values, _ = view.points(layer, probe.checkpoint)
    points = values.reshape(-1, values.shape[-1])
    per_image = len(points) // max(1, len(probe))  # a sampled layer keeps as many per image
    labels = np.repeat(np.asarray(probe.labels), per_image)
    return points, labels


def ranking_message(
    view: RunView, layer: str, projection: str = "raw", checkpoint: str | None = None
) -> bytes:
    """The binary ranking reply of one layer (see the module docstring), cached."""
    view.layer(layer)
    probe = view.probe_at(checkpoint)

    def make() -> bytes:
        points, labels = layer_points(view, layer, projection, probe.checkpoint)
        classes = view.run.classes
        meta: dict[str, Any] = {"layer": layer, "projection": projection}
        meta["checkpoint"] = probe.checkpoint
        dims = points.shape[1]
        if dims < 2:
            return pack(
                {"screen": np.zeros((dims, dims), np.float32)},
                **meta,
                dims=dims,
                pairs=[],
                measures=[],
                labelled=False,
                cost={"points": len(points), "pairs": 0},
                spread=None,
            )
        ranking = rank_pairs(points, labels)
        spread = None
        if dims == 2:
            spread = class_spread(points, labels)
            for row in spread:
                label = row["label"]
                row["name"] = classes[label] if 0 <= label < len(classes) else str(label)
        return pack(
            {"screen": ranking.screen},
            **meta,
            dims=dims,
            pairs=ranking.pairs,
            measures=list(ranking.measures),
            labelled=ranking.labelled,
            cost=ranking.cost,
            spread=spread,
        )

    return view._cache.get(("ranking", layer, projection, probe.checkpoint), make, len)


def make_router(views: Any) -> APIRouter:
    """The guide's route over the opened runs ``views`` (anything ``pick_view`` takes)."""
    from .routes import pick_view

    router = APIRouter()

    @router.get("/api/runs/{rid}/layers/{layer}/ranking.bin")
    def ranking(rid: int, layer: str, proj: str = "raw", checkpoint: str | None = None) -> Response:
        message = ranking_message(
            pick_view(views, rid), layer, choice("proj", proj, PROJECTIONS), checkpoint
        )
        return Response(message, media_type=BINARY)

    return router
