"""Synthesis, probe and training on CUDA agree with the CPU (skipped without a GPU).

CLI checks of ``--device`` on a machine without CUDA run everywhere else.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convlens import zoo
from convlens.cli.main import main
from convlens.data import Normalization
from convlens.data.dataset import ImageDataset
from convlens.synthesize import DREAM, INVERSION, MAXIMISE, Dream, channels, deepdream, invert

CUDA = torch.device("cuda")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")


def _pair(name: str):
    torch.manual_seed(0)
    cpu = zoo.create(name).eval()
    gpu = zoo.create(name).eval()
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.to(CUDA)


@needs_cuda
def test_channels_on_cuda_matches_cpu():
    cpu, gpu = _pair("lenet")
    norm = Normalization((0.13,), (0.31,))
    spec = MAXIMISE.replace(steps=8, size=28, seed=1)
    a = channels(cpu, "conv2", range(6), spec, data=norm)
    b = channels(gpu, "conv2", range(6), spec, data=norm)
    assert b.images.device.type == "cpu" and b.scores.device.type == "cpu"
    # Adam steps by ~lr * sign(gradient), so pixels whose gradient is ~0 can move
    # apart by float rounding: compare the images as a whole and the scores closely
    rel = float((b.images - a.images).norm() / a.images.norm())
    assert rel < 2e-2, rel
    torch.testing.assert_close(b.scores, a.scores, atol=2e-3, rtol=1e-3)


@needs_cuda
def test_deepdream_and_invert_on_cuda_match_cpu():
    cpu, gpu = _pair("smallvgg")
    norm = Normalization((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    photo = np.random.default_rng(0).integers(0, 256, (3, 48, 64), dtype=np.uint8)
    spec = DREAM.replace(steps=3, transforms="roll(4)")
    a = deepdream(cpu, photo, ["features.conv2_1"], spec, dream=Dream(octaves=2), data=norm)
    b = deepdream(gpu, photo, ["features.conv2_1"], spec, dream=Dream(octaves=2), data=norm)
    assert b.image.device.type == "cpu"
    torch.testing.assert_close(b.image, a.image, atol=1e-3, rtol=1e-3)
    small = photo[:, :32, :32]
    a = invert(cpu, small, "features.conv1_1", INVERSION.replace(steps=5), data=norm)
    b = invert(gpu, small, "features.conv1_1", INVERSION.replace(steps=5), data=norm)
    assert b.images.device.type == "cpu" and b.errors.device.type == "cpu"
    torch.testing.assert_close(b.images, a.images, atol=1e-3, rtol=1e-3)


@needs_cuda
def test_probe_on_cuda_matches_cpu(tmp_path):
    pytest.importorskip("zarr")
    from convlens.probe import run as probe_run

    cpu, gpu = _pair("lenet")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 1, 28, 28), dtype=np.uint8)
    ds = ImageDataset(images, rng.integers(0, 10, 300), [str(i) for i in range(10)])
    a = probe_run(cpu, ds, out=tmp_path / "cpu", batch_size=128, projections=())
    b = probe_run(gpu, ds, out=tmp_path / "gpu", batch_size=128, projections=(), device="cuda")
    assert next(gpu.parameters()).device.type == "cuda"
    np.testing.assert_allclose(b.outputs, a.outputs, atol=1e-3, rtol=1e-3)
    va = a.topk("conv2")[0]
    vb = b.topk("conv2")[0]
    np.testing.assert_allclose(vb, va, atol=1e-2, rtol=1e-2)


@needs_cuda
def test_train_on_cuda(tmp_path):
    from convlens.record import TrainConfig, train

    cfg = TrainConfig("lenet", "digits", epochs=1, device="cuda", hist_every=0)
    res = train(cfg, tmp_path / "run", progress=False)
    assert res.run.manifest.training["device"] == "cuda"
    assert res.metrics["val/acc"] > 0.5
    model = res.run.model()
    assert next(model.parameters()).device.type == "cpu"  # checkpoints load on the CPU


@no_cuda
def test_cli_train_device_without_cuda(tmp_path, capsys):
    code = main(["train", "--model", "lenet", "--data", "digits", "--device", "cuda",
                 "--out", str(tmp_path / "run")])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == (
        "error: device 'cuda' was asked for but CUDA is not available on this machine; "
        "use --device cpu or --device auto\n"
    )
    assert not (tmp_path / "run").exists()


def test_cli_train_device_not_a_device(tmp_path, capsys):
    code = main(["train", "--model", "lenet", "--data", "digits", "--device", "gpu",
                 "--out", str(tmp_path / "run")])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == (
        "error: device 'gpu' is not a device: expected 'cpu', 'cuda', 'cuda:N' or 'auto'\n"
    )


@no_cuda
def test_cli_probe_device_without_cuda(digits_lenet_run, tmp_path, capsys):
    code = main(["probe", str(digits_lenet_run.path), "--device", "cuda", "--out", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: device 'cuda' was asked for but CUDA is not available on this machine; "
        "use --device cpu or --device auto\n"
    )


def test_probe_bare_model_device_mismatch(tmp_path):
    from convlens.errors import ModelError
    from convlens.probe import run as probe_run

    images = np.zeros((4, 1, 28, 28), np.uint8)
    ds = ImageDataset(images, np.zeros(4, np.int64), ["a"])
    with pytest.raises(ModelError) as err:
        probe_run(zoo.create("lenet").to("meta"), ds, out=tmp_path, device="cpu")
    assert str(err.value) == (
        "device='cpu' but the model's parameters are on 'meta': move the model "
        "(model.to(device)) or leave device=None to probe where it is"
    )
