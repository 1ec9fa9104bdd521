"""A store bounded by a budget: sampled positions, exact summaries, xarray, float32, damage."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _probe_helpers import brute_topk, forward_all
from convlens.data import load_dataset
from convlens.errors import DataError, RunError
from convlens.probe import open_probe
from convlens.probe import run as probe_run
from convlens.zoo import create

BUDGET = "3MB"
M64 = 2**64 - 1


def _mix(z: int) -> int:
    """SplitMix64's finaliser, on Python integers (the reference for the sampler)."""
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & M64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def _kept(index: int, positions: int, keep: int, seed: int = 0) -> list[int]:
    base = _mix((seed * 0x9E3779B97F4A7C15 + _mix(index)) & M64)
    keys = sorted((_mix((base + p) & M64), p) for p in range(positions))
    return sorted(p for _, p in keys[:keep])


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", size=(28, 28)).subset(slice(100, 400))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(5)
    return create("lenet").eval()


@pytest.fixture(scope="module")
def sampled(tmp_path_factory, digits, model):
    out = tmp_path_factory.mktemp("sampled") / "s"
    return probe_run(model, data=digits, out=out, batch_size=64, budget=BUDGET)


@pytest.fixture(scope="module")
def acts(sampled, digits, model):
    return forward_all(model, digits.normalization.apply(digits.images), sampled.layers, 64)[0]


