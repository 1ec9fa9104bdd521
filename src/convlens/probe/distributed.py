"""The probe on a ``dask.distributed`` cluster: map shards of rows to workers, merge exactly.

``convlens probe RUN --workers N`` starts a ``LocalCluster`` of N worker processes;
``--scheduler tcp://HOST:PORT`` uses an existing cluster; in Python,
``convlens.probe.run(run, client=client)``. What happens:

1. The driver resolves the probe as one process would (model, rows, layers) and makes
   the plan for all the rows (:func:`convlens.probe.plan`): which positions each layer
   keeps is decided by the seed and the data, so it does not depend on the sharding.
2. The driver fits the projections once, on the plan's fit rows, with the batches a
   one-process probe fits on, and gives every shard the bases with the plan.
3. The rows are cut into contiguous shards, each a whole number of batches (a layer's
   float32 result can depend on the batch it is computed in), and each shard is probed
   on a worker into a store of its own, beside the final store (``<store>.shards/``).
   A failed or killed worker's shard is run again on another worker (dask retries it;
   the shard store resumes from its last saved batch).
4. The driver merges the shard stores with the exact merge (:func:`convlens.probe.merge`)
   into the store one pass writes, and removes the shards.

The result equals a one-process probe with the same options. A layer's floats can depend
on torch's thread count (a ResNet-50's convolutions at 224 px give other last bits at 1
and 2 threads), so every shard runs with the driver's thread count, and on the same kind
of device. Workers must reach the run directory and the data at the same paths (a shared
file system), and import the model's code. The job (a bare model's weights, a dataset
in memory) is sent to each worker once.

Dask is an optional extra: ``pip install 'convlens[dask]'``.
"""

from __future__ import annotations

import ast
import math
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import ConvlensError, DataError, first_line
from ..model import device_of
from ._pass import Progress, fit_projections, projectors
from ._target import Target
from .partial import Partial
from .plan import FIT_IMAGES, ProbeOptions, ProbePlan, make_plan

__all__ = ["SHARDS_PER_WORKER", "cluster", "probe_on_cluster", "require_dask"]

SHARDS_PER_WORKER = 4
"""Shards per worker: enough that a lost worker costs a small part of the pass."""
RETRIES = 3
"""How many times a failed shard is tried again (a killed worker's shard is moved anyway)."""
CONNECT_TIMEOUT = "10s"
"""How long to try reaching a scheduler given by address."""


def require_dask() -> Any:
    """``dask.distributed``, or one line saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ConvlensError(
            "probing on a cluster needs dask.distributed, which is not installed; install "
            "it with pip install 'convlens[dask]' (or leave out --workers / --scheduler)"
        ) from None
    return distributed


@contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``Client``: of a new ``LocalCluster`` of ``workers`` processes (one dask thread
    each; torch in them uses the driver's thread count), or of the running scheduler at
    ``scheduler`` (``tcp://HOST:PORT``)."""
    distributed = require_dask()
    if (workers is None) == (scheduler is None):
        raise ConvlensError("give one of --workers N or --scheduler tcp://HOST:PORT")
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConvlensError(
                f"cannot reach the dask scheduler at {scheduler!r} ({first_line(exc)}): "
                "expected tcp://HOST:PORT of a running `dask scheduler`; check the address, "
                "or use --workers N for a cluster on this machine"
            ) from None
        with client:
            yield client
        return
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConvlensError(
            f"--workers {workers!r}: expected a whole number of worker processes >= 1"
        )
    try:
        local = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=50,
        )
    except Exception as exc:  # dask raises bare Exception/RuntimeError when nannies fail
        raise ConvlensError(
            f"could not start a dask LocalCluster of {workers} worker processes "
            f"({type(exc).__name__}: {first_line(exc)}); in a script, start the cluster under "
            "`if __name__ == '__main__':`, or try fewer --workers"
        ) from None
    with local, distributed.Client(local) as client:
        yield client


@dataclass(frozen=True)
class _Job:
    """What a worker needs to probe one shard: the target's source, and where to write."""

    run: str | None  # the run directory (None: a bare model, sent along)
    model: Any
    data: Any  # a data spec, or the dataset itself
    checkpoint: str
    device: str | None
    layers: tuple[str, ...]
    options: dict[str, Any]
    threads: int  # torch's threads on the driver: a layer's floats can depend on them


