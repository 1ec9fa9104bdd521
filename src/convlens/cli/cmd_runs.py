"""``convlens runs show RUN``: a short summary of a run, also while it trains."""

from __future__ import annotations

import argparse

from ..errors import RunError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "runs",
        help="look at run directories",
        description="Look at run directories (`convlens runs show RUN`).",
    )
    sub = p.add_subparsers(dest="runs_verb", metavar="ACTION", required=True)
    show = sub.add_parser(
        "show",
        help="summary of a run: model, data, checkpoints, last metrics",
        description="A short summary of a run: model, data, classes, checkpoints, the last "
        "logged step and metrics, and whether it is still being written.",
    )
    show.add_argument("run", metavar="RUN", help="a run directory")
    show.set_defaults(func=show_run)
    trust = sub.add_parser(
        "trust",
        help="trust the model code a run names (from now on, no --trust-code needed)",
        description="Record the model code that RUN's run.json names (module:factory or "
        "file.py:factory, with its file and SHA-256) in your trust file, so that commands "
        "on runs naming it build the model. Only do this for code you have read.",
    )
    trust.add_argument("run", metavar="RUN", help="a run directory")
    trust.set_defaults(func=trust_run)


def _metric(log: object, split: str) -> str:
    parts = []
    for name in ("loss", "acc"):
        last = log.last(f"{split}/{name}")  # type: ignore[attr-defined]
        if last is not None:
            parts.append(f"{name} {last[1]:.4f} (step {last[0]})")
    return ", ".join(parts) if parts else "-"


def summary_lines(path: str) -> list[str]:
    """The lines ``convlens runs show`` prints for the run at ``path``."""
    from ..record import open_log
    from ..rundir import open_run

    run = open_run(path)
    m = run.manifest
    shape = "x".join(str(d) for d in run.input_shape)
    options = m.model.get("options") or {}
    opts = "".join(f", {k}={v!r}" for k, v in options.items())
    data = m.data
    val = data.get("val")
    val_text = f", val rows {val[0]}-{val[1]}" if val else ", no val split"
    classes = run.classes
    shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
    cps = run.checkpoints
    cp_text = f"{len(cps)} (first {cps[0].name}, last {cps[-1].name})" if cps else "none yet"
    lines = [
        f"run:         {run.path}",
        f"model:       {m.model['spec']}{opts} ({run.task}, input {shape})",
        f"data:        {data['spec']} ({data.get('format', '?')}{val_text})",
        f"classes:     {len(classes)} ({shown})" if classes else "classes:     -",
        f"checkpoints: {cp_text}",
    ]
    if not run.log_path.exists():
        return [*lines, "log:         none"]
    with open_log(run) as log:
        last = log.last_step()
        epochs = m.training.get("epochs")
        epoch = log.last("epoch")
        epoch_text = f" (epoch {int(epoch[1])} of {epochs} complete)" if epoch and epochs else ""
        lines.append(f"last step:   {last if last is not None else '-'}{epoch_text}")
        lines.append(f"train:       {_metric(log, 'train')}")
        lines.append(f"val:         {_metric(log, 'val')}")
        status = log.meta().get("status", "?")
        writing = log.writing()
        if writing:
            lines.append(f"status:      being written (pid {log.meta().get('pid')})")
        elif status == "running":
            lines.append(
                "status:      stopped early (the writer was killed); continue it with "
                f"`convlens train --out {path} --resume`"
            )
        else:
            lines.append(f"status:      {status}")
    return lines


def trust_run(args: argparse.Namespace) -> int:
    from ..rundir import open_run, trust
    from ..rundir.manifest import Manifest

    model = Manifest.read(args.run).model
    run = open_run(args.run, trust_code=True)
    spec, _, source = run.check_code()
    if spec.kind == "zoo":
        print(f"run {args.run}: model {spec.text!r} is built into convlens; nothing to trust")
        return 0
    trust.record(spec, source, how="runs trust")
    if not trust.is_trusted(spec, source):
        raise RunError(
            f"could not record {spec.text!r} in the trust file {str(trust.trust_path())!r}; "
            f"make it writable or set {trust.TRUST_ENV} to a writable file"
        )
    where = f"{source.file} (SHA-256 {source.sha256[:12]}...)" if source else "built into Python"
    options = model.get("options") or {}
    print(
        f"trusted model code {spec.text!r}: {where}; runs naming it now open without "
        f"--trust-code (this run calls it with {options!r})"
    )
    return 0


def show_run(args: argparse.Namespace) -> int:
    print("\n".join(summary_lines(args.run)))
    return 0
