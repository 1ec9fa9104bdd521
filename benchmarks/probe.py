"""Probe throughput against the raw forward pass, each in a fresh process; peak memory.

    .venv/bin/python benchmarks/probe.py [--repeats 3] [--quick] [--writer zarr]

- throughput: lenet (random weights), its default layers, the 10,000 MNIST test images,
  **default options** (batch size, 2 GiB budget, PCA in the pass). Every timed run is a
  fresh process that imports convlens and loads the data first (not timed), then times
  one call: ``probe.run`` or the raw forward pass (input normalisation included) at the
  batch size the probe chose. Raw and probe processes alternate; medians are taken and
  the range of the per-pair ratios is printed.
- memory: peak RSS (``ru_maxrss``) of a fresh process probing 10,000 vs 2,000 images.
- bound (writes): the same forward pass with hooks on the probed layers that only cast
  each output to its stored dtype, and the probe's own writer thread putting every
  streamed array of the store (the same shapes, dtypes and chunks: activations from the
  hooks, projections and outputs as zeros of their size) on disk. Nothing is computed,
  so no probe that stores these bytes through this writer can beat it. (The writer copies
  each batch into its chunk buffers; a writer into which the hooks cast directly would
  save that copy, most of the gap between this bound and the compute floor's.)
- compute floor: the forward pass with hooks doing only the arithmetic the probe cannot
  skip, one torch call each: peak, minimum and sum over positions, the PCA product
  (10 components) and the cast; nothing written, no top-k fold or class sums.
  The two overheads added give an estimate of the best ratio any probe reaches here.
- ``--writer zarr`` writes every chunk through zarr's API instead of the direct chunk
  writer (what the version check falls back to), to measure what the latter saves.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def child(kind: str, limit: int | None, out: str, writer: str, store: str | None = None) -> None:
    """One timed call in this (fresh) process; prints a JSON line."""
    import torch

    import convlens.probe
    from convlens.data import load_dataset
    from convlens.zoo import create

    if writer == "zarr":
        import convlens.probe._chunks as chunks

        chunks.TESTED_ZARR = ("none",)
    torch.manual_seed(0)
    model = create("lenet").eval()
    ds = load_dataset(str(MNIST))
    if limit:
        ds = ds.subset(slice(0, limit))
    if kind == "compute":
        report = compute_floor(model, ds)
    elif kind == "bound":
        report = bound(model, ds, str(store), out)
    elif kind == "raw":
        batch = convlens.probe.plan(model, ds).batch_size  # the batch size the probe takes
        t, c = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            for s in range(0, len(ds), batch):
                model(ds.normalization.apply(ds.images[s : s + batch]))
        seconds, cpu = time.perf_counter() - t, time.process_time() - c
        report = {"seconds": seconds, "cpu": cpu, "batch": batch}
    else:
        t, c = time.perf_counter(), time.process_time()
        res = convlens.probe.run(model, data=ds, out=out)
        seconds, cpu = time.perf_counter() - t, time.process_time() - c
        files = [p for p in Path(out).rglob("*") if p.is_file()]
        report = {
            "seconds": seconds,
            "cpu": cpu,
            "batch": res.config["batch_size"],
            "store_bytes": sum(p.stat().st_size for p in files),
            "sampled": [n for n in res.layers if res.is_sampled(n)],
        }
    report["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(report))


def compute_floor(model, ds) -> dict:
    """The forward pass with hooks on the probed layers that do only the arithmetic the
    probe cannot skip, each as one torch call: the three reductions over positions (peak,
    minimum, sum), the PCA product (10 orthonormal components, the same shapes) and the
    cast to the stored dtype. No top-k fold, class sums, bookkeeping or writes."""
    import torch

    import convlens.probe

    plan = convlens.probe.plan(model, ds)
    basis: dict[str, torch.Tensor] = {}

    def hook_for(layer: str):
        def hook(module, args, output):
            flat = output.detach().reshape(output.shape[0], output.shape[1], -1)
            flat.amax(2), flat.amin(2), flat.sum(2)
            if layer not in basis:
                c = flat.shape[1]
                q = torch.linalg.qr(torch.randn(c, c, generator=torch.Generator().manual_seed(0)))
                basis[layer] = q[0][: min(c, 10)].contiguous()
            torch.matmul(basis[layer], flat)
            flat.to(torch.float16)

        return hook

    handles = [
        model.get_submodule(p.name).register_forward_hook(hook_for(p.name)) for p in plan.layers
    ]
    t, c = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for s in range(0, len(ds), plan.batch_size):
            model(ds.normalization.apply(ds.images[s : s + plan.batch_size]))
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    for h in handles:
        h.remove()
    return {"seconds": seconds, "cpu": cpu, "batch": plan.batch_size}


def bound(model, ds, store: str, out: str) -> dict:
    """Forward + the store's bytes cast and written by the probe's writer (see the docstring)."""
    import numpy as np
    import torch
    import zarr
    from zarr.storage import LocalStore

    import convlens.probe
    from convlens.probe._writer import Stream, Writer
    from convlens.probe.store import CHUNK_KEYS

    batch = convlens.probe.plan(model, ds).batch_size
    done = zarr.open_group(LocalStore(store), mode="r")
    target = zarr.open_group(LocalStore(out), mode="w")
    streams: dict[str, Stream] = {}
    for name, array in _streamed(done, len(ds)):
        made = target.create_array(
            name,
            shape=array.shape,
            chunks=array.chunks,
            dtype=array.dtype,
            compressors=None,
            filters=None,
            fill_value=0,
            chunk_key_encoding=CHUNK_KEYS,
        )
        streams[name] = Stream(made, 0)
    layers = [
        n.split("/")[1]
        for n in streams
        if n.startswith("embeddings/") and n.endswith("/activation")
    ]
    taken: dict[str, tuple[int, np.ndarray]] = {}
    row = [0]

    def hook_for(layer: str):
        name = f"embeddings/{layer}/activation"
        dtype = torch.float16 if streams[name].array.dtype == np.float16 else torch.float32

        def hook(module, args, output):
            taken[name] = (row[0], output.detach().to(dtype).numpy())

        return hook

    handles = [model.get_submodule(n).register_forward_hook(hook_for(n)) for n in layers]
    io = Writer(streams, depth=8)
    t, c = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for s in range(0, len(ds), batch):
            row[0] = s
            taken.clear()
            model(ds.normalization.apply(ds.images[s : s + batch]))
            b = min(batch, len(ds) - s)
            for name, stream in streams.items():
                if name not in taken:
                    per = stream.array.shape[0] // len(ds)
                    rows = np.zeros((b * per, *stream.array.shape[1:]), stream.array.dtype)
                    taken[name] = (s * per, rows)
            io.put(dict(taken))
    io.close()
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    for h in handles:
        h.remove()
    return {"seconds": seconds, "cpu": cpu, "batch": batch, "arrays": len(streams)}


def _streamed(group, n: int, prefix: str = ""):
    """(path, array) of every array the pass streams: under embeddings/ and outputs/,
    a whole number of rows per image."""
    for name, member in group.members():
        path = f"{prefix}{name}"
        if isinstance(member, type(group)):
            if prefix or name in ("embeddings", "outputs"):
                yield from _streamed(member, n, path + "/")
        elif prefix and member.shape and member.shape[0] % n == 0:
            yield path, member


def spawn(
    kind: str,
    out: Path,
    limit: int | None = None,
    writer: str = "direct",
    store: Path | None = None,
) -> dict:
    argv = [sys.executable, __file__, "--child", kind, "--out", str(out), "--writer", writer]
    if store is not None:
        argv += ["--store", str(store)]
    if limit:
        argv += ["--limit", str(limit)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat")
    ap.add_argument("--writer", choices=("direct", "zarr"), default="direct")
    ap.add_argument("--child", choices=("raw", "probe", "bound", "compute"), help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.limit, args.out, args.writer, args.store)
        return
    repeats = 1 if args.quick else args.repeats
    # Stores are removed at the end, not between runs: on ext4 without a journal, files
    # made right after others were deleted cost more (see docs/benchmarks/probe.md).
    with tempfile.TemporaryDirectory() as d:
        raw, probe, ratios, cpu, limit, limits, floor = [], [], [], [], [], [], []
        for i in range(repeats):
            r = spawn("raw", Path(d) / f"raw{i}")
            p = spawn("probe", Path(d) / f"p{i}", writer=args.writer)
            b = spawn("bound", Path(d) / f"b{i}", store=Path(d) / "p0")
            f = spawn("compute", Path(d) / f"f{i}")
            floor.append(r["seconds"] / f["seconds"])
            raw.append(r["seconds"])
            probe.append(p["seconds"])
            limit.append(b["seconds"])
            ratios.append(r["seconds"] / p["seconds"])
            limits.append(r["seconds"] / b["seconds"])
            cpu.append(r["cpu"] / p["cpu"])
        big = spawn("probe", Path(d) / "big", writer=args.writer)
        small = spawn("probe", Path(d) / "small", limit=2000, writer=args.writer)
    r, q = statistics.median(raw), statistics.median(probe)
    print(
        f"lenet, default layers, 10,000 MNIST images, default options (batch {p['batch']}, "
        f"PCA in the pass, {args.writer} chunk writes), fresh processes, median of {repeats}"
    )
    print(f"raw forward      {r:7.2f} s  ({', '.join(f'{v:.2f}' for v in raw)})")
    print(f"probe            {q:7.2f} s  ({', '.join(f'{v:.2f}' for v in probe)})")
    print(
        f"ratio            {r / q:7.2f}x of raw (pairs: {min(ratios):.2f}x..{max(ratios):.2f}x; "
        "goal >= 0.8x)"
    )
    each = ", ".join(f"{v:.2f}" for v in limit)
    print(
        f"bound            {statistics.median(limit):7.2f} s  ({each}): "
        f"forward + the store's {b['arrays']} streamed arrays cast and written, nothing computed"
    )
    print(
        f"bound ratio      {r / statistics.median(limit):7.2f}x of raw (pairs: {min(limits):.2f}x.."
        f"{max(limits):.2f}x): the best any probe storing these bytes can reach here"
    )
    print(
        f"compute floor    {statistics.median(floor):7.2f}x of raw (pairs: {min(floor):.2f}x.."
        f"{max(floor):.2f}x): forward + per layer only peak, minimum, sum, the PCA product and "
        "the cast, one torch call each, nothing written"
    )
    over = (1 / statistics.median(limits) - 1) + (1 / statistics.median(floor) - 1)
    print(
        f"both together    {1 / (1 + over):7.2f}x of raw: the writes' and the arithmetic's "
        "overheads added (neither includes the top-k, class sums or bookkeeping)"
    )
    print(
        f"CPU-time ratio   {statistics.median(cpu):7.2f}x (pairs {min(cpu):.2f}x..{max(cpu):.2f}x; "
        "all threads, steadier than wall time on a busy machine)"
    )
    print(f"store            {p['store_bytes'] / 2**20:7.1f} MiB, sampled layers: {p['sampled']}")
    b, s = big["maxrss_kib"], small["maxrss_kib"]
    print(
        f"peak RSS         10,000 images {b / 1024:.1f} MiB, 2,000 images {s / 1024:.1f} MiB, "
        f"growth {100 * (b / s - 1):+.1f}% (goal <= +15%)"
    )


if __name__ == "__main__":
    main()
