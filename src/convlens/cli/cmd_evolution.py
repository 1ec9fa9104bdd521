"""``convlens evolution RUN --layer L``: strongest activations across snapshots."""

from __future__ import annotations

import argparse

from ..errors import RunError
from ._common import add_run_argument, add_unit_figure_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evolution",
        help="each probed snapshot's strongest activation per feature map",
        description="Rows are channels, columns are probed snapshots: each snapshot's "
        "strongest activation of the channel, projected to pixel space and cropped to its "
        "receptive field. Needs `convlens probe RUN --checkpoints all` first.",
    )
    add_run_argument(p)
    add_unit_figure_arguments(p)
    p.add_argument(
        "-o", "--output", default="evolution.png", help="PNG to write (default evolution.png)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..probe import open_probe, probed_checkpoints
    from ..probe.figures import evolution_grid
    from ..render import save_png
    from ..rundir import open_run

    r = open_run(args.run)
    names = probed_checkpoints(r)
    if not names:
        raise RunError(
            f"run {args.run!r} has no probed checkpoints; run `convlens probe {args.run} "
            "--checkpoints all` first"
        )
    results = [open_probe(r, n) for n in names]
    img = evolution_grid(results, args.layer, args.channels, rule=args.method)
    path = save_png(args.output, img)
    print(f"wrote {path}: {len(names)} snapshots ({', '.join(names)})")
    return 0
