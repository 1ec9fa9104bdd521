"""What each layer keeps: linear-probe accuracy per layer (and inversion error when
the synthesis module is present), written as Markdown + HTML with figures.

Figures (matplotlib, each with a JSON sidecar of the numbers it shows):
``accuracy.png`` (train and test accuracy per layer, the test value on each bar, the
chance level) and, for classifiers, ``confusion.png`` (the probe's confusion matrix of
the model's own predictions, with class names and the count in every cell).

Linear probe: logistic regression on the stored embeddings, on a fixed stratified
train/test split (75/25) of at most ``max_images`` probed images. A spatial layer
(H, W, C) is first average-pooled to at most a 4 x 4 grid per channel, so it keeps
coarse position and every channel (conv1 of lenet: 24x24x20 -> 4x4x20 = 320
features); a layer stored as a sample of its positions uses each channel's exact
mean over every position (a 1 x 1 grid). Features are standardised on the training part.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_bytes, writing
from ..errors import SpecError
from ..rundir import ProbeResult

GRID = 4

__all__ = [
    "LayerReport",
    "accuracy_chart",
    "confusion_chart",
    "linear_probe",
    "pooled_features",
    "write_report",
]


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
    if res.is_sampled(layer):  # each channel's mean over every position: a 1x1 grid
        x = res.image_means(layer)[rows]
    else:
        x = pooled_features(res.embeddings(layer, rows))
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
    counts = (("max_images", max_images, 2), ("inversion_steps", inversion_steps, 0))
    for name, value, low in counts:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise SpecError(
                f"{name}={value!r} is out of range: expected a whole number >= {low}"
                + ("; 0 skips the inversion" if name == "inversion_steps" else "")
            )
    out = Path(out_dir)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    rows = []
    for layer in layers or res.layers:
        row = linear_probe(res, layer, max_images)
        if inversion_steps > 0:
            row.inversion_error = _inversion_error(res, layer, inversion_steps)
        rows.append(row)
    from .figures import save_figure

    fig, record = accuracy_chart(res, rows)
    save_figure(fig, out / "accuracy.png", record)
    confusion = res.confusion()
    if confusion is not None:
        fig, record = confusion_chart(res, confusion)
        save_figure(fig, out / "confusion.png", record)
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


def _run_name(res: ProbeResult) -> str:
    return res.run.name if res.run is not None else str(res.path)


def accuracy_chart(res: ProbeResult, rows: list[LayerReport]) -> tuple[Any, dict[str, Any]]:
    """Bars of linear-probe test accuracy per layer (value on each bar), train accuracy as
    markers and the chance level as a line; returns (Figure, JSON record)."""
    from matplotlib.figure import Figure

    names = [r.layer for r in rows]
    test = [r.test_accuracy for r in rows]
    train = [r.train_accuracy for r in rows]
    counts = np.asarray(res.class_counts(), np.float64)
    chance = float((counts / counts.sum()).max()) if counts.sum() > 0 else 0.0
    fig = Figure(figsize=(max(5.0, 0.75 * len(rows) + 2.2), 3.8))
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    bars = ax.bar(x, test, width=0.6, color="#3d6fb5", label="test accuracy")
    ax.plot(x, train, "o", color="#f0a030", markersize=5, label="train accuracy")
    ax.axhline(chance, color="#888888", linestyle="--", linewidth=1, label=f"chance ({chance:.2f})")
    for bar, value in zip(bars, test, strict=True):
        ax.annotate(
            f"{value:.3f}",
            (bar.get_x() + bar.get_width() / 2, value),
            xytext=(0, -4),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=8,
            color="white",
            fontweight="bold",
        )
    ax.set_xticks(x)
    ax.set_xticklabels(
        names, rotation=30 if len(rows) > 6 else 0, ha="right" if len(rows) > 6 else "center"
    )
    ax.set_ylim(0, 1.22)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("linear-probe accuracy (fraction correct)")
    ax.set_xlabel("layer")
    ax.set_title(
        f"{_run_name(res)} · checkpoint {res.checkpoint}: what each layer keeps\n"
        f"logistic regression on each layer's embeddings, {len(res):,} probed images",
        fontsize=9,
    )
    ax.legend(loc="upper center", ncol=3, fontsize=7, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    record = {
        "figure": "accuracy",
        "run": _run_name(res),
        "checkpoint": res.checkpoint,
        "images": len(res),
        "chance": chance,
        "layers": [
            {
                "layer": r.layer,
                "features": r.features,
                "train": r.train_accuracy,
                "test": r.test_accuracy,
            }
            for r in rows
        ],
    }
    return fig, record


def confusion_chart(res: ProbeResult, matrix: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """The (K, K) confusion matrix with class names, a count in every cell and a colour
    bar; rows are true classes, columns predicted ones. Returns (Figure, JSON record)."""
    from matplotlib.figure import Figure

    m = np.asarray(matrix).astype(np.int64)
    k = len(m)
    classes = [str(c) for c in res.classes] or [str(i) for i in range(k)]
    side = max(4.2, 0.45 * k + 2.0)
    fig = Figure(figsize=(side + 1.0, side))
    ax = fig.add_subplot()
    image = ax.imshow(m, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="images")
    top = m.max() if m.size else 0
    for t in range(k):
        for p in range(k):
            ax.text(
                p,
                t,
                str(m[t, p]),
                ha="center",
                va="center",
                fontsize=7 if k > 12 else 8,
                color="white" if m[t, p] > top / 2 else "black",
            )
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(classes, rotation=45 if k > 10 else 0, fontsize=8)
    ax.set_yticklabels(classes, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = int(m.sum())
    accuracy = float(np.trace(m)) / total if total else 0.0
    ax.set_title(
        f"{_run_name(res)} · checkpoint {res.checkpoint}\nconfusion of the model's predictions "
        f"on {total:,} images (accuracy {accuracy:.3f})",
        fontsize=9,
    )
    fig.tight_layout()
    record = {
        "figure": "confusion",
        "run": _run_name(res),
        "checkpoint": res.checkpoint,
        "classes": classes,
        "rows": "true class",
        "columns": "predicted class",
        "matrix": m.tolist(),
        "accuracy": accuracy,
    }
    return fig, record
