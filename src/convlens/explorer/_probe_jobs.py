"""Background probes of the live explorer: a queue run one job at a time, each job in
its own process (:mod:`convlens.probe_job`), its progress read from the
progress bar on its stderr (``done/total``) and its failure kept as one line.

Used by :mod:`convlens.explorer.live`.
"""

from __future__ import annotations

import collections
import re
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any

_PROGRESS = re.compile(rb"(\d+)/(\d+)\s*\[")

__all__ = ["ProbeJob", "Prober"]


@dataclass
class ProbeJob:
    """One background probe: ``state`` is queued, probing, done or failed."""

    rid: int
    checkpoint: str
    argv: list[str]
    state: str = "queued"
    done: int = 0
    total: int = 0
    error: str | None = None
    process: Any = field(default=None, repr=False)

    def json(self) -> dict[str, Any]:
        return {"state": self.state, "done": self.done, "total": self.total, "error": self.error}


class Prober:
    """Runs queued probe jobs one at a time, each in a child process."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[int, str], ProbeJob] = {}
        self._queue: collections.deque[ProbeJob] = collections.deque()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def submit(self, job: ProbeJob) -> ProbeJob:
        with self._wake:
            old = self.jobs.get((job.rid, job.checkpoint))
            if old is not None and old.state in ("queued", "probing"):
                return old
            self.jobs[(job.rid, job.checkpoint)] = job
            self._queue.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, daemon=True)
                self._thread.start()
            self._wake.notify()
        return job

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
                job = self._queue.popleft()
                job.state = "probing"
            self._run(job)

    def _run(self, job: ProbeJob) -> None:
        try:
            job.process = subprocess.Popen(
                job.argv,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            job.state, job.error = "failed", f"the probe could not start ({exc})"
            return
        tail = b""
        lines: list[bytes] = []
        stream = job.process.stderr
        while True:
            chunk = stream.read1(4096)
            if not chunk:
                break
            tail += chunk
            parts = re.split(rb"[\r\n]", tail)
            tail = parts.pop()
            for part in parts:
                found = _PROGRESS.findall(part)
                if found:
                    job.done, job.total = (int(v) for v in found[-1])
                elif part.strip():
                    lines.append(part.strip())
        code = job.process.wait()
        if tail.strip():
            lines.append(tail.strip())
        if code == 0:
            job.state, job.done = "done", max(job.done, job.total)
            return
        errors = [ln for ln in lines if ln.startswith(b"error:")]
        last = (errors or lines or [f"exit status {code}".encode()])[-1]
        job.error = last.decode(errors="replace").removeprefix("error: ")[:500]
        job.state = "failed"

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
            running = [j for j in self.jobs.values() if j.state == "probing"]
        for job in running:
            if job.process is not None and job.process.poll() is None:
                job.process.terminate()
                try:
                    job.process.wait(10)
                except subprocess.TimeoutExpired:
                    job.process.kill()
