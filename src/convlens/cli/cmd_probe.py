"""``convlens probe RUN``: one streamed pass over a dataset, stored per checkpoint."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_run_argument, whole
from ._progress import add_progress_arguments, bars_wanted


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "probe",
        help="store every default layer's response to a dataset (points, top-k, means), "
        "within a disk budget",
        description="One streamed pass of the run's model over a dataset, stored under "
        "RUN/probe/<checkpoint>/ (Zarr, at most --budget): per-layer points (a seeded sample "
        "of the positions when all would not fit), each channel's top-k image positions, "
        "class means, the confusion matrix and projections, exact over every position. The "
        "explorer, topk, neighbors, evolution and report read it.",
    )
    add_run_argument(p)
    p.add_argument("--data", help="dataset to probe (default: the run's data)")
    p.add_argument(
        "--layers",
        nargs="+",
        metavar="LAYER",
        help="layers (default: the block and stage outputs `convlens layers` marks)",
    )
    p.add_argument(
        "--checkpoints",
        choices=("last", "all"),
        default="last",
        help="probe the last checkpoint or every one (default: last)",
    )
    p.add_argument("--limit", type=int, help="probe only the first N images (default: all)")
    p.add_argument("--out", help="probe root directory (default: RUN/probe)")
    p.add_argument("--topk", type=int, default=9, help="pairs kept per channel (default 9)")
    p.add_argument(
        "--all-positions",
        action="store_true",
        help="let one image give several top-k positions (default: its strongest)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help="images per forward pass (default: as many as keep one batch of the probed "
        "layers' outputs under 512 MB, at most 256)",
    )
    p.add_argument(
        "--budget",
        default="2GiB",
        help="the most disk the store may take, e.g. 500MB or 8GiB (default 2GiB); spatial "
        "layers keep a seeded sample of their positions when all would not fit",
    )
    p.add_argument(
        "--projections",
        default="pca",
        help="comma-separated: pca, umap, tsne (umap and tsne need their extras; default: pca)",
    )
    p.add_argument("--no-projections", action="store_true", help="skip the projections")
    p.add_argument(
        "--device",
        default="cpu",
        help="where the model runs: cpu, cuda, cuda:N or auto (default: cpu)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=whole(1),
        metavar="N",
        help="probe on a dask LocalCluster of N worker processes (needs convlens[dask]); "
        "the result equals one process's",
    )
    where.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="probe on the workers of a running dask scheduler (they must reach the run "
        "and the data at the same paths)",
    )
    add_progress_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..rundir import open_run

    r = open_run(args.run)
    if args.workers is None and args.scheduler is None:
        return _probe_all(args, r, None)
    from ..probe.distributed import cluster

    with cluster(args.workers, args.scheduler) as client:
        return _probe_all(args, r, client)


def _probe_all(args: argparse.Namespace, r: Any, client: Any) -> int:
    from ..probe import run as probe_run

    names = [c.name for c in r.checkpoints] if args.checkpoints == "all" else [None]
    for name in names:
        res = probe_run(
            r,
            data=args.data,
            layers=args.layers,
            checkpoint=name,
            limit=args.limit,
            out=args.out,
            progress=bars_wanted(args),
            device=args.device,
            topk=args.topk,
            batch_size=args.batch_size,
            budget=args.budget,
            all_positions=args.all_positions,
            projections=() if args.no_projections else _methods(args.projections),
            client=client,
        )
        sampled = [n for n in res.layers if res.is_sampled(n)]
        note = f", {len(sampled)} sampled" if sampled else ""
        print(
            f"probed {res.checkpoint}: {len(res)} images, {len(res.layers)} layers{note} "
            f"-> {res.path}"
        )
    return 0


def _methods(text: str) -> tuple[str, ...]:
    """``"pca,umap"`` -> ("pca", "umap"), without blanks or repeats."""
    return tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
