"""``convlens export tensorboard RUN DIR``: the training log as TensorBoard event files."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a run to other tools' formats")
    sub = p.add_subparsers(dest="export_format", metavar="FORMAT", required=True)
    tb = sub.add_parser("tensorboard", help="write TensorBoard event files of a run's log")
    tb.add_argument("run", metavar="RUN", help="a run directory")
    tb.add_argument("dir", metavar="DIR", help="folder for the event files (created)")
    tb.set_defaults(func=export_tensorboard)


def export_tensorboard(args: argparse.Namespace) -> int:
    from ..record.export import to_tensorboard

    counts = to_tensorboard(args.run, args.dir)
    print(
        f"wrote {counts['scalars']} scalar values of {counts['tags']} tags and "
        f"{counts['histograms']} histograms to {args.dir}"
    )
    print(f"view: tensorboard --logdir {args.dir}")
    return 0
