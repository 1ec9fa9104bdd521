"""The live explorer: opened runs watched for new checkpoints, probed in the background.

A :class:`Workspace` holds the opened runs. It is what the app serves:
``workspace[rid]`` is a run's :class:`~convlens.explorer.session.RunView`, or a 503
saying what the run waits for. A watcher thread looks at every run directory once
per :data:`POLL_S` seconds:

- a run without probe results gets its first probe in the background, and the page
  opens at once and says what it waits for;
- a checkpoint written while the explorer is open is probed in the background with
  the same options as the opened probe (same images and layers), and joins the
  timeline when done;
- a probed checkpoint whose store is being written again (``convlens probe`` run
  anew) is marked ``reprobing``: its reads answer 409 and the page says so, and when
  it is finished its cached arrays are dropped and read afresh;
- a failed probe keeps its one-line error, shown in the page.

Probes run one at a time, each in its own process (:mod:`convlens.probe_job`),
whose progress bar is read from its stderr. ``GET /api/live`` reports all of it;
``POST /api/runs/{rid}/probe?checkpoint=NAME`` asks for a checkpoint's probe.

>>> # ws = Workspace([convlens.open_run("runs/lenet")]); ws.start(); ws.status()
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from fastapi import APIRouter

from ..errors import RunError
from ._http import ApiError
from ._probe_jobs import ProbeJob, Prober
from .session import RunView

POLL_S = 1.0

__all__ = ["POLL_S", "ProbeJob", "Workspace", "make_router"]


class _Slot:
    """One opened run: its view once probed, and what the watcher knows of it."""

    def __init__(self, run: Any, checkpoint: str | int | None, view: RunView | None = None):
        self.run = run
        self.checkpoint = checkpoint
        self.view = view
        self.message: str | None = None
        self.first: ProbeJob | None = None
        self.steps: dict[str, int] = {c.name: c.step for c in run.checkpoints}
        self.probed: set[str] = set()
        self.reprobing: set[str] = set()
        self.versions: dict[str, int] = {}
        self.waiting: list[str] = []  # new checkpoints to probe once the view exists


class Workspace:
    """The opened runs of one explorer, kept live (see the module docstring).

    ``runs``: :class:`~convlens.Run` objects; ``checkpoint``: the one to open (default:
    the last probed, or the last); ``limit``: images of a first probe; ``timeline``:
    probe every checkpoint in the background; ``live``: watch for new checkpoints;
    ``data``: the dataset spec of first probes (default: each run's own data).
    """

    def __init__(
        self,
        runs: list[Any],
        checkpoint: str | int | None = None,
        limit: int | None = None,
        timeline: bool = False,
        live: bool = True,
        data: str | None = None,
    ):
        self.slots = [_Slot(run, checkpoint) for run in runs]
        self.limit = limit
        self.data = data
        self.timeline = timeline
        self.live = live
        self.version = 0
        self._prober = Prober()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def of_views(cls, views: list[RunView]) -> Workspace:
        """A workspace of views opened already, not watched (in-process apps and tests)."""
        ws = cls([v.run for v in views], live=False)
        for slot, view in zip(ws.slots, views, strict=True):
            slot.view = view
            slot.probed = set(view.checkpoint_names)
        return ws

    # ------------------------------------------------------------------ serving
    def __len__(self) -> int:
        return len(self.slots)

    def __getitem__(self, rid: int) -> RunView:
        if not 0 <= rid < len(self.slots):
            raise ApiError(
                404, f"run {rid} is not open: expected a run index from 0 to {len(self.slots) - 1}"
            )
        slot = self.slots[rid]
        if slot.view is None:
            raise ApiError(503, self._waiting(slot))
        return slot.view

    @property
    def runs(self) -> list[Any]:
        return [s.run for s in self.slots]

    def summaries(self) -> list[dict[str, Any]]:
        """``/api/runs``: each run's description, or what it waits for."""
        out = []
        for rid, slot in enumerate(self.slots):
            view = slot.view
            if not self._ready(slot):
                out.append(
                    {
                        "id": rid,
                        "name": slot.run.name,
                        "path": str(slot.run.path),
                        "ready": False,
                        "message": self._waiting(slot),
                    }
                )
            else:
                out.append(dict(view.summary(), id=rid, ready=True))
        return out

    @staticmethod
    def _ready(slot: _Slot) -> bool:
        """The run has a view, and its opened checkpoint is not being probed again."""
        return slot.view is not None and slot.view.probe.checkpoint not in slot.view.busy

    def _waiting(self, slot: _Slot) -> str:
        if slot.view is not None and slot.view.probe.checkpoint in slot.view.busy:
            return slot.view.busy[slot.view.probe.checkpoint]
        if slot.message:
            return slot.message
        job = slot.first
        if job is None:
            return f"run {slot.run.name!r} has no probe results yet"
        if job.state == "queued":
            return f"run {slot.run.name!r}: the probe of {job.checkpoint} waits for another probe"
        if job.total:
            return (
                f"run {slot.run.name!r}: probing {job.checkpoint}, {job.done:,} of "
                f"{job.total:,} images ({100 * job.done // job.total}%)"
            )
        return f"run {slot.run.name!r}: probing {job.checkpoint} (starting)"

    # ------------------------------------------------------------------ life cycle
    def start(self) -> Workspace:
        """Open what is probed, queue what is not, and start watching."""
        for rid, slot in enumerate(self.slots):
            if slot.view is None:
                self._open(rid, slot)
        if self.timeline:
            for rid, slot in enumerate(self.slots):
                for name in slot.steps:
                    self._queue(rid, slot, name)
        self.poll()
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def _open(self, rid: int, slot: _Slot) -> None:
        from ..rundir import probed_checkpoints

        run = slot.run
        wanted = run.checkpoint(slot.checkpoint).name  # RunError when it has none
        probed = probed_checkpoints(run)
        if wanted in probed or (slot.checkpoint is None and probed):
            slot.view = RunView(run, slot.checkpoint)
            slot.probed = set(probed)
            return
        slot.first = self._prober.submit(
            ProbeJob(rid, wanted, self._argv(run, wanted, self._first_options(run)))
        )
        sys.stderr.write(
            f"convlens explore: probing {run.name}/{wanted} in the background "
            "(the page shows its progress)\n"
        )

    def stop(self) -> None:
        """Stop watching and end a running probe."""
        self._stop.set()
        self._prober.stop()
        if self._thread is not None:
            self._thread.join(5)

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.poll()
            except Exception as exc:  # keep watching; the status carries the line
                for slot in self.slots:
                    slot.message = slot.message or f"watching the run failed: {exc}"

    # ------------------------------------------------------------------ one look
    def poll(self) -> None:
        """Look at every run directory once (the watcher calls this every POLL_S)."""
        from ..rundir import probed_checkpoints

        with self._lock:
            for rid, slot in enumerate(self.slots):
                run = slot.run
                steps = {c.name: c.step for c in run.checkpoints}
                probed = set(probed_checkpoints(run))
                if slot.view is None and slot.first is not None:
                    self._finish_first(rid, slot, probed)
                for name in steps:
                    if name not in slot.steps and self.live:
                        if slot.view is None:
                            slot.waiting.append(name)
                        else:
                            self._queue(rid, slot, name)
                slot.steps = steps
                view = slot.view
                if view is None:
                    slot.probed = probed
                    continue
                for name in slot.probed - probed:  # a probed store is being written again
                    slot.reprobing.add(name)
                    view.busy[name] = (
                        f"checkpoint {name!r} of run {run.name!r} is being probed again; "
                        "it is read afresh when that probe is done"
                    )
                    view.forget(name)
                for name in probed & slot.reprobing:  # ... and is done
                    slot.reprobing.discard(name)
                    view.busy.pop(name, None)
                    view.forget(name)
                    slot.versions[name] = slot.versions.get(name, 0) + 1
                    if name == view.probe.checkpoint:
                        slot.view = RunView(run, name)
                        self.version += 1
                slot.probed = probed
                slot.view.refresh(sorted(probed))

    def _finish_first(self, rid: int, slot: _Slot, probed: set[str]) -> None:
        job = slot.first
        if job is None:
            return
        if job.state == "failed":
            slot.message = (
                f"run {slot.run.name!r}: the probe of {job.checkpoint} failed: {job.error}"
            )
        elif job.state == "done" and job.checkpoint in probed:
            try:
                slot.view = RunView(slot.run, job.checkpoint)
            except (RunError, ApiError) as exc:
                slot.message = f"run {slot.run.name!r} cannot be shown: {exc}"
                return
            slot.probed = probed
            self.version += 1
            for name in slot.waiting:
                self._queue(rid, slot, name)
            slot.waiting.clear()

    def _queue(self, rid: int, slot: _Slot, name: str) -> ProbeJob | None:
        """Probe ``name`` in the background with the options of the opened probe."""
        from ..rundir import probed_checkpoints

        if name in probed_checkpoints(slot.run):
            return None
        base = slot.view.probe if slot.view is not None else None
        argv = _options(base, slot.run) if base is not None else self._first_options(slot.run)
        return self._prober.submit(ProbeJob(rid, name, self._argv(slot.run, name, argv)))

    def _first_options(self, run: Any = None) -> list[str]:
        """Options of a run's first probe: ``--limit`` and ``--data`` as given; with
        several runs (A/B), ``--layers``: the run's default layers plus those of the
        other runs that it has too, so that the panes share layer names (a network
        without a ReLU after ``fc1`` has ``fc1`` where the other has ``relu1``)."""
        argv = ["--limit", str(self.limit)] if self.limit else []
        argv += ["--data", self.data] if self.data else []
        layers = self._shared_layers(run) if run is not None and len(self.slots) > 1 else None
        return argv + (["--layers", *layers] if layers else [])

    def _shared_layers(self, run: Any) -> list[str] | None:
        """``run``'s default layers and the other runs' defaults it has, in model order."""
        from ..model import default_layers, layer_names

        try:
            wanted: list[str] = []
            for other in self.runs:
                model = other.build_model().eval()
                wanted += default_layers(model, other.input_shape)
            own = layer_names(run.build_model())
        except Exception:  # the probe itself will say what is wrong, in one line
            return None
        chosen = set(wanted)
        return [name for name in own if name in chosen] or None

    @staticmethod
    def _argv(run: Any, name: str, options: list[str]) -> list[str]:
        """The probe job's command line; a run opened with trust in its code passes it on."""
        module = "convlens.probe_job"
        trust = ["--trust-code"] if getattr(run, "trust_code", False) else []
        argv = [sys.executable, "-m", module, str(run.path), "--checkpoint", name, *trust]
        return [*argv, *options]

    def request_probe(self, rid: int, checkpoint: str) -> dict[str, Any]:
        """Queue a probe of ``checkpoint`` of run ``rid`` (``POST .../probe``)."""
        self[rid]
        slot = self.slots[rid]
        names = [c.name for c in slot.run.checkpoints]
        if checkpoint not in names:
            raise ApiError(
                404,
                f"checkpoint {checkpoint!r} is not in run {slot.run.name!r}: expected one of "
                f"{', '.join(names[-8:])}",
            )
        with self._lock:
            self._queue(rid, slot, checkpoint)
        return self.status()["runs"][rid]

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        """``/api/live``: every run's readiness and every checkpoint's probe state."""
        with self._lock:
            runs = []
            for rid, slot in enumerate(self.slots):
                checkpoints = []
                for name, step in sorted(slot.steps.items(), key=lambda kv: kv[1]):
                    job = self._prober.jobs.get((rid, name))
                    entry: dict[str, Any] = {"name": name, "step": step, "done": 0, "total": 0}
                    if name in slot.reprobing:
                        entry["state"] = "reprobing"
                    elif name in slot.probed:
                        entry["state"] = "probed"
                    elif job is not None and job.state != "done":
                        entry.update(job.json())
                    else:
                        entry["state"] = "unprobed"
                    entry["version"] = slot.versions.get(name, 0)
                    checkpoints.append(entry)
                runs.append(
                    {
                        "id": rid,
                        "name": slot.run.name,
                        "ready": self._ready(slot),
                        "message": None if self._ready(slot) else self._waiting(slot),
                        "checkpoint": slot.view.probe.checkpoint if slot.view else None,
                        "checkpoints": checkpoints,
                    }
                )
            return {
                "runs": runs,
                "version": self.version,
                "live": self.live,
                "poll_ms": int(POLL_S * 1000),
            }


def _options(probe: Any, run: Any) -> list[str]:
    """Command-line options that probe another checkpoint on the images and layers of
    ``probe`` (so that the timeline can step between them)."""
    config = probe.config
    argv = ["--limit", str(len(probe)), "--topk", str(probe.k), "--layers", *probe.layers]
    data = config.get("data_spec")
    if data and data != run.manifest.data.get("spec") and data != "<arrays>":
        argv += ["--data", data]
    if config.get("batch_size"):
        argv += ["--batch-size", str(config["batch_size"])]
    plan = config.get("plan") or {}
    if plan.get("budget"):  # the same budget keeps the same points per image
        argv += ["--budget", str(plan["budget"])]
    if config.get("all_positions"):
        argv.append("--all-positions")
    argv += ["--projections", ",".join(config.get("projections", ["pca"]))]
    return argv


def make_router(workspace: Workspace) -> APIRouter:
    """``GET /api/live`` and ``POST /api/runs/{rid}/probe?checkpoint=NAME``."""
    router = APIRouter()

    @router.get("/api/live")
    def live() -> dict[str, Any]:
        return workspace.status()

    @router.post("/api/runs/{rid}/probe")
    def probe(rid: int, checkpoint: str) -> dict[str, Any]:
        return workspace.request_probe(rid, checkpoint)

    return router


def wait_until(predicate: Any, timeout: float = 60.0, step: float = 0.1) -> bool:
    """Poll ``predicate()`` until it holds or ``timeout`` seconds pass (tests, scripts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