def _job(target: Target, opts: ProbeOptions, layers: list[str]) -> _Job:
    import torch

    options = {k: getattr(opts, k) for k in ProbeOptions.__dataclass_fields__}
    threads = torch.get_num_threads()
    if target.run is None:  # a bare model and its dataset travel to the workers
        return _Job(
            None,
            target.model,
            target.dataset,
            target.checkpoint,
            None,
            tuple(layers),
            options,
            threads,
        )
    spec = target.data_spec
    if spec == target.run.manifest.data["spec"]:
        data: Any = None  # the run's own data
    elif spec in ("", "<arrays>"):
        data = target.dataset  # given in memory
    else:
        data = spec
    device = device_of(target.model)
    where = None if device.type == "cpu" else str(device)
    return _Job(
        str(target.run.path),
        None,
        data,
        target.checkpoint,
        where,
        tuple(layers),
        options,
        threads,
    )


def _shard(job: _Job, rows: np.ndarray, plan: ProbePlan, out: str, queue: str, shard: int) -> str:
    """On a worker: probe ``rows`` with ``plan`` into the store ``out``, with the driver's
    number of torch threads (so that every layer gives the floats one process gives); its
    path."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(job.threads)
    try:
        return _probe_shard(job, rows, plan, out, (queue, shard))
    finally:
        torch.set_num_threads(before)


def _probe_shard(
    job: _Job, rows: np.ndarray, plan: ProbePlan, out: str, queue: tuple[str, int]
) -> str:
    from distributed import Queue

    from ..rundir import open_run
    from .pipeline import run

    progress, shard = Queue(queue[0]), queue[1]
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] > 0.5:
            last[0] = now
            progress.put((shard, done))

    if job.run is not None:
        source: Any = open_run(job.run, trust_code=True)  # the driver opened it: trusted there
        result = run(
            source,
            job.data,
            list(job.layers),
            job.checkpoint,
            rows=rows,
            plan=plan,
            out=out,
            progress=report,
            device=job.device,
            **job.options,
        )
    else:
        result = run(
            job.model,
            job.data,
            list(job.layers),
            rows=rows,
            plan=plan,
            out=out,
            progress=report,
            **job.options,
        )
    return str(result.path)


def _shards(rows: np.ndarray, batch: int, workers: int) -> list[np.ndarray]:
    """Contiguous pieces of ``rows``, each a whole number of ``batch`` (but the last)."""
    batches = math.ceil(len(rows) / batch)
    count = max(1, min(batches, workers * SHARDS_PER_WORKER))
    per = math.ceil(batches / count) * batch
    return [rows[i : i + per] for i in range(0, len(rows), per)]


def _fitted(target: Target, plan: ProbePlan, classes: int) -> dict[str, Any] | None:
    """The projections' bases, fitted once on the plan's fit rows (None: no projections)."""
    partial = Partial.empty([p.spec for p in plan.layers], classes, 1, 0)
    fitting = projectors(target, plan, partial)
    if not fitting:
        return None
    fit_projections(target, plan, partial, fitting)
    return dict(partial.bases)


def probe_on_cluster(
    client: Any,
    target: Target,
    layers: Any,
    opts: ProbeOptions,
    progress: Progress,
) -> None:
    """Probe ``target`` on ``client``'s workers and merge the shards into ``target.path``
    (see the module docstring). A finished store with the same config is kept as it is."""
    from ..rundir import ProbeStore
    from ._taps import Widen
    from .merge import merge
    from .pipeline import FloatRangeError, _config, _size, _specs

    require_dask()
    specs, out_dim = _specs(target, layers)
    names = [s.name for s in specs]
    fit = tuple(int(r) for r in target.rows[:FIT_IMAGES])
    n_workers = _workers(client)
    while True:
        plan = make_plan(specs, len(target.rows), _size(target, opts, out_dim), opts, fit)
        config = _config(target, plan, opts, out_dim)
        manifest = ProbeStore(target.path).read_manifest() if target.path.exists() else None
        if manifest and manifest.get("finished") and manifest.get("config") == config:
            return
        try:
            plan = replace(plan, bases=_fitted(target, plan, len(target.classes)))
            stores = _run_shards(
                client, target, plan, _job(target, opts, names), n_workers, progress
            )
            break
        except (Widen, FloatRangeError) as wide:
            opts = replace(opts, float32_layers=(*opts.float32_layers, *wide.names))
    merge(stores, target.path, model=target.model)
    shutil.rmtree(_shard_root(target.path), ignore_errors=True)


def _workers(client: Any) -> int:
    """How many workers ``client``'s cluster has, waiting a while for the first one."""
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except (TimeoutError, OSError):
        raise ConvlensError(
            f"the dask cluster at {client.scheduler.address!r} has no workers (waited "
            f"{CONNECT_TIMEOUT}); start some with `dask worker ADDRESS`, or use --workers N"
        ) from None
    return max(1, len(client.scheduler_info().get("workers", {})))


