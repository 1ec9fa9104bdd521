"""``convlens topk RUN --layer L``: top-k patches beside their deconvnet projections."""

from __future__ import annotations

import argparse

from ..probe import open_probe
from ..probe.figures import RULES, topk_montage
from ..render import save_png
from ._common import add_run_argument, int_list


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "topk", help="montage of each channel's top-k patches and projections"
    )
    add_run_argument(p)
    p.add_argument("--layer", required=True)
    p.add_argument("--channels", type=int_list, help="channels like 0,3,5-7 (default: first 8)")
    p.add_argument("--checkpoint", help="probed checkpoint (default: last probed)")
    p.add_argument(
        "--method",
        choices=RULES,
        default="deconvnet",
        help="projection rule (default deconvnet; guided = guided backprop)",
    )
    p.add_argument("-o", "--output", default="topk.png", help="PNG to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    res = open_probe(args.run, args.checkpoint)
    img = topk_montage(res, args.layer, args.channels, rule=args.method)
    path = save_png(args.output, img)
    print(f"wrote {path} ({img.shape[1]}x{img.shape[0]})")
    return 0
