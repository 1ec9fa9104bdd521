"""``convlens dashboard RUN [RUN...]``: serve the training dashboard (curves, distributions,
weight heatmaps) of one or more runs, following runs that are still training."""

from __future__ import annotations

import argparse

from ._common import add_run_argument, add_serve_arguments, check_port, serve_until_interrupted


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dashboard",
        help="open the training dashboard on runs (curves, distributions, weight heatmaps)",
        description="Serve the training dashboard of RUN (and more runs, overlaid) until "
        "Ctrl-C. Runs still training are followed live.",
    )
    add_run_argument(p, nargs="+")
    add_serve_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..explorer.dashboard import serve_dashboard

    check_port(args.port)

    server = serve_dashboard(
        args.run, host=args.host, port=args.port, open_browser=not args.no_browser
    )
    return serve_until_interrupted(server, "dashboard")
