"""A writer thread: the disk writes of a batch overlap the reductions of that batch."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import zarr

from ._chunks import RowChunks

__all__ = ["Writer"]


class Writer:
    """Writes row blocks into Zarr arrays in order; ``call`` runs a function in order too.

    A bounded queue keeps memory flat: ``put`` blocks when ``depth`` batches wait.
    An error in the thread is raised again by the next ``put`` or by ``close``.
    """

    def __init__(self, arrays: dict[str, zarr.Array], depth: int = 3):
        self.arrays = {name: RowChunks(a) for name, a in arrays.items()}
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="convlens-probe-writer")
        self._thread.daemon = True
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    if callable(item):
                        item()
                    else:
                        self.write(*item)
            except BaseException as exc:
                self._error = exc
            finally:
                self._queue.task_done()

    def check(self) -> None:
        """Raise the thread's error, if it had one."""
        if self._error is not None:
            raise self._error

    def write(self, start: int, blocks: dict[str, np.ndarray]) -> None:
        """Write now (in the calling thread): ``blocks[name]`` at rows ``start:``."""
        for name, block in blocks.items():
            self.arrays[name].write(start, block)

    def put(self, start: int, blocks: dict[str, np.ndarray]) -> None:
        """Write ``blocks[name]`` at rows ``start:start+len`` of each array."""
        self.check()
        self._queue.put((start, blocks))

    def flush(self) -> None:
        """Make every row queued so far whole on disk (run in the thread: queue it with
        ``call``), before a saved partial counts them."""
        for chunks in self.arrays.values():
            chunks.flush()

    def wait(self) -> None:
        """Block until everything queued so far is written (raising any error of the thread)."""
        self._queue.join()
        self.check()

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the thread after every write queued before it."""
        self.check()
        self._queue.put(fn)

    def abort(self) -> None:
        """Stop the thread after the queued work, without raising (cleanup path)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def close(self) -> None:
        """Finish every queued write (raising any error of the thread)."""
        self._queue.put(None)
        self._thread.join()
        self.check()
