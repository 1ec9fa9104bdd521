"""A writer thread: the rows of a batch go to disk while the next batch is computed.

Each streamed array's rows arrive in order, batch by batch; :class:`Stream` gathers
them into whole chunks and writes each chunk once (by direct I/O where
:func:`~convlens.probe._chunks.direct_folder` allows, else through ``zarr``), so no
chunk is read back and rewritten. ``flush`` puts a chunk that is still filling on
disk too, before a saved partial counts its rows.

Example::

    io = Writer({"outputs/label": Stream(store.open_rw("outputs/label"), start=0)})
    io.put({"outputs/label": (0, labels)})
    io.call(io.flush)
    io.close()
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import zarr

from ._chunks import aligned_buffer, chunk_file, direct_folder, write_rows

__all__ = ["Stream", "Writer"]


class Stream:
    """Rows ``start:`` of ``array`` (chunked along its first axis), written chunk by chunk.

    A stream that starts inside a chunk (a resumed probe) first reads back the rows of
    that chunk before ``start``, so that it can still write the chunk whole.
    """

    def __init__(self, array: zarr.Array, start: int = 0):
        self.array = array
        self.rows = int(array.chunks[0])
        self.folder = direct_folder(array)
        dtype = array.dtype.newbyteorder("<")
        shape = (self.rows, *array.shape[1:])
        nbytes = dtype.itemsize * math.prod(shape)
        self.buffer = aligned_buffer(nbytes).view(dtype).reshape(shape)
        self.nbytes = nbytes
        self.chunk = start // self.rows
        self.filled = start - self.chunk * self.rows
        if self.filled:
            at = self.chunk * self.rows
            self.buffer[: self.filled] = array[at:start]

    @property
    def position(self) -> int:
        """The next row this stream expects (the array's length once it is full)."""
        return min(self.chunk * self.rows + self.filled, self.array.shape[0])

    def put(self, start: int, block: np.ndarray) -> None:
        """Rows ``start:start + len(block)``; ``start`` must be :attr:`position`."""
        if start != self.position:
            raise ValueError(f"rows must come in order: got row {start}, expected {self.position}")
        total = self.array.shape[0]
        while len(block):
            take = min(len(block), self.rows - self.filled)
            self.buffer[self.filled : self.filled + take] = block[:take]
            self.filled += take
            block = block[take:]
            if self.filled == self.rows or self.position == total:
                self._write(whole=True)
                self.chunk += 1
                self.filled = 0

    def flush(self) -> None:
        """Put the rows of the chunk that is still filling on disk."""
        if self.filled:
            self._write(whole=False)

    def _write(self, whole: bool) -> None:
        count = self.filled
        if self.folder is None:
            at = self.chunk * self.rows
            self.array[at : at + count] = self.buffer[:count]
            return
        path = chunk_file(self.folder, self.array, self.chunk)
        if whole:
            self.buffer[count:] = 0  # an edge chunk is stored at its full size, zero-padded
            write_rows(path, self.buffer.reshape(-1).view(np.uint8), 0, self.nbytes)
        else:
            part = self.buffer[:count].reshape(-1).view(np.uint8)
            write_rows(path, part, 0, self.nbytes)


class Writer:
    """Writes row blocks into streams in order; ``call`` runs a function in order too.

    A bounded queue keeps memory flat: ``put`` blocks when ``depth`` batches wait.
    An error in the thread is raised again by the next ``put``, ``call`` or ``close``.
    """

    def __init__(self, streams: Mapping[str, Stream], depth: int = 3):
        self.streams = dict(streams)
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
                        self.write(item)
            except BaseException as exc:
                self._error = exc
            finally:
                self._queue.task_done()

    def check(self) -> None:
        """Raise the thread's error, if it had one."""
        if self._error is not None:
            raise self._error

    def write(self, blocks: Mapping[str, tuple[int, np.ndarray]]) -> None:
        """Write now (in the calling thread): ``blocks[name] = (start row, rows)``."""
        for name, (start, block) in blocks.items():
            self.streams[name].put(start, block)

    def put(self, blocks: Mapping[str, tuple[int, np.ndarray]]) -> None:
        """Queue ``blocks[name] = (start row, rows)`` for the thread."""
        self.check()
        self._queue.put(dict(blocks))

    def flush(self) -> None:
        """Make every row queued so far whole on disk (run in the thread: queue it with
        ``call``), before a saved partial counts them."""
        for stream in self.streams.values():
            stream.flush()

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
