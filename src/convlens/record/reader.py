"""Reading ``log.sqlite``, also while training still writes it.

>>> # log = open_log("runs/lenet"); steps, walls, values = log.scalars("train/loss")
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import PathNotFoundError, RunError
from .histograms import PERCENTILES
from .logdb import connect_reader

LOG_NAME = "log.sqlite"


class Scalars(NamedTuple):
    """One tag's curve: ``step`` (T,) int64, ``wall`` (T,) float64 unix seconds,
    ``value`` (T,) float64, ordered by step."""

    step: np.ndarray
    wall: np.ndarray
    value: np.ndarray


@dataclass(frozen=True)
class Histograms:
    """One parameter's distribution over time, T summaries ordered by step.

    ``step``, ``wall``, ``count``, ``nonfinite``, ``min``, ``max``, ``mean``,
    ``std``: (T,); ``percentiles`` (T, P) float32 at ``levels`` (P,) percent;
    ``edges`` (T, B + 1) float64 and ``counts`` (T, B) uint32 (the histogram; a
    summary of no finite values has NaN edges and zero counts).
    """

    param: str
    kind: str
    step: np.ndarray
    wall: np.ndarray
    count: np.ndarray
    nonfinite: np.ndarray
    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    levels: np.ndarray
    percentiles: np.ndarray
    edges: np.ndarray
    counts: np.ndarray


class LogReader:
    """Read-only access to a run's training log; every call sees the newest commits."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self._con = connect_reader(self.path)
            self._con.execute("SELECT 1 FROM scalars LIMIT 1")
        except sqlite3.Error as exc:
            raise RunError(
                f"training log {str(self.path)!r} cannot be read ({exc}): expected a "
                "log.sqlite written by convlens.record; it was left as it is: check that it "
                "is the run's own log and that it is readable"
            ) from None

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- scalars
    def tags(self) -> list[str]:
        """Scalar tag names that have at least one value, sorted."""
        rows = self._con.execute(
            "SELECT name FROM tags WHERE EXISTS (SELECT 1 FROM scalars WHERE tag_id = tags.id) "
            "ORDER BY name"
        )
        return [r[0] for r in rows]

    def _tag_id(self, tag: str) -> int | None:
        row = self._con.execute("SELECT id FROM tags WHERE name = ?", (tag,)).fetchone()
        return None if row is None else int(row[0])

    def scalars(self, tag: str, since_step: int | None = None) -> Scalars:
        """The values of ``tag`` (steps after ``since_step`` only, when given).

        An unknown tag gives empty arrays (it may not be logged yet).

        >>> # s = log.scalars("val/acc"); s.step[-1], s.value[-1]
        """
        tag_id = self._tag_id(tag)
        if tag_id is None:
            return Scalars(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        lo = -(2**62) if since_step is None else int(since_step)
        rows = self._con.execute(
            "SELECT step, wall, value FROM scalars WHERE tag_id = ? AND step > ? ORDER BY step",
            (tag_id, lo),
        ).fetchall()
        if not rows:
            return Scalars(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        arr = np.array(rows, dtype=np.float64)  # a NaN value is stored as NULL -> nan
        return Scalars(arr[:, 0].astype(np.int64), arr[:, 1].copy(), arr[:, 2].copy())

    def last(self, tag: str) -> tuple[int, float] | None:
        """The last (step, value) of ``tag``, or None."""
        tag_id = self._tag_id(tag)
        if tag_id is None:
            return None
        row = self._con.execute(
            "SELECT step, value FROM scalars WHERE tag_id = ? ORDER BY step DESC LIMIT 1",
            (tag_id,),
        ).fetchone()
        return None if row is None else (int(row[0]), float(row[1]))

    # -------------------------------------------------------------- histograms
    def params(self) -> list[str]:
        """Parameter names with histograms (e.g. ``"conv1.weight"``), in logging order."""
        rows = self._con.execute(
            "SELECT name FROM params WHERE EXISTS "
            "(SELECT 1 FROM histograms WHERE param_id = params.id) ORDER BY id"
        )
        return [r[0] for r in rows]

    def histograms(
        self, layer: str, kind: str = "weight", since_step: int | None = None
    ) -> Histograms:
        """The summaries of one parameter over time.

        ``layer`` is a parameter name (``"conv1.bias"``) or a layer name
        (``"conv1"``, meaning its ``weight``); ``kind`` is ``"weight"`` or ``"grad"``.

        >>> # h = log.histograms("conv1", "grad"); h.percentiles[:, 4]  # medians
        """
        if kind not in ("weight", "grad"):
            raise RunError(f"histogram kind {kind!r} is unknown: expected 'weight' or 'grad'")
        names = self.params()
        param = layer if layer in names else f"{layer}.weight"
        if param not in names:
            from ..errors import suggestion

            raise RunError(
                f"no histograms of {layer!r} in {str(self.path)!r}: expected a parameter or "
                f"layer name; {suggestion(layer, names, 'parameters')}"
            )
        lo = -(2**62) if since_step is None else int(since_step)
        rows = self._con.execute(
            "SELECT h.step, h.wall, h.count, h.nonfinite, h.min, h.max, h.mean, h.std, "
            "h.percentiles, h.edges, h.counts FROM histograms h JOIN params p "
            "ON p.id = h.param_id WHERE p.name = ? AND h.kind = ? AND h.step > ? ORDER BY h.step",
            (param, kind, lo),
        ).fetchall()
        levels = np.array(self._levels(), np.float32)

        def col(i: int, dtype: Any) -> np.ndarray:
            return np.array([r[i] if r[i] is not None else np.nan for r in rows], dtype=dtype)

        def blobs(i: int, dtype: Any, width: int | None, fill: float) -> np.ndarray:
            # a summary of no finite values stores empty edges and counts: its row
            # is padded with ``fill`` to the others' width
            parts = [np.frombuffer(r[i], dtype=dtype) for r in rows]
            w = width if width is not None else max((p.size for p in parts), default=0)
            out = np.full((len(rows), w), fill, dtype)
            for t, part in enumerate(parts):
                out[t, : part.size] = part[:w]
            return out

        return Histograms(
            param=param,
            kind=kind,
            step=col(0, np.int64),
            wall=col(1, np.float64),
            count=col(2, np.int64),
            nonfinite=col(3, np.int64),
            min=col(4, np.float64),
            max=col(5, np.float64),
            mean=col(6, np.float64),
            std=col(7, np.float64),
            levels=levels,
            percentiles=blobs(8, np.dtype("<f4"), len(levels), np.nan),
            edges=blobs(9, np.dtype("<f8"), None, np.nan),
            counts=blobs(10, np.dtype("<u4"), None, 0),
        )

    # ------------------------------------------------------------------- state
    def meta(self) -> dict[str, str]:
        """The ``meta`` table: schema, percentiles, status, pid, host, updated."""
        return dict(self._con.execute("SELECT key, value FROM meta").fetchall())

    def _levels(self) -> list[float]:
        text = self.meta().get("percentiles")
        return [float(v) for v in text.split(",")] if text else list(PERCENTILES)

    def last_step(self) -> int | None:
        """The highest step logged so far (scalars or histograms), or None."""
        a = self._con.execute("SELECT MAX(step) FROM scalars").fetchone()[0]
        b = self._con.execute("SELECT MAX(step) FROM histograms").fetchone()[0]
        steps = [s for s in (a, b) if s is not None]
        return max(steps) if steps else None

    def writing(self) -> bool | None:
        """True while a writer is alive, False when it finished or died, None if unknown.

        A writer on this host is alive when its process exists; on another host,
        when its heartbeat is under 10 s old.
        """
        m = self.meta()
        if m.get("status") != "running":
            return False
        if m.get("host") == socket.gethostname() and m.get("pid", "").isdigit():
            try:
                os.kill(int(m["pid"]), 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return _not_zombie(int(m["pid"]))
        try:
            return time.time() - float(m.get("updated", "0")) < 10.0
        except ValueError:
            return None


def _not_zombie(pid: int) -> bool:
    """False for a process that has exited but not been reaped (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def open_log(path_or_run: Any) -> LogReader:
    """A :class:`LogReader` for a run (a :class:`~convlens.rundir.Run`, its directory,
    or the ``log.sqlite`` path).

    >>> # log = open_log("demo-runs/lenet"); log.tags(); log.last_step()
    """
    path = Path(getattr(path_or_run, "log_path", path_or_run))
    if path.is_dir():
        path = path / LOG_NAME
    if not path.exists():
        if not path.parent.exists():
            raise PathNotFoundError(
                f"run directory {str(path.parent)!r} does not exist; check the path"
            )
        raise RunError(
            f"{str(path.parent)!r} has no training log ({LOG_NAME}): expected a run written "
            "by `convlens train` or convlens.record.Recorder"
        )
    return LogReader(path)
