"""``convlens probe RUN``: one streamed pass over a dataset, stored per checkpoint."""

from __future__ import annotations

import argparse

from ._common import add_run_argument
from ._progress import add_progress_arguments, bars_wanted


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "probe",
        help="store every layer's response to a dataset (embeddings, top-k, means)",
        description="One streamed pass of the run's model over a dataset, stored under "
        "RUN/probe/<checkpoint>/ (Zarr): per-layer embeddings, each channel's top-k image "
        "positions, class means, the confusion matrix and projections. The explorer, "
        "topk, neighbors, evolution and report read it.",
    )
    add_run_argument(p)
    p.add_argument("--data", help="dataset to probe (default: the run's data)")
    p.add_argument("--layers", nargs="+", metavar="LAYER", help="layers (default: all)")
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
        "--batch-size", type=int, default=256, help="images per forward pass (default 256)"
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
    add_progress_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..probe import run as probe_run
    from ..rundir import open_run

    r = open_run(args.run)
    names = [c.name for c in r.checkpoints] if args.checkpoints == "all" else [None]
    for name in names:
        res = probe_run(
            r,
            data=args.data,
            layers=args.layers,
            checkpoint=name,
            topk=args.topk,
            limit=args.limit,
            out=args.out,
            batch_size=args.batch_size,
            all_positions=args.all_positions,
            projections=() if args.no_projections else _methods(args.projections),
            progress=bars_wanted(args),
            device=args.device,
        )
        print(f"probed {res.checkpoint}: {len(res)} images, {len(res.layers)} layers -> {res.path}")
    return 0


def _methods(text: str) -> tuple[str, ...]:
    """``"pca,umap"`` -> ("pca", "umap"), without blanks or repeats."""
    return tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
