"""``convlens topk RUN --layer L``: each channel's top-k patches beside their projections,
as one labelled figure (PNG) with a JSON sidecar (values, images, positions, method)."""

from __future__ import annotations

import argparse

from ._common import add_run_argument, int_list

RULES = ("deconvnet", "guided", "gradient")  # convlens.probe.figures.RULES (no torch import here)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "topk",
        help="figure of each channel's top-k patches and their projections (PNG + JSON)",
    )
    add_run_argument(p)
    p.add_argument("--layer", required=True, help="the probed layer to show")
    p.add_argument("--channels", type=int_list, help="channels like 0,3,5-7 (default: first 8)")
    p.add_argument("--checkpoint", help="probed checkpoint (default: last probed)")
    p.add_argument(
        "--method",
        choices=RULES,
        default=None,
        help="projection rule (default: deconvnet when the model max-pools, else guided "
        "backprop, since deconvnet without max-pool hardly depends on the image)",
    )
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
