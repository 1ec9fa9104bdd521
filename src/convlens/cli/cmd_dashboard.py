"""``convlens dashboard RUN [RUN...]``: serve the training dashboard (curves, distributions,
weight heatmaps) of one or more runs, following runs that are still training."""

from __future__ import annotations

import argparse
import sys

from ._common import add_run_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dashboard",
        help="open the training dashboard on runs (curves, distributions, weight heatmaps)",
        description="Serve the training dashboard of RUN (and more runs, overlaid) until "
        "Ctrl-C. Runs still training are followed live.",
    )
    add_run_argument(p, nargs="+")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default: 0 = any free port)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..explorer.dashboard import serve_dashboard

    server = serve_dashboard(
        args.run, host=args.host, port=args.port, open_browser=not args.no_browser
    )
    print(f"convlens dashboard: {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        sys.stderr.write("stopping\n")
    finally:
        server.stop()
    return 0
