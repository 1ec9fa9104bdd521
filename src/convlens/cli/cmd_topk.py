"""``convlens topk RUN --layer L``: top-k patches beside their deconvnet projections."""

from __future__ import annotations

import argparse

from ._common import add_run_argument, add_unit_figure_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "topk",
        help="montage of each channel's top-k patches and projections",
        description="For each channel of a probed layer, its top-k input patches (cropped to "
        "the receptive field) beside their projections to pixel space (Zeiler & Fergus); "
        "needs `convlens probe RUN` first.",
    )
    add_run_argument(p)
    add_unit_figure_arguments(p)
    p.add_argument("--checkpoint", help="probed checkpoint (default: last probed)")
    p.add_argument("-o", "--output", default="topk.png", help="PNG to write (default topk.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..probe import open_probe
    from ..probe.figures import topk_montage
    from ..render import save_png

    res = open_probe(args.run, args.checkpoint)
    img = topk_montage(res, args.layer, args.channels, rule=args.method)
    path = save_png(args.output, img)
    print(f"wrote {path} ({img.shape[1]}x{img.shape[0]})")
    return 0
