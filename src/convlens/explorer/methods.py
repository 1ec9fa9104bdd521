"""Method panels: attribution maps of one image, and what one channel responds to.

Everything here runs the run's model on demand (CPU), through the library:

- :func:`attribution`: saliency, guided backpropagation, deconvnet or Grad-CAM of
  one probed image for a chosen target (``convlens.attribute``), with its picture;
- :func:`channel_topk`: a channel's top-k (image, position) pairs from the probe,
  their receptive-field boxes and projections (``project_units``): deconvnet when the
  model max-pools, guided backpropagation when it does not (deconvnet without the
  switches of max-pooling hardly depends on the image), and the panel says which;
- :func:`channel_synthesis`: an image synthesised to excite the channel
  (``convlens.synthesize.channels``, a short optimisation, cached).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..render import attribution_image, heatmap, overlay
from ._http import ApiError
from .session import RunView
from .session import torch_lock as _torch_lock

METHODS = ("saliency", "guided_backprop", "deconvnet", "grad_cam")
SYNTHESIS_STEPS = 64


def model_at(view: RunView, checkpoint: str | None = None) -> torch.nn.Module:
    """The run's model at a snapshot, in eval mode (cached)."""
    return view.model(checkpoint)


def _inputs(view: RunView, rows: np.ndarray) -> torch.Tensor:
    pixels = view.images()[rows].transpose(0, 3, 1, 2)  # (N, C, H, W) uint8
    return view.run.preprocess(np.ascontiguousarray(pixels))


def _target(target: str, outputs: int) -> int | str:
    if target == "predicted":
        return target
    if not target.lstrip("-").isdigit() or not 0 <= int(target) < outputs:
        raise ApiError(
            400,
            f"query parameter 'target' is {target!r}: expected 'predicted' or an output "
            f"index 0..{outputs - 1}",
        )
    return int(target)


