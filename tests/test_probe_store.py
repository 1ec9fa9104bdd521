"""The probe store against brute force: embeddings, outputs, top-k, means, projections."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from _probe_helpers import brute_topk, forward_all
from convlens import open_run
from convlens.data import load_dataset
from convlens.probe import ProbeResult, fit_pca, open_probe
from convlens.probe import run as probe_run
from convlens.probe.project import sample_points
from convlens.zoo import create


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", size=(28, 28)).subset(slice(0, 600))


@pytest.fixture(scope="module")
def lenet_probe(tmp_path_factory, digits) -> tuple[ProbeResult, torch.nn.Module]:
    torch.manual_seed(1)
    model = create("lenet").eval()
    res = probe_run(model, data=digits, out=tmp_path_factory.mktemp("p") / "s", batch_size=128)
    return res, model


def test_embeddings_and_outputs_equal_a_direct_forward_pass(lenet_probe, digits):
    res, model = lenet_probe
    inputs = digits.normalization.apply(digits.images)
    acts, out = forward_all(model, inputs, res.layers, 128)
    assert res.layers == ["conv1", "pool1", "conv2", "pool2", "fc1", "relu1", "fc2"]
    for name in res.layers:
        ref = acts[name]
        ref = ref.transpose(0, 2, 3, 1) if ref.ndim == 4 else ref
        got = res.embeddings(name)
        assert got.dtype == np.float16 and got.shape == ref.shape
        np.testing.assert_array_equal(got, ref.astype(np.float16))
        lo, hi = res.channel_range(name)
        axes = tuple(range(ref.ndim - 1))
        np.testing.assert_array_equal(lo, ref.min(axis=axes))
        np.testing.assert_array_equal(hi, ref.max(axis=axes))
    np.testing.assert_array_equal(res.outputs, out)
    np.testing.assert_array_equal(res.predictions, out.argmax(1))
    np.testing.assert_array_equal(res.labels, digits.labels)
    np.testing.assert_array_equal(res.indices, digits.indices)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (digits.labels, out.argmax(1)), 1)
    np.testing.assert_array_equal(res.confusion(), confusion)


def test_topk_equals_brute_force_on_a_random_lenet(lenet_probe, digits):
    res, model = lenet_probe
    inputs = digits.normalization.apply(digits.images)
    acts, _ = forward_all(model, inputs, ["conv2", "fc1"], 128)
    for name in ("conv2", "fc1"):
        values, images, positions = brute_topk(acts[name], digits.indices, 9)
        got_v, got_i, got_p = res.topk(name)
        np.testing.assert_array_equal(got_i, images)
        np.testing.assert_array_equal(got_p, positions)
        np.testing.assert_array_equal(got_v, values)


def test_class_means_are_the_means_of_stored_embeddings_and_pixels(lenet_probe, digits):
    res, _ = lenet_probe
    for name in ("conv1", "fc2"):
        emb = res.embeddings(name).astype(np.float64)
        for c in range(10):
            ref = emb[digits.labels == c].mean(0)
            np.testing.assert_allclose(res.class_means(name)[c], ref, rtol=1e-6, atol=1e-7)
    pixels = digits.images.astype(np.float64) / 255
    for c in (0, 7):
        ref = pixels[digits.labels == c].mean(0)
        np.testing.assert_allclose(res.class_means("input")[c], ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(res.class_counts(), np.bincount(digits.labels, minlength=10))


def test_pca_projection_matches_sklearn_up_to_sign(lenet_probe):
    from sklearn.decomposition import PCA

    res, _ = lenet_probe
    emb = res.embeddings("fc1").astype(np.float64)  # 600 points: all are the sample
    with threadpool_limits(1):
        ref = PCA(n_components=10, svd_solver="full").fit_transform(emb)
    got = res.projection("fc1")
    assert got.shape == (600, 10)
    signs = np.sign((got * ref).sum(0))
    np.testing.assert_allclose(got, ref * signs, rtol=2e-3, atol=2e-3 * np.abs(ref).max())
    spatial = res.projection("conv2")
    assert spatial.shape == (600, 8, 8, 10)
    points = res.embeddings("conv2").reshape(-1, 50)
    picked = sample_points(600, 64)  # 38,400 points: fitted on a 20,000-point sample
    assert len(picked) == 20_000
    pca = fit_pca(points[picked].astype(np.float64), 10)
    want = pca.transform(res.embeddings("conv2")).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(spatial, want)


def test_topk_boxes_follow_the_receptive_field_of_lenet(lenet_probe):
    res, _ = lenet_probe
    # conv2 of lenet: size 14, stride 2, position (i, j) -> rows 2i..2i+13
    _, _, pos = res.topk("conv2")
    boxes = res.topk_boxes("conv2")
    want = np.stack(
        [2 * pos[..., 0], 2 * pos[..., 1], 2 * pos[..., 0] + 14, 2 * pos[..., 1] + 14], -1
    )
    np.testing.assert_array_equal(boxes, want)
    np.testing.assert_array_equal(res.topk_boxes("fc1")[0, 0], [0, 0, 28, 28])


@pytest.mark.slow
def test_mnist_topk_equals_brute_force_on_the_trained_lenet(mnist_lenet_run):
    res = probe_run(mnist_lenet_run, limit=2000, batch_size=256)
    assert open_run(mnist_lenet_run.path).probe().checkpoint == res.checkpoint
    ds = mnist_lenet_run.dataset().subset(slice(0, 2000))
    acts, _out = forward_all(
        res.run.model(), ds.normalization.apply(ds.images), ["conv1", "pool2", "fc1", "fc2"], 256
    )
    for name in ("conv1", "pool2", "fc1", "fc2"):
        values, images, positions = brute_topk(acts[name], ds.indices, 9)
        got_v, got_i, got_p = res.topk(name)
        np.testing.assert_array_equal(got_i, images)
        np.testing.assert_array_equal(got_p, positions)
        np.testing.assert_array_equal(got_v, values)
    emb = res.embeddings("conv1").astype(np.float32)
    ref = acts["conv1"].transpose(0, 2, 3, 1)
    np.testing.assert_allclose(emb, ref, rtol=2**-10, atol=2**-14)
    assert (res.predictions == ds.labels).mean() > 0.9


@pytest.mark.slow
def test_mnist_full_10000_topk_equals_brute_force(mnist_lenet_run, tmp_path):
    res = probe_run(mnist_lenet_run, layers=["conv2", "fc1"], out=tmp_path, projections=())
    assert len(res) == 10_000
    ds = mnist_lenet_run.dataset()
    acts, _ = forward_all(res.run.model(), ds.normalization.apply(ds.images), ["conv2", "fc1"], 256)
    for name in ("conv2", "fc1"):
        values, images, positions = brute_topk(acts[name], ds.indices, 9)
        got_v, got_i, got_p = res.topk(name)
        np.testing.assert_array_equal(got_i, images)
        np.testing.assert_array_equal(got_p, positions)
        np.testing.assert_array_equal(got_v, values)
    assert open_probe(res.path).checkpoint == res.checkpoint
