"""What each layer keeps: linear-probe accuracy per layer (and inversion error when
the synthesis module is present), written as Markdown + HTML with figures.

Linear probe: logistic regression on the stored embeddings, on a fixed stratified
train/test split (75/25) of at most ``max_images`` probed images. A spatial layer
(H, W, C) is first average-pooled to at most a 4 x 4 grid per channel, so it keeps
coarse position and every channel (conv1 of lenet: 24x24x20 -> 4x4x20 = 320
features); features are standardised on the training part.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import write_bytes
from ..render import save_png
from .result import ProbeResult

GRID = 4

__all__ = ["LayerReport", "linear_probe", "pooled_features", "write_report"]


@dataclass
class LayerReport:
    layer: str
    shape: tuple[int, ...]
    features: int
    train_accuracy: float
    test_accuracy: float
    inversion_error: float | None = None


def pooled_features(emb: np.ndarray, grid: int = GRID) -> np.ndarray:
    """(N, D) unchanged; (N, H, W, C) average-pooled to (N, min(H, g) * min(W, g) * C)."""
    emb = emb.astype(np.float32)
    if emb.ndim == 2:
        return emb
    _n, h, w, _c = emb.shape
    gh, gw = min(h, grid), min(w, grid)
    ys = np.linspace(0, h, gh + 1).round().astype(int)
    xs = np.linspace(0, w, gw + 1).round().astype(int)
    cells = [
        emb[:, ys[i] : ys[i + 1], xs[j] : xs[j + 1]].mean((1, 2))
        for i in range(gh)
        for j in range(gw)
    ]
    return np.concatenate(cells, axis=1)


def linear_probe(
    res: ProbeResult, layer: str, max_images: int = 4000, seed: int = 0
) -> LayerReport:
    """Logistic-regression accuracy of the layer's embeddings (see module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    labels = res.labels
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(len(res))[:max_images])
    x = pooled_features(res.embeddings_array(layer).oindex[rows])
    y = labels[rows]
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    xtr, xte, ytr, yte = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=stratify
    )
    scaler = StandardScaler().fit(xtr)
    with threadpool_limits(1):
        clf = LogisticRegression(max_iter=300, C=1.0)
        clf.fit(scaler.transform(xtr), ytr)
    return LayerReport(
        layer,
        res.layer_shape(layer),
        x.shape[1],
        float(clf.score(scaler.transform(xtr), ytr)),
        float(clf.score(scaler.transform(xte), yte)),
    )


def _inversion_error(res: ProbeResult, layer: str, steps: int) -> float | None:
    try:
        from ..synthesize import INVERSION, invert
    except ImportError:
        return None
    ds = res.dataset()
    image = ds.images[int(np.nonzero(ds.indices == res.indices[0])[0][0])]
    out = invert(
        res.run.model(res.checkpoint),
        image,
        layer,
        INVERSION.replace(steps=steps),
        data=res.run.normalization,
    )
    return float(np.asarray(out.errors).reshape(-1)[0])


def write_report(
    res: ProbeResult,
    out_dir: str | Path,
    layers: list[str] | None = None,
    max_images: int = 4000,
    inversion_steps: int = 100,
) -> list[LayerReport]:
    """Write ``report.md``, ``report.html`` and figures into ``out_dir``; return the rows.

    >>> # rows = write_report(open_run("runs/lenet").probe(), "runs/lenet/report")
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for layer in layers or res.layers:
        row = linear_probe(res, layer, max_images)
        if inversion_steps > 0:
            row.inversion_error = _inversion_error(res, layer, inversion_steps)
        rows.append(row)
    save_png(out / "accuracy.png", _bar_chart([r.test_accuracy for r in rows]))
    confusion = res.confusion()
    if confusion is not None:
        save_png(out / "confusion.png", _heat(confusion))
    write_bytes(out / "report.md", _markdown(res, rows, confusion is not None).encode())
    write_bytes(out / "report.html", _html(res, rows, confusion is not None).encode())
    return rows


def _table(rows: list[LayerReport]) -> list[list[str]]:
    inv = any(r.inversion_error is not None for r in rows)
    head = ["layer", "shape", "probe features", "train acc.", "test acc."]
    head += ["inversion error"] if inv else []
    body = [
        [
            r.layer,
            "x".join(map(str, r.shape)),
            str(r.features),
            f"{r.train_accuracy:.3f}",
            f"{r.test_accuracy:.3f}",
        ]
        + ([f"{r.inversion_error:.3f}" if r.inversion_error is not None else "-"] if inv else [])
        for r in rows
    ]
    return [head, *body]


def _intro(res: ProbeResult) -> str:
    return (
        f"Probe of checkpoint `{res.checkpoint}` over {len(res)} images of "
        f"`{res.data_spec}`. Linear probe: logistic regression, stratified 75/25 split "
        f"of at most 4,000 images; spatial layers average-pooled to a {GRID}x{GRID} grid "
        "per channel first."
    )


def _markdown(res: ProbeResult, rows: list[LayerReport], confusion: bool) -> str:
    table = _table(rows)
    lines = [
        "# What each layer keeps",
        "",
        _intro(res),
        "",
        "| " + " | ".join(table[0]) + " |",
        "|" + "---|" * len(table[0]),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table[1:]]
    lines += ["", "![test accuracy per layer](accuracy.png)", ""]
    if confusion:
        lines += ["![confusion matrix](confusion.png)", ""]
    return "\n".join(lines)


def _html(res: ProbeResult, rows: list[LayerReport], confusion: bool) -> str:
    table = _table(rows)
    cells = "".join(
        "<tr>" + "".join(f"<{t}>{html.escape(v)}</{t}>" for v in r) + "</tr>"
        for t, r in [("th", table[0])] + [("td", r) for r in table[1:]]
    )
    img = '<img src="confusion.png" alt="confusion matrix">' if confusion else ""
    return (
        f"<!doctype html><meta charset=utf-8><title>convlens report</title>"
        f"<h1>What each layer keeps</h1><p>{html.escape(_intro(res))}</p>"
        f"<table border=1 cellpadding=4>{cells}</table>"
        f'<p><img src="accuracy.png" alt="test accuracy per layer"> {img}</p>\n'
    )


def _bar_chart(values: list[float], height: int = 120, bar: int = 24) -> np.ndarray:
    img = np.full((height + 4, len(values) * (bar + 4) + 4, 3), 255, np.uint8)
    for i, v in enumerate(values):
        h = round(max(0.0, min(1.0, v)) * height)
        x0 = 4 + i * (bar + 4)
        img[height + 2 - h : height + 2, x0 : x0 + bar] = (60, 110, 200)
    return img


def _heat(m: np.ndarray, cell: int = 12) -> np.ndarray:
    v = np.log1p(m.astype(np.float64))
    v = (255 * (1 - v / max(v.max(), 1e-9))).astype(np.uint8)
    img = np.repeat(np.repeat(v, cell, 0), cell, 1)
    return np.stack([img, img, np.full_like(img, 255)], -1)
