"""``log.sqlite``: the schema and the writer of a run's training log.

The log is one SQLite file in write-ahead-log mode, so readers (``convlens runs
show``, the dashboard) can follow it while training writes. Tables::

    meta(key, value)                      schema version, percentile levels, status,
                                          pid, host, heartbeat ("updated", unix time)
    tags(id, name)                        scalar tag names, e.g. "train/loss"
    scalars(tag_id, step, wall, value)    primary key (tag_id, step): one tag's
                                          curve is one contiguous range scan
    params(id, name)                      parameter names, e.g. "conv1.weight"
    histograms(param_id, kind, step, wall, count, nonfinite, min, max, mean, std,
               percentiles, edges, counts)
                                          kind is "weight" or "grad"; percentiles
                                          float32 BLOB (P,), edges float64 BLOB
                                          (B + 1,), counts uint32 BLOB (B,), all
                                          little-endian without header (empty
                                          edges and counts when count is 0);
                                          unique index (param_id, kind, step)

The full description, for tools that read the file without convlens, is
``docs/log-format.md``.

Rows are buffered and committed in small transactions at least every
``flush_seconds`` (0.5 s by default) by a background thread, so a reader sees a
logged value within about a second. A killed writer loses at most that buffer;
every committed transaction survives ``kill -9``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError
from .histograms import PERCENTILES, Summary

SCHEMA = "convlens-log/1"

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS scalars (
    tag_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    wall REAL NOT NULL,
    value REAL,
    PRIMARY KEY (tag_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS params (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS histograms (
    param_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    step INTEGER NOT NULL,
    wall REAL NOT NULL,
    count INTEGER NOT NULL,
    nonfinite INTEGER NOT NULL,
    min REAL, max REAL, mean REAL, std REAL,
    percentiles BLOB NOT NULL,
    edges BLOB NOT NULL,
    counts BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS histograms_param_kind_step
    ON histograms (param_id, kind, step);
CREATE INDEX IF NOT EXISTS histograms_step ON histograms (step);
"""


def _le(values: np.ndarray, dtype: str) -> bytes:
    """The raw little-endian bytes of ``values`` as ``dtype`` (the stored blob layout)."""
    return np.ascontiguousarray(values, dtype=dtype).tobytes()


def _uri(path: Path, query: str) -> str:
    """A ``file:`` URI for ``path`` (any bytes of the path, UTF-8 or not, percent-encoded)."""
    raw = os.fsencode(Path(path).resolve())
    return "file:" + urllib.parse.quote_from_bytes(raw, safe="/") + "?" + query


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """A writer's connection in autocommit mode (each statement sees the newest commits).

    Readers use :func:`connect_reader`, which never writes to the run.
    """
    return _open(_uri(path, "mode=" + ("rwc" if create else "rw")))


def connect_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection that writes nothing into the run's folder.

    - A log with a ``-wal`` file beside it is being written, or its writer stopped
      without closing: it is opened read-only (``mode=ro``), which sees the newest
      commits, the write-ahead log included.
    - A log without one was closed cleanly: it is opened ``immutable``, so SQLite
      creates no ``-wal``/``-shm`` files and the run may sit on read-only storage.
    - If ``mode=ro`` cannot start (a read-only folder holding a stale ``-wal``), the
      log is read ``immutable``: what the crashed writer left in the ``-wal`` is not
      seen, and nothing is lost or changed.
    """
    path = Path(path)
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        try:
            con = _open(_uri(path, "mode=ro"))
            con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return con
        except sqlite3.OperationalError:
            pass
    return _open(_uri(path, "mode=ro&immutable=1"))


def _open(uri: str) -> sqlite3.Connection:
    con = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10.0
    )
    con.execute("PRAGMA busy_timeout = 10000")
    return con


@contextmanager
def _log_writes(path: Path, con: sqlite3.Connection | None = None) -> Iterator[None]:
    """A write to the log that the disk refuses (full, read-only, over the file size
    limit) as one :class:`~convlens.errors.OutputError` line; an open transaction is
    rolled back."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if con is not None and con.in_transaction:
            with suppress(sqlite3.Error):
                con.execute("ROLLBACK")
        raise OutputError(
            f"cannot write the training log {str(path)!r} ({exc}): the disk may be full or "
            "read-only, or the file over the size limit; free some space or write elsewhere"
        ) from None


