"""The probe store against brute force: points, outputs, top-k, means, projections."""

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
from convlens.probe.project import fit_sample_size
from convlens.zoo import create

LENET_DEFAULTS = ["conv1", "pool1", "conv2", "pool2", "relu1", "fc2"]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", size=(28, 28)).subset(slice(0, 600))


@pytest.fixture(scope="module")
def lenet_probe(tmp_path_factory, digits) -> tuple[ProbeResult, torch.nn.Module]:
    torch.manual_seed(1)
    model = create("lenet").eval()
    res = probe_run(model, data=digits, out=tmp_path_factory.mktemp("p") / "s", batch_size=128)
    return res, model


@pytest.fixture(scope="module")
def acts(lenet_probe, digits):
    res, model = lenet_probe
    return forward_all(model, digits.normalization.apply(digits.images), res.layers, 128)


def test_embeddings_and_outputs_equal_a_direct_forward_pass(lenet_probe, acts, digits):
    res, _ = lenet_probe
    layers, out = acts
    assert res.layers == LENET_DEFAULTS  # block and stage outputs: relu1, not fc1
    for name in res.layers:
        ref = layers[name]
        ref = ref.transpose(0, 2, 3, 1) if ref.ndim == 4 else ref
        assert res.fraction(name) == 1.0 and not res.is_sampled(name)  # small: all stored
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


def test_topk_equals_brute_force_on_a_random_lenet(lenet_probe, acts, digits):
    res, _ = lenet_probe
    for name in ("conv2", "relu1"):
        values, images, positions = brute_topk(acts[0][name], digits.indices, 9)
        got_v, got_i, got_p = res.topk(name)
        np.testing.assert_array_equal(got_i, images)
        np.testing.assert_array_equal(got_p, positions)
        np.testing.assert_array_equal(got_v, values)


def test_class_and_image_means_are_float64_means_over_every_position(lenet_probe, acts, digits):
    res, _ = lenet_probe
    for name in ("conv1", "pool2", "fc2"):
        a = acts[0][name].astype(np.float64)
        per_image = a.reshape(len(a), a.shape[1], -1).mean(2)  # (N, C)
        if name == "fc2":  # a vector layer's per-image "means" are its stored values
            np.testing.assert_array_equal(res.image_means(name), a.astype(np.float16))
        else:
            np.testing.assert_allclose(res.image_means(name), per_image, rtol=1e-6, atol=1e-7)
        for c in range(10):
            ref = per_image[digits.labels == c].mean(0)
            np.testing.assert_allclose(res.class_means(name)[c], ref, rtol=1e-6, atol=1e-6)
    pixels = digits.images.astype(np.float64) / 255
    for c in (0, 7):
        ref = pixels[digits.labels == c].mean(0)
        np.testing.assert_allclose(res.class_means("input")[c], ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(res.class_counts(), np.bincount(digits.labels, minlength=10))


def test_pca_is_fitted_on_the_first_points_and_applied_to_every_point(lenet_probe, acts):
    res, _ = lenet_probe
    a = acts[0]["conv2"].transpose(0, 2, 3, 1)  # (600, 8, 8, 50) float32
    points = a.reshape(-1, 50)
    sample = points[: fit_sample_size(50)].astype(np.float64)  # the first rows' points
    pca = fit_pca(sample, 10)
    mean, components = res.pca_basis("conv2")
    np.testing.assert_array_equal(mean, pca.mean)
    np.testing.assert_array_equal(components, pca.components)
    want = ((points.astype(np.float64) - mean) @ components.T).reshape(600, 8, 8, 10)
    got = res.projection("conv2")
    assert got.shape == (600, 8, 8, 10)
    np.testing.assert_allclose(got, want, rtol=2**-10, atol=1e-3)


def test_pca_of_a_vector_layer_matches_sklearn_up_to_sign(lenet_probe):
    from sklearn.decomposition import PCA

    res, _ = lenet_probe
    emb = res.embeddings("relu1").astype(np.float64)  # 600 points: all are the sample
    with threadpool_limits(1):
        ref = PCA(n_components=10, svd_solver="full").fit_transform(emb)
    got = res.projection("relu1")
    assert got.shape == (600, 10)
    signs = np.sign((got * ref).sum(0))
    np.testing.assert_allclose(got, ref * signs, rtol=2e-3, atol=3e-3 * np.abs(ref).max())


def test_topk_boxes_follow_the_receptive_field_of_lenet(lenet_probe):
    res, _ = lenet_probe
    # conv2 of lenet: size 14, stride 2, position (i, j) -> rows 2i..2i+13
    _, _, pos = res.topk("conv2")
    boxes = res.topk_boxes("conv2")
    want = np.stack(
        [2 * pos[..., 0], 2 * pos[..., 1], 2 * pos[..., 0] + 14, 2 * pos[..., 1] + 14], -1
    )
    np.testing.assert_array_equal(boxes, want)
    np.testing.assert_array_equal(res.topk_boxes("relu1")[0, 0], [0, 0, 28, 28])


@pytest.mark.slow
def test_mnist_topk_equals_brute_force_on_the_trained_lenet(mnist_lenet_run):
    res = probe_run(mnist_lenet_run, limit=2000, batch_size=256)
    assert open_run(mnist_lenet_run.path).probe().checkpoint == res.checkpoint
    ds = mnist_lenet_run.dataset().subset(slice(0, 2000))
    names = ["conv1", "pool2", "relu1", "fc2"]
    acts, _out = forward_all(res.run.model(), ds.normalization.apply(ds.images), names, 256)
    for name in names:
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


def test_pca_of_a_wide_layer_is_the_leading_singular_vectors(rng):
    """Above 512 dimensions the fit is a randomised subspace iteration: against LAPACK's SVD."""
    d, m = 700, 1500
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    points = (rng.normal(size=(m, d)) / (1 + np.arange(d)) ** 0.7) @ basis.T
    pca = fit_pca(points, 10)
    _, _, vt = np.linalg.svd(points - points.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs((pca.components * vt[:10]).sum(1)), 1.0, atol=1e-5)
    big = np.argmax(np.abs(pca.components), axis=1)
    assert (pca.components[np.arange(10), big] > 0).all()  # the fixed sign
