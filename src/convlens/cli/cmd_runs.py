"""``convlens runs show RUN``: a short summary of a run, also while it trains."""

from __future__ import annotations

import argparse
import sys

from ..errors import ConvlensError, RunError
from ._common import add_option_argument, size2


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
    create = sub.add_parser(
        "create",
        help="make a run directory from an already trained model (no training)",
        description="Make RUN from a trained model: build --model, load --weights into it "
        "(names and shapes must match), run one batch of --data through it, and write the "
        "run with the weights as its one checkpoint (step 0). Every verb then works on "
        "RUN from any working directory, with no PYTHONPATH.",
    )
    create.add_argument(
        "--model",
        required=True,
        help="zoo name, module:factory, or path/to/file.py:factory (recorded with the file's "
        "absolute path and hash)",
    )
    create.add_argument(
        "--weights",
        required=True,
        help="the trained weights: a .safetensors file or a PyTorch state dict (.pt, read "
        "with weights_only=True)",
    )
    create.add_argument(
        "--data",
        required=True,
        help="the data the run is explored on: digits, MNIST, CIFAR-10, .npz, or a folder "
        "of class folders (its class names become the run's)",
    )
    create.add_argument(
        "--normalize",
        help="what the model expects of pixels / 255: imagenet, MEAN,STD (one pair, or "
        "C means then C stds), fit (fitted on the data) or none (default: none, said "
        "on stderr)",
    )
    create.add_argument(
        "--input-size",
        type=size2,
        metavar="H,W",
        help="the model's input size (required for an image folder; default: the data's)",
    )
    create.add_argument(
        "--resize",
        type=int,
        metavar="PIXELS",
        help="image folders: scale the shorter side to this before the centre crop "
        "(default: just enough for the crop; 256 with 224,224 is ImageNet's)",
    )
    create.add_argument(
        "--output",
        metavar="NAME",
        help="for a model returning a dataclass, dict or tuple: the field that holds the "
        "tensor, e.g. logits or 0 (default: the output itself)",
    )
    add_option_argument(create, "num_labels=10")
    create.add_argument("--out", required=True, metavar="RUN", help="the run directory to make")
    create.add_argument(
        "--overwrite", action="store_true", help="replace a run already in RUN (default: refuse)"
    )
    create.set_defaults(func=create_run_verb)
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


def create_run_verb(args: argparse.Namespace) -> int:
    from ..rundir import NewRun, create_run

    if args.resize is not None and args.resize < 1:
        raise ConvlensError(f"--resize {args.resize}: expected a positive number of pixels")
    if args.normalize is None:
        sys.stderr.write(
            "warning: no --normalize given: the run records 'none' (the model sees pixels / "
            "255); pass --normalize imagenet, MEAN,STD or fit if it expects otherwise\n"
        )
    new = NewRun(
        model=args.model,
        weights=args.weights,
        data=args.data,
        normalize=args.normalize,
        input_size=args.input_size,
        resize=args.resize,
        output=args.output,
        options=dict(args.options or []),
    )
    run = create_run(args.out, new, overwrite=args.overwrite)
    shape = "x".join(str(d) for d in run.input_shape)
    print(
        f"created {run.path}: {run.manifest.model['spec']} ({run.task}, input {shape}, "
        f"{len(run.classes)} classes, normalization {run.normalization_kind})"
    )
    print(f"next: convlens layers {run.path}   or   convlens explore {run.path}")
    return 0


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