class LogWriter:
    """Appends scalars and histogram summaries to ``log.sqlite``; thread-safe.

    >>> # w = LogWriter(run.log_path); w.scalar("train/loss", 1, 0.7); w.close()
    """

    def __init__(self, path: str | Path, *, flush_seconds: float = 0.5, max_rows: int = 2000):
        self.path = Path(path)
        self.flush_seconds = flush_seconds
        self.max_rows = max_rows
        self._lock = threading.RLock()
        with _log_writes(self.path):
            self._con = connect(self.path, create=True)
            self._con.execute("PRAGMA journal_mode = WAL")
            self._con.execute("PRAGMA synchronous = NORMAL")
            self._con.executescript(_DDL)
        self._tag_ids: dict[str, int] = dict(
            (n, i) for i, n in self._con.execute("SELECT id, name FROM tags")
        )
        self._param_ids: dict[str, int] = dict(
            (n, i) for i, n in self._con.execute("SELECT id, name FROM params")
        )
        self._scalars: list[tuple[int, int, float, float]] = []
        self._hists: list[tuple[Any, ...]] = []
        self._last_flush = time.monotonic()
        self._closed = False
        self.set_meta(
            schema=SCHEMA,
            percentiles=",".join(f"{p:g}" for p in PERCENTILES),
            status="running",
            pid=os.getpid(),
            host=socket.gethostname(),
            updated=time.time(),
        )
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="convlens-log", daemon=True)
        self._flusher.start()

    # ------------------------------------------------------------------ writing
    def _id(self, table: str, cache: dict[str, int], name: str) -> int:
        if name not in cache:
            self._con.execute(f"INSERT OR IGNORE INTO {table} (name) VALUES (?)", (name,))
            (cache[name],) = self._con.execute(
                f"SELECT id FROM {table} WHERE name = ?", (name,)
            ).fetchone()
        return cache[name]

    def scalar(self, tag: str, step: int, value: float, wall: float | None = None) -> None:
        """Buffer one scalar value of ``tag`` at ``step`` (a later value replaces it)."""
        with self._lock:
            tag_id = self._id("tags", self._tag_ids, tag)
            self._scalars.append((tag_id, int(step), wall or time.time(), float(value)))
            self._maybe_flush()

    def histogram(
        self, param: str, kind: str, step: int, s: Summary, wall: float | None = None
    ) -> None:
        """Buffer one summary of parameter ``param`` (``kind`` "weight" or "grad")."""
        with self._lock:
            pid = self._id("params", self._param_ids, param)
            blobs = (_le(s.percentiles, "<f4"), _le(s.edges, "<f8"), _le(s.counts, "<u4"))
            self._hists.append(
                (pid, kind, int(step), wall or time.time(), s.count, s.nonfinite, s.min, s.max,
                 s.mean, s.std, *blobs)
            )  # fmt: skip
            self._maybe_flush()

    def set_meta(self, **items: object) -> None:
        """Write ``meta`` keys at once (committed immediately)."""
        with self._lock:
            self._con.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, str(v)) for k, v in items.items()],
            )

    def truncate_after(self, step: int) -> None:
        """Drop every row logged after ``step`` (used when resuming)."""
        with self._lock:
            self.flush()
            self._con.execute("BEGIN")
            self._con.execute("DELETE FROM scalars WHERE step > ?", (int(step),))
            self._con.execute("DELETE FROM histograms WHERE step > ?", (int(step),))
            self._con.execute("COMMIT")

    def _maybe_flush(self) -> None:
        pending = len(self._scalars) + len(self._hists)
        if pending >= self.max_rows or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Commit buffered rows in one transaction, and the heartbeat."""
        with self._lock:
            if self._closed:
                return
            scalars, hists = self._scalars, self._hists
            self._scalars, self._hists = [], []
            self._last_flush = time.monotonic()
            with _log_writes(self.path, self._con):
                self._commit(scalars, hists)

    def _commit(self, scalars: list[Any], hists: list[Any]) -> None:
        """Insert the rows and the heartbeat in one transaction."""
        self._con.execute("BEGIN")
        if scalars:
            self._con.executemany(
                "INSERT OR REPLACE INTO scalars (tag_id, step, wall, value) VALUES (?, ?, ?, ?)",
                scalars,
            )
        if hists:
            self._con.executemany(
                "INSERT OR REPLACE INTO histograms (param_id, kind, step, wall, count, "
                "nonfinite, min, max, mean, std, percentiles, edges, counts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                hists,
            )
        self._con.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('updated', ?)",
            (str(time.time()),),
        )
        self._con.execute("COMMIT")

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                with self._lock:
                    if self._closed:
                        return
                    if time.monotonic() - self._last_flush >= self.flush_seconds:
                        self.flush()
            except sqlite3.Error:  # the file went away; the main thread will report it
                return

    def close(self, status: str = "finished") -> None:
        """Flush, mark the log ``status`` ("finished", "failed", ...) and close."""
        self._stop.set()
        if self._flusher.is_alive() and self._flusher is not threading.current_thread():
            self._flusher.join()
        with self._lock:
            if self._closed:
                return
            self.flush()
            self.set_meta(status=status, updated=time.time())
            self._closed = True
            self._con.close()
