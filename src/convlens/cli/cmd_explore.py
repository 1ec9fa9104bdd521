"""``convlens explore RUN``: serve the Seein' In explorer on a run (probing it first if needed)."""

from __future__ import annotations

import argparse

from ._common import add_run_argument, add_serve_arguments, serve_until_interrupted, whole


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explore",
        help="open the web explorer on a run (layer scatter plot matrices, feature maps)",
        description="Serve the explorer on RUN until Ctrl-C; with RUN_A RUN_B, the two side "
        "by side (A/B) with one linked selection. The page opens at once: runs without probe "
        "results are probed in the background, and checkpoints written while it is open join "
        "the timeline and are probed too.",
    )
    add_run_argument(p, nargs="+")
    p.add_argument("--checkpoint", default=None, help="checkpoint name or step (default: last)")
    p.add_argument(
        "--limit",
        type=whole(1),
        default=None,
        help="images to probe when a run has no probe yet (default: all)",
    )
    p.add_argument(
        "--timeline",
        action="store_true",
        help="also probe every older checkpoint in the background (default: only on request)",
    )
    p.add_argument(
        "--no-live",
        action="store_true",
        help="do not watch the run directories for new checkpoints (default: watch)",
    )
    p.add_argument(
        "--data",
        help="dataset to probe runs on when they have no probe yet (default: each run's own "
        "data; a run recorded from your own data loader needs it)",
    )
    add_serve_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..explorer import explore

    explorer = explore(
        *args.run,
        checkpoint=args.checkpoint,
        host=args.host,
        port=args.port,
        open_browser=not args.no_browser,
        probe_limit=args.limit,
        timeline=args.timeline,
        live=not args.no_live,
        data=args.data,
    )
    return serve_until_interrupted(explorer, "explorer")