def test_the_budget_bounds_the_store_and_the_fraction_is_recorded(sampled):
    files = [p for p in sampled.path.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    assert 0.75 * 3_000_000 <= size <= 3_000_000  # within the budget, and most of it used
    conv1 = sampled.storage("conv1")
    assert conv1["sampled"] and conv1["positions"] == 576
    assert 1 <= conv1["points_per_image"] < 576
    assert conv1["stored_points"] == 300 * conv1["points_per_image"]
    assert conv1["total_points"] == 300 * 576
    assert conv1["fraction"] == pytest.approx(conv1["points_per_image"] / 576)
    assert not sampled.is_sampled("relu1") and sampled.fraction("relu1") == 1.0
    with pytest.raises(RunError, match=r"layer 'conv1' is stored as a sample \("):
        sampled.embeddings("conv1")


def test_sampled_points_are_the_activations_at_the_seeded_positions(sampled, acts, digits):
    values, rows, positions = sampled.points("conv1")
    m = sampled.storage("conv1")["points_per_image"]
    np.testing.assert_array_equal(rows, np.repeat(np.arange(300), m))
    for r in (0, 1, 137, 299):
        flat = positions[r * m : (r + 1) * m, 0] * 24 + positions[r * m : (r + 1) * m, 1]
        assert flat.tolist() == _kept(int(digits.indices[r]), 576, m)
    a = acts["conv1"]  # (N, C, 24, 24)
    want = a[rows, :, positions[:, 0], positions[:, 1]]
    np.testing.assert_array_equal(values, want.astype(np.float16))


def test_summaries_of_a_sampled_layer_cover_every_position(sampled, acts, digits):
    for name in ("conv1", "conv2"):
        values, images, positions = brute_topk(acts[name], digits.indices, 9)
        got = sampled.topk(name)
        np.testing.assert_array_equal(got[0], values)
        np.testing.assert_array_equal(got[1], images)
        np.testing.assert_array_equal(got[2], positions)
        a = acts[name].astype(np.float64)
        np.testing.assert_array_equal(sampled.channel_range(name)[0], acts[name].min((0, 2, 3)))
        means = a.mean((2, 3))
        np.testing.assert_allclose(sampled.image_means(name), means, rtol=1e-6, atol=1e-7)
        for c in (0, 3):
            ref = means[digits.labels == c].mean(0)
            np.testing.assert_allclose(sampled.class_means(name)[c], ref, rtol=1e-6, atol=1e-7)


def test_sampling_does_not_depend_on_the_batch_size(tmp_path, digits, model, sampled):
    other = probe_run(model, data=digits, out=tmp_path / "b", batch_size=50, budget=BUDGET)
    for name in ("conv1", "pool1"):
        a, b = sampled.points(name), other.points(name)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_allclose(a[0].astype(np.float32), b[0].astype(np.float32), atol=1e-3)


def test_xarray_opens_every_probed_layer_with_named_dimensions(sampled):
    import xarray as xr

    for name in sampled.layers:
        ds = xr.open_zarr(sampled.path, group=f"embeddings/{name}", consolidated=False)
        info = sampled.storage(name)
        if info["sampled"]:
            assert ds["activation"].dims == ("point", "channel")
            assert {"image", "y", "x"} <= set(ds.coords)
            assert ds.sizes["point"] == info["stored_points"]
            values, _, positions = sampled.points(name)
            np.testing.assert_array_equal(ds["y"].values, positions[:, 0])
            np.testing.assert_array_equal(ds["activation"].values, values)
        elif sampled.is_spatial(name):
            assert ds["activation"].dims == ("image", "channel", "y", "x")
            np.testing.assert_array_equal(ds["image"].values, sampled.indices)
        else:
            assert ds["activation"].dims == ("image", "channel")
        assert ds["pca"].dims[-1] == "component"
        assert ds["activation"].attrs["layer"] == name and ds.attrs["layer"] == name
        summary = xr.open_zarr(sampled.path, group=f"summary/{name}", consolidated=False)
        assert summary["topk_value"].dims == ("channel", "rank")
        np.testing.assert_array_equal(summary["topk_value"].values, sampled.topk(name)[0])
    out = xr.open_zarr(sampled.path, group="outputs", consolidated=False)
    assert out["logits"].dims == ("image", "output")
    np.testing.assert_array_equal(out["label"].values, sampled.labels)


def test_a_budget_too_small_says_what_budget_would_do(tmp_path, digits, model):
    with pytest.raises(DataError) as info:
        probe_run(model, data=digits, out=tmp_path / "a", budget="100KB")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("budget=100.0 KB cannot hold one point per image of every probed layer")
    suggested = msg.split("give a budget of ")[1].split(" or more")[0]
    assert not (tmp_path / "a").exists()
    res = probe_run(model, data=digits, out=tmp_path / "b", budget=suggested.replace(" ", ""))
    assert res.storage("conv1")["points_per_image"] >= 1
    with pytest.raises(DataError, match=r"budget='lots' is not a size: expected bytes"):
        probe_run(model, data=digits, out=tmp_path / "c", budget="lots")


def test_values_beyond_float16_are_stored_as_float32(tmp_path, digits):
    torch.manual_seed(6)
    big = create("lenet").eval()
    with torch.no_grad():
        big.fc1.weight.mul_(1e5)  # relu1 and fc2 leave float16 range
    res = probe_run(big, data=digits, out=tmp_path / "w", batch_size=64)
    acts, out = forward_all(big, digits.normalization.apply(digits.images), res.layers, 64)
    assert float(np.abs(acts["relu1"]).max()) > 65504
    for name in res.layers:  # float32 exactly where float16 would not do
        wide = float(np.abs(acts[name]).max()) > 65504
        assert res.storage(name)["dtype"] == ("float32" if wide else "float16"), name
    emb = res.embeddings("relu1")
    assert emb.dtype == np.float32
    np.testing.assert_array_equal(emb, acts["relu1"])
    assert np.isfinite(res.projection("relu1")).all()
    assert res.channel_range("relu1")[1].max() == acts["relu1"].max()
    np.testing.assert_array_equal(res.outputs, out)


def test_an_old_format_store_says_to_probe_again(tmp_path, sampled):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(sampled.path, old)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["config"]["format"] = "convlens-probe/1"
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError) as info:
        open_probe(old)
    assert str(info.value) == (
        f"the probe at {str(old)!r} was written in an older format ('convlens-probe/1', "
        "expected 'convlens-probe/2'); probe again with `convlens probe RUN`, which replaces it"
    )


def test_a_damaged_chunk_is_one_line_and_the_rest_still_reads(tmp_path, sampled):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sampled.path, copy)
    res = open_probe(copy)
    chunk = next((copy / "embeddings" / "conv1" / "activation").glob("c.*"))
    chunk.write_bytes(chunk.read_bytes()[:100])
    with pytest.raises(RunError) as info:
        res.points("conv1")
    msg = str(info.value)
    assert "\n" not in msg and "is damaged: chunk" in msg and "expected" in msg
    np.testing.assert_array_equal(res.topk("conv1")[0], sampled.topk("conv1")[0])
    chunk.unlink()
    with pytest.raises(RunError, match="is missing; delete the store and probe again"):
        res.points("conv1")