def _shard_root(path: Path) -> Path:
    return path.with_name(path.name + ".shards")


def _run_shards(
    client: Any,
    target: Target,
    plan: ProbePlan,
    job: _Job,
    n_workers: int,
    progress: Progress,
) -> list[str]:
    """Every shard probed on the cluster; the shard stores, in row order."""
    distributed = require_dask()
    root = _shard_root(target.path)
    pieces = _shards(target.rows, plan.batch_size, n_workers)
    if root.exists():  # shards of another plan: start them again
        known = {str(i) for i in range(len(pieces))}
        for old in root.iterdir():
            if old.name.removeprefix("shard-").lstrip("0") not in known | {""}:
                shutil.rmtree(old, ignore_errors=True)
    queue = f"convlens-probe-{uuid.uuid4().hex}"
    progress_queue = distributed.Queue(queue, client=client)
    try:
        futures = _submit(client, job, pieces, plan, root, queue)
    except Exception as exc:  # the job could not be pickled, or unpickled on a worker
        failure = _import_failure(exc)
        if failure is not None:
            raise _cannot_load(failure) from None
        raise ConvlensError(
            f"cannot send the probe to the dask workers ({type(exc).__name__}: "
            f"{first_line(exc)}); probe a run directory, or a model and data that pickle"
        ) from None
    bar = tqdm(
        total=len(target.rows),
        unit="img",
        desc=f"probe {target.checkpoint}",
        disable=progress is not True,
        file=sys.stderr,
    )
    done: dict[int, int] = {}

    def drain() -> None:
        while progress_queue.qsize():
            shard, rows = progress_queue.get(timeout=1)
            done[shard] = rows  # a shard run again reports from where it resumed
            total = sum(done.values())
            bar.update(total - bar.n)
            if callable(progress):
                progress(total, len(target.rows))

    try:
        while not all(f.done() for f in futures):
            drain()
            time.sleep(0.2)
        drain()
        for f in futures:
            if f.status == "error":
                _raise(f.exception())
        return [f.result() for f in futures]
    finally:
        bar.close()
        for f in futures:
            f.cancel()


def _import_failure(exc: BaseException) -> str | None:
    """The import failure behind ``exc``, as "Type: message", or None. Dask wraps one met
    while unpickling a task in an error of its own ("Error during deserialization of the
    task graph"), and one met while unpickling scattered data in a bare ``Exception``
    whose text is the failure's repr."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ImportError | AttributeError):
            return f"{type(exc).__name__}: {first_line(exc)}"
        found = re.search(r"\b(ModuleNotFoundError|ImportError)\((.*)\)", str(exc))
        if found:
            return f"{found[1]}: {_literal(found[2])}"
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


def _literal(text: str) -> str:
    """``'"No module named 'x'"'`` -> ``No module named 'x'`` (the repr's string)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, str) else text


def _cannot_load(failure: str) -> ConvlensError:
    if re.search(r"No module named '(convlens|torch)\b", failure):
        return ConvlensError(
            f"the dask workers cannot import convlens ({failure}); install convlens (with "
            "its torch) in the workers' environment, the same version as here"
        )
    return ConvlensError(
        f"the dask workers cannot load the model's code ({failure}); install its module on "
        "every worker, or probe a run whose model file the workers reach at the same path"
    )


def _submit(
    client: Any, job: _Job, pieces: list[np.ndarray], plan: ProbePlan, root: Path, queue: str
) -> list[Any]:
    """One future per shard (each tried again up to :data:`RETRIES` times). The job (a
    bare model's weights, a dataset in memory) goes to every worker once, not per shard."""
    shared = client.scatter(job, broadcast=True, hash=False)
    return [
        client.submit(
            _shard,
            shared,
            rows,
            plan,
            str(root / f"shard-{i:04d}"),
            queue,
            i,
            key=f"convlens-probe-shard-{i}-{uuid.uuid4().hex[:8]}",
            retries=RETRIES,
            pure=False,
        )
        for i, rows in enumerate(pieces)
    ]


def _raise(exc: BaseException) -> None:
    """A shard's error as one line: convlens's own as they are; an import failure as
    what it is (workers that cannot import the model's code)."""
    from ._taps import Widen
    from .pipeline import FloatRangeError

    if isinstance(exc, FloatRangeError | Widen | ConvlensError):
        raise exc
    failure = _import_failure(exc)
    if failure is not None:
        raise _cannot_load(failure) from None
    raise DataError(
        f"a shard of the probe failed on a dask worker ({type(exc).__name__}: "
        f"{first_line(exc)}) after {RETRIES} retries; see the worker's log"
    ) from None
