"""``convlens topk RUN --layer L``: each channel's top-k patches beside their projections,
as one labelled figure (PNG) with a JSON sidecar (values, images, positions, method)."""

from __future__ import annotations

import argparse

from ._common import add_run_argument, add_unit_figure_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "topk",
        help="figure of each channel's top-k patches and their projections (PNG + JSON)",
        description="For each channel of a probed layer, its top-k input patches (cropped to "
        "the receptive field) beside their projections to pixel space (Zeiler & Fergus), as "
        "one labelled figure with a JSON sidecar; needs `convlens probe RUN` first.",
    )
    add_run_argument(p)
    add_unit_figure_arguments(p, method_default=None)
    p.add_argument("--checkpoint", help="probed checkpoint (default: last probed)")
    p.add_argument(
        "-o", "--output", default="topk.png", help="PNG to write, JSON beside it (default topk.png)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..probe import open_probe
    from ..probe.figures import save_figure, topk_figure

    res = open_probe(args.run, args.checkpoint)
    fig, record = topk_figure(res, args.layer, args.channels, method=args.method)
    path = save_figure(fig, args.output, record)
    print(f"wrote {path} and {path.with_suffix('.json').name} ({record['method_note']})")
    return 0
