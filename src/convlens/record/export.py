"""Export a run to TensorBoard event files (``tensorboard`` is optional).

One call writes, into one folder of event files:

- every scalar of the log, under its own tag, at its step and wall time;
- the weight and gradient histograms, as ``weights/<param>`` and ``grads/<param>``;
- a heatmap of each layer's weights at every checkpoint, as the image
  ``weight_heatmaps/<param>`` (every parameter of two or more dimensions; the
  layout and colours are those of :func:`convlens.render.weight_figure`, on one
  colour scale per parameter so that steps compare);
- every PNG figure in the run directory (attribution, synthesis, top-k, report
  ...), as the image ``figures/<path in the run without .png>`` at the last
  checkpoint's step, with its JSON sidecar as the text ``figures/<path>/text_summary``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConvlensError
from ..render.weights import block_mean, weight_figure, weight_image, weight_layout
from ..rundir import Run, open_run, read_state
from .reader import LogReader, open_log

#: the longest side, in weights, of a heatmap before blocks are averaged
HEATMAP_SIDE = 512


def _summary_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConvlensError(
            "exporting to TensorBoard needs the tensorboard package, which is not installed; "
            "install it with `pip install 'convlens[tensorboard]'`"
        ) from None
    return SummaryWriter


def _writable_folder(out_dir: str | Path) -> Path:
    """``out_dir``, created if missing; one clear line when it cannot hold event files."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConvlensError(
            f"cannot write TensorBoard event files to {str(out)!r} ({reason}): expected a "
            "folder you can write to (it is created if missing); give another DIR"
        ) from None
    old = sorted(p.name for p in out.glob("events.out.tfevents.*"))
    if old:
        raise ConvlensError(
            f"{str(out)!r} already holds TensorBoard event files ({old[0]}, ...), which "
            "TensorBoard would show twice: expected an empty or new folder; give another DIR "
            "or delete them"
        )
    return out


def to_tensorboard(run: Any, out_dir: str | Path) -> dict[str, int]:
    """Write ``run``'s log, weight heatmaps and figures as event files in ``out_dir``.

    ``run`` is a :class:`~convlens.rundir.Run` or its directory. Scalars keep
    their tags and logged wall times; see the module docstring for the other
    tags. Returns the counts written: ``tags``, ``scalars``, ``histograms``,
    ``heatmaps`` and ``figures``.

    >>> # to_tensorboard("demo-runs/lenet", "tb/lenet"); then `tensorboard --logdir tb`
    """
    writer_cls = _summary_writer()
    r = run if isinstance(run, Run) else open_run(run)
    out = _writable_folder(out_dir)
    counts = {"tags": 0, "scalars": 0, "histograms": 0, "heatmaps": 0, "figures": 0}
    with open_log(r) as log:
        writer = writer_cls(log_dir=str(out))
        try:
            _scalars(writer, log, counts)
            _histograms(writer, log, counts)
            _heatmaps(writer, r, counts)
            _figures(writer, r, out, counts)
        finally:
            writer.close()
    return counts


def _scalars(writer: Any, log: LogReader, counts: dict[str, int]) -> None:
    for tag in log.tags():
        s = log.scalars(tag)
        counts["tags"] += 1
        for step, wall, value in zip(s.step, s.wall, s.value, strict=True):
            writer.add_scalar(tag, float(value), int(step), walltime=float(wall))
        counts["scalars"] += len(s.step)


def _histograms(writer: Any, log: LogReader, counts: dict[str, int]) -> None:
    for param in log.params():
        for kind, prefix in (("weight", "weights"), ("grad", "grads")):
            h = log.histograms(param, kind)
            for t in range(len(h.step)):
                n = int(h.count[t])
                if n == 0:
                    continue
                mean, std = float(h.mean[t]), float(h.std[t])
                writer.add_histogram_raw(
                    f"{prefix}/{param}",
                    min=float(h.min[t]),
                    max=float(h.max[t]),
                    num=n,
                    sum=mean * n,
                    sum_squares=(std * std + mean * mean) * n,
                    bucket_limits=h.edges[t][1:].tolist(),
                    bucket_counts=h.counts[t].tolist(),
                    global_step=int(h.step[t]),
                    walltime=float(h.wall[t]),
                )
                counts["histograms"] += 1


def _read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Every floating tensor of one checkpoint as float32 numpy (bfloat16 included)."""
    state = read_state(path)  # a damaged file is one ModelError line
    return {k: v.float().numpy() for k, v in state.items() if v.is_floating_point()}


def _heatmaps(writer: Any, run: Run, counts: dict[str, int]) -> None:
    """One captioned heatmap per parameter (2-D or more) and checkpoint."""
    pictures: dict[str, list[tuple[int, float, np.ndarray, int, tuple[int, ...]]]] = {}
    for cp in run.checkpoints:
        wall = cp.path.stat().st_mtime
        for name, w in _read_checkpoint(cp.path).items():
            if w.ndim >= 2:
                picture, factor = block_mean(weight_image(w), HEATMAP_SIDE)
                pictures.setdefault(name, []).append((cp.step, wall, picture, factor, w.shape))
    for name, series in pictures.items():
        finite = [np.abs(p[np.isfinite(p)]) for _, _, p, _, _ in series]
        scale = max((float(v.max()) for v in finite if v.size), default=0.0) or 1.0
        for step, wall, picture, factor, shape in series:
            caption = [f"{name} {tuple(shape)} at step {step}", weight_layout(tuple(shape))]
            figure = weight_figure(picture, scale, caption, factor)
            writer.add_image(
                f"weight_heatmaps/{name}", figure, step, walltime=wall, dataformats="HWC"
            )
            counts["heatmaps"] += 1


def _figures(writer: Any, run: Run, out: Path, counts: dict[str, int]) -> None:
    """Every PNG under the run directory (not under ``out``), with its JSON sidecar."""
    from PIL import Image

    cps = run.checkpoints
    step = cps[-1].step if cps else 0
    skip = out.resolve()
    for png in sorted(run.path.rglob("*.png")):
        rel = png.relative_to(run.path)
        if png.resolve().is_relative_to(skip) or any(p.startswith(".") for p in rel.parts):
            continue
        tag = "figures/" + rel.with_suffix("").as_posix()
        with Image.open(png) as img:
            keep_alpha = "A" in img.getbands() or "transparency" in img.info
            pixels = np.asarray(img.convert("RGBA" if keep_alpha else "RGB"))
        wall = png.stat().st_mtime
        writer.add_image(tag, pixels, step, walltime=wall, dataformats="HWC")
        counts["figures"] += 1
        sidecar = png.with_suffix(".json")
        if sidecar.is_file():
            body = "\n".join("    " + line for line in _pretty(sidecar).splitlines())
            writer.add_text(tag, body, step, walltime=wall)  # as Markdown code


def _pretty(sidecar: Path) -> str:
    """The sidecar's JSON, indented (as it is when it is not valid JSON)."""
    text = sidecar.read_text(errors="replace")
    try:
        return json.dumps(json.loads(text), indent=2)
    except json.JSONDecodeError:
        return text
