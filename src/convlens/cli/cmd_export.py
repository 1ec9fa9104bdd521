"""``convlens export tensorboard RUN DIR``: a run as TensorBoard event files (the log's
scalars and histograms, weight heatmaps per checkpoint, the run's PNG figures)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a run to other tools' formats (TensorBoard)",
        description="Export a run to other tools' formats: `convlens export tensorboard RUN DIR`.",
    )
    sub = p.add_subparsers(dest="export_format", metavar="FORMAT", required=True)
    tb = sub.add_parser(
        "tensorboard",
        help="write TensorBoard event files: scalars, histograms, weight heatmaps, figures",
        description="Write the run as TensorBoard event files in DIR: every logged scalar, the "
        "weight and gradient histograms, a heatmap of each layer's weights at every "
        "checkpoint, and the PNG figures found in the run directory (attribution, synthesis, "
        "top-k, report). View with `tensorboard --logdir DIR`.",
    )
    tb.add_argument("run", metavar="RUN", help="a run directory")
    tb.add_argument("dir", metavar="DIR", help="folder for the event files (created if missing)")
    tb.set_defaults(func=export_tensorboard)


def export_tensorboard(args: argparse.Namespace) -> int:
    from ..record.export import to_tensorboard

    counts = to_tensorboard(args.run, args.dir)
    print(
        f"wrote {counts['scalars']} scalar values of {counts['tags']} tags, "
        f"{counts['histograms']} histograms, {counts['heatmaps']} weight heatmaps and "
        f"{counts['figures']} figures to {args.dir}"
    )
    print(f"view: tensorboard --logdir {args.dir}")
    return 0
