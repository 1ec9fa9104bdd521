"""``convlens report RUN``: what each layer keeps (linear probes, inversion error)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_run_argument, whole


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="Markdown/HTML report: linear-probe accuracy per layer, with labelled charts",
        description="What each probed layer keeps: the test accuracy of a linear probe "
        "(logistic regression) per layer, the inversion error and the confusion matrix, "
        "written as report.md, report.html and labelled PNG charts with JSON sidecars. "
        "Needs `convlens probe RUN` first.",
    )
    add_run_argument(p)
    p.add_argument("--checkpoint", help="probed checkpoint (default: last probed)")
    p.add_argument("--layers", nargs="+", metavar="LAYER", help="layers (default: all probed)")
    p.add_argument("-o", "--out", help="report directory (default: RUN/report)")
    p.add_argument(
        "--max-images",
        type=whole(2),
        default=4000,
        help="probed images the linear probes train and test on (default 4000)",
    )
    p.add_argument(
        "--inversion-steps",
        type=whole(0),
        default=100,
        help="steps of the inversion per layer, 0 skips it (default 100)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..probe import open_probe
    from ..probe.report import write_report

    res = open_probe(args.run, args.checkpoint)
    out = Path(args.out) if args.out else Path(args.run) / "report"
    rows = write_report(res, out, args.layers, args.max_images, args.inversion_steps)
    for r in rows:
        inv = f"  inversion error {r.inversion_error:.3f}" if r.inversion_error is not None else ""
        print(f"{r.layer:<12} linear probe test accuracy {r.test_accuracy:.3f}{inv}")
    print(f"wrote {out / 'report.md'} and {out / 'report.html'}")
    return 0
