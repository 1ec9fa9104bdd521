"""One opened run as the dashboard reads it: its log (cached, followed while it
grows) and its checkpoints. Only the files of the runs opened at start are read."""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import suggestion
from ...record import Histograms, LogReader, open_log
from ...record.logdb import connect_reader
from ...rundir import Checkpoint, Run, open_run
from .errors import DashboardNotFound


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class RunSource:
    """The log and checkpoints of one run, for the dashboard (thread-safe).

    Curves and histograms are cached and extended with only the rows logged
    since the last read, so following a growing log costs one small query.

    >>> # src = RunSource(convlens.open_run("runs/lenet")); src.scalars("train/loss")
    """

    def __init__(self, run: Run, label: str | None = None):
        self.run = run
        self.label = label or run.name
        self._log: LogReader = open_log(run)
        self._con = connect_reader(self._log.path)  # curves: two columns, one query
        self._lock = threading.Lock()
        self._scalars: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._hists: dict[tuple[str, str], Histograms] = {}

    def close(self) -> None:
        self._log.close()
        self._con.close()

    # ----------------------------------------------------------------- describe
    def tags(self) -> list[str]:
        with self._lock:
            return self._log.tags()

    def params(self) -> list[str]:
        with self._lock:
            return self._log.params()

    def checkpoints(self) -> list[Checkpoint]:
        return self.run.checkpoints

    def describe(self) -> dict[str, Any]:
        """JSON: label, name, model, training options, tags, params, progress."""
        with self._lock:
            meta = self._log.meta()
            info = {
                "label": self.label,
                "name": self.run.name,
                "model": self.run.manifest.model.get("spec"),
                "training": _json_safe(dict(self.run.manifest.training)),
                "tags": self._log.tags(),
                "params": self._log.params(),
                "last_step": self._log.last_step(),
                "writing": self._log.writing(),
                "status": meta.get("status"),
                "hist_step": self._hist_last_step(),
            }
        info["checkpoints"] = [c.step for c in self.checkpoints()]
        return info

    def _hist_last_step(self) -> int | None:
        con = self._log._con  # the reader's own read connection (schema: convlens-log/1)
        row = con.execute("SELECT MAX(step) FROM histograms").fetchone()
        return None if row[0] is None else int(row[0])

    # ------------------------------------------------------------------ scalars
    def check_tag(self, tag: str) -> str:
        tags = self.tags()
        if tag not in tags:
            raise DashboardNotFound(
                f"tag {tag!r} is not logged in run {self.label!r}: expected one of its scalar "
                f"tags; {suggestion(tag, tags, 'tags')}"
            )
        return tag

    def scalars(self, tag: str) -> tuple[np.ndarray, np.ndarray]:
        """The whole curve of ``tag``: steps (T,) int64, values (T,) float64."""
        self.check_tag(tag)
        with self._lock:
            cached = self._scalars.get(tag)
            last = self._log.last(tag)
            rewound = last is None or (cached is not None and last[0] < cached[0][-1])
            if cached is not None and len(cached[0]) and rewound:  # a resumed run
                cached = None
            since = int(cached[0][-1]) if cached is not None and len(cached[0]) else None
            steps, values = self._read_scalars(tag, since)
            if cached is None:
                cached = (steps, values)
            elif len(steps):
                cached = (np.r_[cached[0], steps], np.r_[cached[1], values])
            self._scalars[tag] = cached
            return cached

    def _read_scalars(self, tag: str, since: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Steps and values of ``tag`` after ``since`` (schema convlens-log/1), read as two
        columns (about twice as fast as :meth:`LogReader.scalars`, which adds wall times)."""
        rows = self._con.execute(
            "SELECT s.step, s.value FROM scalars s JOIN tags t ON t.id = s.tag_id "
            "WHERE t.name = ? AND s.step > ? ORDER BY s.step",
            (tag, -(2**62) if since is None else since),
        ).fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0)
        table = np.array(rows, dtype=np.float64)  # a NULL value (NaN logged) becomes nan
        return table[:, 0].astype(np.int64), table[:, 1].copy()

    # --------------------------------------------------------------- histograms
    def check_param(self, param: str) -> str:
        params = self.params()
        if param not in params and f"{param}.weight" in params:
            return f"{param}.weight"  # a layer name stands for its weight, as in the log reader
        if param not in params:
            raise DashboardNotFound(
                f"parameter {param!r} has no histograms in run {self.label!r}: expected a "
                f"parameter name like 'conv1.weight'; {suggestion(param, params, 'parameters')}"
            )
        return param

    def histograms(self, param: str, kind: str) -> Histograms:
        """Every summary of ``param`` (``kind`` "weight" or "grad"), by step."""
        param = self.check_param(param)
        with self._lock:
            key = (param, kind)
            cached = self._hists.get(key)
            last = self._hist_last_step()
            if cached is not None and len(cached.step) and (last or 0) < cached.step[-1]:
                cached = None
            since = int(cached.step[-1]) if cached is not None and len(cached.step) else None
            new = self._log.histograms(param, kind, since_step=since)
            if cached is None:
                cached = new
            elif len(new.step):
                cached = _concat(cached, new)
            self._hists[key] = cached
            return cached


def _concat(a: Histograms, b: Histograms) -> Histograms:
    joined = {}
    for f in fields(Histograms):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name in ("param", "kind", "levels"):
            continue
        if x.ndim == 2 and y.ndim == 2 and x.shape[1] != y.shape[1]:
            width = max(x.shape[1], y.shape[1])
            x, y = (np.pad(z, ((0, 0), (0, width - z.shape[1]))) for z in (x, y))
        joined[f.name] = np.concatenate([x, y])
    return replace(a, **joined)


def open_sources(runs: list[str | Path | Run | RunSource]) -> list[RunSource]:
    """A :class:`RunSource` per run; labels are run names, made unique with the
    parent folder (``a/lenet``, ``b/lenet``) when two runs share a name."""
    opened = [r if isinstance(r, RunSource | Run) else open_run(r) for r in runs]
    runs_only = [r.run if isinstance(r, RunSource) else r for r in opened]
    names = Counter(r.name for r in runs_only)
    sources = []
    for item, run in zip(opened, runs_only, strict=True):
        if isinstance(item, RunSource):
            sources.append(item)
            continue
        label = run.name
        if names[label] > 1:
            label = f"{run.path.resolve().parent.name}/{run.name}"
        sources.append(RunSource(run, label))
    return sources
