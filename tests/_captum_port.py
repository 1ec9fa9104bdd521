"""Shared pieces of the captum port: the cases convlens cannot express, a brute-force
noise-tunnel reference, and a closeness check.

The ported tests (``test_attribute_captum_*.py``) are ours; they take captum's
small test models from the installed ``captum.testing`` package (a test-only
dependency) and the expected values from captum's own tests
(github.com/pytorch/captum, ``tests/attr/``). Nothing of captum is copied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from convlens.attribute._smoothgrad import row_seed

#: captum test (file::name) -> why convlens cannot express it (see docs/attribution.md)
NOT_EXPRESSIBLE: dict[str, str] = {
    "test_saliency.py::test_futures_not_implemented": (
        "no asynchronous (torch.futures) API: convlens methods return tensors"
    ),
    "test_input_x_gradient.py::test_futures_not_implemented": (
        "no asynchronous (torch.futures) API"
    ),
    "test_integrated_gradients_basic.py::test_futures_not_implemented": (
        "no asynchronous (torch.futures) API"
    ),
    "test_occlusion.py::test_futures_not_implemented": "no asynchronous (torch.futures) API",
    "test_guided_backprop.py::test_simple_input_conv_neuron_gb_agg_neurons": (
        "neuron selectors are a channel and a position; slices summing a range of units "
        "are not offered"
    ),
    "test_deconvolution.py::test_simple_input_conv_neuron_deconv_agg_neurons": (
        "neuron selectors are a channel and a position; slices summing a range of units "
        "are not offered"
    ),
    "test_guided_grad_cam.py::test_improper_dims_multi_input_conv": (
        "an input whose spatial rank differs from the layer's gets a one-line "
        "InputShapeError, not an empty map and a warning"
    ),
    "test_guided_grad_cam.py::test_improper_method_multi_input_conv": (
        "an unknown interpolation gets a one-line ConvlensError, not empty maps"
    ),
    "layer/test_grad_cam.py::test_simple_input_conv_split_channels": (
        "Grad-CAM maps are summed over channels; per-channel maps "
        "(attr_dim_summation=False) are not offered"
    ),
    "test_occlusion.py::test_simple_multi_input_int_to_int": (
        "integer inputs are refused (attribution needs float inputs)"
    ),
    "test_occlusion.py::test_simple_multi_input_int_to_float": (
        "integer inputs are refused, and a model is an nn.Module, not any function"
    ),
    "test_occlusion.py::test_simple_input_with_show_progress": (
        "the library shows no progress bar (the CLI owns progress)"
    ),
}


def close(ours: Any, want: Any, delta: float = 1e-4) -> None:
    """Every element of ``ours`` within ``delta`` of ``want`` (tensors or tuples of them)."""
    if isinstance(ours, tuple):
        assert isinstance(want, tuple) and len(ours) == len(want)
        for a, b in zip(ours, want, strict=True):
            close(a, b, delta)
        return
    want = torch.as_tensor(want, dtype=ours.dtype)
    assert ours.shape == want.shape, (ours.shape, want.shape)
    gap = float((ours.detach() - want).abs().max()) if ours.numel() else 0.0
    assert gap <= delta, f"max |ours - want| = {gap} > {delta}"


def noise_tunnel_reference(
    fn: Callable[..., Any],
    model: torch.nn.Module,
    xs: tuple[torch.Tensor, ...],
    target: Any,
    *,
    stdev: float | tuple[float, ...],
    samples: int,
    kind: str,
    seed: int = 0,
    **options: Any,
) -> tuple[torch.Tensor, ...]:
    """SmoothGrad kinds by brute force: every (sample, copy) on its own, in float64
    sums, with the noise convlens documents (one generator per sample and copy)."""
    n = len(xs[0])
    stdevs = stdev if isinstance(stdev, tuple) else (stdev,) * len(xs)
    maps = []
    for i in range(n):
        copies = []
        for j in range(samples):
            g = torch.Generator().manual_seed(row_seed(seed, i, j))
            noisy = tuple(
                (x[i] + s * torch.randn(x.shape[1:], generator=g, dtype=x.dtype))[None]
                for x, s in zip(xs, stdevs, strict=True)
            )
            t = target[i] if isinstance(target, list) else target
            out = fn(model, noisy, t, **options)
            copies.append(tuple(o[0].double() for o in out))
        stacked = [torch.stack([c[k] for c in copies]) for k in range(len(xs))]
        if kind == "smoothgrad":
            maps.append(tuple(s.mean(0) for s in stacked))
        elif kind == "smoothgrad_sq":
            maps.append(tuple((s * s).mean(0) for s in stacked))
        else:
            maps.append(tuple(s.var(0, unbiased=False) for s in stacked))
    return tuple(torch.stack([m[k] for m in maps]).float() for k in range(len(xs)))