def attribution(
    view: RunView,
    row: int,
    method: str,
    target: str = "predicted",
    layer: str | None = None,
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """The attribution map of image ``row``: ``{"map": (C|1, H, W) float32, "picture":
    (H, W, 3) uint8, "scores": (K,) float32, "target": int}``.

    ``method`` is one of :data:`METHODS`; Grad-CAM needs a spatial ``layer`` and
    returns a (1, H, W) map upsampled to the input; the others return (C, H, W).

    >>> # attribution(view, 0, "grad_cam", "3", layer="conv2")["map"].shape
    """
    from .. import attribute

    if not 0 <= row < view.n_images:
        raise ApiError(404, f"image row {row} does not exist: expected 0..{view.n_images - 1}")
    model = model_at(view, checkpoint)
    x = _inputs(view, np.array([row]))
    with _torch_lock, torch.no_grad():
        scores = model(x)[0].float()
    if scores.ndim != 1:
        raise ApiError(400, f"the model's output has shape {tuple(scores.shape)}; expected (K,)")
    tgt = _target(target, len(scores))
    chosen = int(scores.argmax()) if tgt == "predicted" else int(tgt)
    if method == "grad_cam":
        spatial = [n for n in view.layer_names if view.probe.is_spatial(n)]
        if layer not in spatial:
            raise ApiError(
                400,
                f"query parameter 'layer' is {layer!r}: Grad-CAM needs a spatial layer, "
                f"expected one of {', '.join(spatial)}",
            )
        with _torch_lock:
            maps = attribute.grad_cam(model, x, chosen, layer=layer)
    else:
        fn = getattr(attribute, method)
        with _torch_lock:
            maps = fn(model, x, chosen)
    values = maps[0].detach().float().numpy()
    pixels = view.images()[row]  # (H, W, C)
    if method == "grad_cam":
        picture = overlay(pixels[None], heatmap(values[None, 0]), alpha=0.5)[0]
    else:
        picture = attribution_image(values[None], style="heat")[0]
    return {
        "map": values,
        "picture": np.ascontiguousarray(picture, dtype=np.uint8),
        "scores": scores.numpy().astype(np.float32),
        "target": chosen,
    }


def channel_topk(
    view: RunView, layer: str, channel: int, checkpoint: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The top-k images of one channel and their projections to the input.

    Returns the arrays ``rows`` (k,) probe rows, ``values`` (k,), ``positions`` (k, 2),
    ``boxes`` (k, 4) (y0, x0, y1, x1) on the input, ``projections`` (k, C, H, W)
    float32 (``project_units`` of the unit at its position) and ``pictures`` (k, H, W,
    3) uint8 (each projection scaled by its largest absolute value, grey = 0), and
    ``{"method": rule, "method_note": one line}``
    (:func:`convlens.attribute.projection_rule`).
    """
    from ..attribute import project_units, projection_rule

    view.layer(layer)
    probe = view.probe_at(checkpoint)
    values, image_index, position = probe.topk(layer)
    if not 0 <= channel < len(values):
        raise ApiError(
            400,
            f"channel {channel} of layer {layer!r} does not exist: expected 0..{len(values) - 1}",
        )
    keep = np.isfinite(values[channel]) & (image_index[channel] >= 0)
    rows = probe.rows_of(image_index[channel][keep])
    pos = position[channel][keep]
    boxes = probe.topk_boxes(layer)[channel][keep] if probe.is_spatial(layer) else None
    model = model_at(view, probe.checkpoint)
    x = _inputs(view, rows)
    with _torch_lock:
        rule, note = view._cache.get(
            ("rule", probe.checkpoint), lambda: projection_rule(model, x[:1]), lambda _: 64
        )
        proj = project_units(
            model,
            x,
            layer,
            channel,
            positions=pos if probe.is_spatial(layer) else None,
            rule=rule,
        )
    proj_np = proj.detach().float().numpy()
    top = np.abs(proj_np).reshape(len(proj_np), -1).max(1).reshape(-1, 1, 1, 1)
    scaled = 0.5 + 0.5 * proj_np / np.where(top > 0, top, 1.0)
    pictures = np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    if pictures.shape[-1] == 1:
        pictures = np.repeat(pictures, 3, -1)
    arrays = {
        "rows": rows.astype(np.int64),
        "values": values[channel][keep].astype(np.float32),
        "positions": pos.astype(np.int64),
        "boxes": np.zeros((len(rows), 4), np.int64) if boxes is None else boxes.astype(np.int64),
        "projections": proj_np.astype(np.float32),
        "pictures": np.ascontiguousarray(pictures),
    }
    return arrays, {"method": rule, "method_note": note}


def channel_synthesis(
    view: RunView, layer: str, channel: int, checkpoint: str | None = None
) -> np.ndarray:
    """(H, W, C) uint8: an input optimised to excite ``channel`` of ``layer`` (cached).

    A short optimisation (:data:`SYNTHESIS_STEPS` steps of
    :func:`convlens.synthesize.channels`, seeded) so that it answers in seconds.
    """
    from .. import synthesize

    view.layer(layer)
    dims = int(view.probe.layer_shape(layer)[-1])
    if not 0 <= channel < dims:
        raise ApiError(
            400, f"channel {channel} of layer {layer!r} does not exist: expected 0..{dims - 1}"
        )
    name = view.probe_at(checkpoint).checkpoint

    def make() -> np.ndarray:
        model = model_at(view, name)
        with _torch_lock:
            spec = synthesize.MAXIMISE.replace(
                steps=SYNTHESIS_STEPS, size=tuple(view.run.input_shape[1:]), seed=0
            )
            res = synthesize.channels(model, layer, [channel], spec, data=view.run.normalization)
        return np.ascontiguousarray(res.pixels()[0].transpose(1, 2, 0))

    return view._cache.get(("synth", name, layer, channel), make, lambda a: a.nbytes)
