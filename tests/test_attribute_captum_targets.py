"""captum's target tests (``tests/attr/test_targets.py``), ported.

captum generates one test per (configuration, method) of its test config whose
target is a list or a tensor: attributing a batch with per-sample targets must
equal attributing each sample alone with its own target (and with a one-entry
list). Here are those of its configurations that use saliency, input x gradient,
integrated gradients, guided backprop, deconvolution, occlusion, Grad-CAM and the
noise tunnel over them, with the same models, inputs and targets.
"""

from __future__ import annotations

import pytest
import torch
from captum.testing.helpers.basic_models import (
    BasicModel_MultiLayer,
    BasicModel_MultiLayer_MultiInput,
)

from _captum_port import close
from convlens.attribute import (
    Noise,
    deconvnet,
    grad_cam,
    guided_backprop,
    input_x_gradient,
    integrated_gradients,
    occlusion,
    saliency,
    smoothgrad,
)
from convlens.errors import TargetError

GRADIENT = {
    "integrated_gradients": (integrated_gradients, {"steps": 16}),
    "input_x_gradient": (input_x_gradient, {}),
    "saliency": (saliency, {}),
    "guided_backprop": (guided_backprop, {}),
    "deconvnet": (deconvnet, {}),
}
TUPLES = [(1, 0, 0), (0, 1, 1), (1, 1, 1), (0, 0, 0)]


def _configs() -> dict[str, dict]:
    g = torch.Generator().manual_seed(1234)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    multi_input = {
        "model": BasicModel_MultiLayer_MultiInput,
        "inputs": (10 * randn(6, 3), 5 * randn(6, 3)),
        "args": (2 * randn(6, 3), 5),
        "target": [0, 1, 1, 0, 0, 1],
    }
    return {
        "basic_multi_target": {"inputs": randn(4, 3), "target": [0, 1, 1, 0]},
        "basic_multi_input_multi_target": multi_input,
        "basic_multiple_tuple_target": {
            "inputs": randn(4, 3),
            "target": TUPLES,
            "args": (None, True),
        },
        "basic_tensor_single_target": {"inputs": randn(4, 3), "target": torch.tensor([0])},
        "basic_tensor_multi_target": {"inputs": randn(4, 3), "target": torch.tensor([1, 1, 0, 0])},
        "basic_multiple_tuple_target_with_baselines": {
            "inputs": randn(4, 3),
            "baseline": 0.5 * randn(4, 3),
            "target": TUPLES,
            "args": (None, True),
        },
        "basic_tensor_single_target_with_baselines": {
            "inputs": randn(4, 3),
            "baseline": 0.5 * randn(4, 3),
            "target": torch.tensor([0]),
        },
        "basic_multiple_tuple_target_with_internal_batching": {
            "inputs": randn(4, 3),
            "target": TUPLES,
            "args": (None, True),
            "batch_size": 2,
        },
        "basic_multi_input_multi_target_nt": {**multi_input, "nt": True},
        "basic_multiple_target_with_baseline_nt": {
            "inputs": randn(4, 3),
            "target": [0, 1, 1, 0],
            "nt": True,
        },
        "basic_multiple_tuple_target_nt": {
            "inputs": randn(4, 3),
            "target": TUPLES,
            "args": (None, True),
            "nt": True,
        },
        "basic_single_tensor_target_nt": {
            "inputs": randn(4, 3),
            "target": torch.tensor([0]),
            "nt": True,
        },
        "basic_multi_tensor_target_nt": {
            "inputs": randn(4, 3),
            "target": torch.tensor([0, 1, 1, 0]),
            "nt": True,
        },
        "basic_multi_tensor_target_batched_nt": {
            "inputs": randn(4, 3),
            "target": torch.tensor([0, 1, 1, 0]),
            "nt": True,
            "batch_size": 8,
        },
        "basic_multiple_tuple_target_occlusion": {
            "inputs": randn(4, 3),
            "target": TUPLES,
            "args": (None, True),
            "window": (2,),
        },
        "basic_layer_multiple_target": {"inputs": randn(4, 3), "target": [0, 1, 1, 0]},
        "basic_layer_tensor_multiple_target": {
            "inputs": randn(4, 3),
            "target": torch.tensor([0, 1, 1, 0]),
        },
        "basic_layer_multiple_tuple_target": {
            "inputs": randn(4, 3),
            "target": TUPLES,
            "args": (None, True),
        },
    }


CONFIGS = _configs()
WITH_BASELINES = {
    "basic_multiple_tuple_target_with_baselines",
    "basic_tensor_single_target_with_baselines",
    "basic_multiple_tuple_target_with_internal_batching",
}


def _cases() -> list[tuple[str, str]]:
    cases = []
    for name in CONFIGS:
        if name in WITH_BASELINES:
            cases.append((name, "integrated_gradients"))
        elif name.endswith("_occlusion"):
            cases.append((name, "occlusion"))
        elif name.startswith("basic_layer"):
            cases.append((name, "grad_cam"))
        else:
            cases += [(name, method) for method in GRADIENT]
    return cases


def _run(name: str, method: str, inputs, target, args, baseline):
    cfg = CONFIGS[name]
    model = cfg.get("model", BasicModel_MultiLayer)()
    common = {"additional_forward_args": args, "batch_size": cfg.get("batch_size")}
    if method == "occlusion":
        return occlusion(model, inputs, target, window=cfg["window"], stride=1, **common)
    if method == "grad_cam":
        return grad_cam(model, inputs, target, layer="relu", relu=False, upsample=False, **common)
    fn, options = GRADIENT[method]
    if baseline is not None:
        options = {**options, "baseline": baseline}
    if cfg.get("nt"):
        noise = Noise(samples=20, stdev=0.0)
        return smoothgrad(model, inputs, target, method=method, noise=noise, **options, **common)
    return fn(model, inputs, target, **options, **common)


def _one(value, i):
    if isinstance(value, torch.Tensor) and value.ndim > 0:
        return value[i : i + 1]
    if isinstance(value, tuple):
        return tuple(_one(v, i) for v in value)
    return value


@pytest.mark.parametrize(("name", "method"), _cases(), ids="-".join)
def test_target(name: str, method: str) -> None:
    cfg = CONFIGS[name]
    inputs, target = cfg["inputs"], cfg["target"]
    args, baseline = cfg.get("args"), cfg.get("baseline")
    whole = _run(name, method, inputs, target, args, baseline)
    n = len(inputs[0] if isinstance(inputs, tuple) else inputs)
    for i in range(n):
        own = target[i] if len(target) == n else target
        if isinstance(own, torch.Tensor):
            own = int(own)
        single = _run(name, method, _one(inputs, i), own, _one(args, i), _one(baseline, i))
        close(_one(whole, i), single, 1e-4)
        if len(target) == n:  # and with a one-entry list of targets
            listed = target[i : i + 1]
            single = _run(name, method, _one(inputs, i), listed, _one(args, i), _one(baseline, i))
            close(_one(whole, i), single, 1e-4)


def test_simple_target_missing_error() -> None:
    # captum asserts that a two-output model needs a target; None says "the output is the
    # score", which a (1, 2) output is not
    with pytest.raises(TargetError, match=r"target None takes the output as one score per"):
        integrated_gradients(BasicModel_MultiLayer(), torch.zeros(1, 3), None)


def test_multi_target_error() -> None:
    with pytest.raises(TargetError, match=r"target index \(1, 0\) does not fit a model output"):
        integrated_gradients(
            BasicModel_MultiLayer(), torch.zeros(1, 3), (1, 0), additional_forward_args=(None, True)
        )
