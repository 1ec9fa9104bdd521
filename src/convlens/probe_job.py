"""One background probe of the live explorer, run in its own process.

    python -m convlens.probe_job RUN --checkpoint NAME [--limit N] [--layers L ...]

The live explorer (:mod:`convlens.explorer.live`) starts this module for every
checkpoint it probes, so that the pass runs beside the server instead of inside it
(the page stays responsive, and a crash or a kill cannot take the server along). It
calls :func:`convlens.probe.run` with ``progress=True``: the progress bar on stderr
is what the explorer reads (``done/total``). A failure ends with one line
``error: ...`` on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m convlens.probe_job",
        description="Probe one checkpoint of a run (started by the live explorer).",
    )
    p.add_argument("run", metavar="RUN", help="the run directory")
    p.add_argument("--checkpoint", required=True, help="the checkpoint name to probe")
    p.add_argument("--data", help="dataset to probe (default: the run's data)")
    p.add_argument(
        "--layers", nargs="+", metavar="LAYER", help="layers (default: the default layers)"
    )
    p.add_argument("--limit", type=int, help="probe only the first N images (default: all)")
    p.add_argument("--topk", type=int, default=9, help="pairs kept per channel (default 9)")
    p.add_argument("--batch-size", type=int, help="images per batch (default: the probe's choice)")
    p.add_argument("--budget", default="2GiB", help="most disk the store may take (2GiB)")
    p.add_argument("--all-positions", action="store_true", help="several top-k positions per image")
    p.add_argument(
        "--projections", default="pca", help="comma-separated projections, '' for none (pca)"
    )
    p.add_argument(
        "--trust-code",
        action="store_true",
        help="run the model code the run names even when not in the trust file (the "
        "explorer passes it on when it was opened so)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from .errors import ConvlensError

    try:
        from .probe import run as probe_run
        from .rundir import open_run

        probe_run(
            open_run(args.run, trust_code=args.trust_code),
            data=args.data,
            layers=args.layers,
            checkpoint=args.checkpoint,
            topk=args.topk,
            limit=args.limit,
            batch_size=args.batch_size,
            budget=args.budget,
            all_positions=args.all_positions,
            projections=tuple(m for m in args.projections.split(",") if m),
            progress=True,
        )
    except ConvlensError as exc:
        sys.stderr.write(f"\nerror: {exc}\n")
        return 2
    except Exception as exc:  # anything else still ends in one line the page can show
        first = str(exc).splitlines()[0] if str(exc) else ""
        sys.stderr.write(f"\nerror: the probe stopped: {type(exc).__name__}: {first}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
