"""Map and merge: shards probed with one plan merge to exactly the one-pass store; resuming."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convlens.data import load_dataset
from convlens.errors import RunError
from convlens.probe import Partial, merge, select_topk
from convlens.probe import plan as make_plan
from convlens.probe import run as probe_run
from convlens.probe.partial import NO_INDEX, LayerPartial, LayerSpec
from convlens.zoo import create

BUDGET = "4MB"  # small enough that lenet's conv1, pool1 and conv2 are stored as a sample


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", size=(28, 28)).subset(slice(0, 300))


def _arrays(res):
    return {name: res.store.read(name) for name in res.manifest["complete"]}


def test_three_shards_merge_to_exactly_one_pass(tmp_path, digits):
    torch.manual_seed(2)
    model = create("lenet").eval()
    whole = probe_run(model, data=digits, out=tmp_path / "whole", batch_size=50, budget=BUDGET)
    assert whole.is_sampled("conv1") and not whole.is_sampled("relu1")
    plan = make_plan(model, data=digits, batch_size=50, budget=BUDGET)
    shards = [
        probe_run(model, data=digits, rows=rows, out=tmp_path / f"s{i}", plan=plan)
        for i, rows in enumerate((slice(0, 100), slice(100, 250), slice(250, 300)))
    ]
    merged = merge([s.path for s in shards], tmp_path / "merged", model=model)
    assert merged.config == whole.config
    assert merged.manifest["storage"] == whole.manifest["storage"]
    want, got = _arrays(whole), _arrays(merged)
    assert sorted(got) == sorted(want)
    assert "embeddings/conv1/y" in want and "embeddings/conv1/pca" in want
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_shards_without_one_plan_are_refused_in_one_line(tmp_path, digits):
    model = create("lenet").eval()
    a = probe_run(model, data=digits, rows=slice(0, 100), out=tmp_path / "a", budget=BUDGET)
    b = probe_run(model, data=digits, rows=slice(100, 300), out=tmp_path / "b", budget=BUDGET)
    with pytest.raises(RunError) as info:
        merge([a.path, b.path], tmp_path / "m", model=model)
    msg = str(info.value)
    assert "\n" not in msg and "probe every shard with one plan (convlens.probe.plan)" in msg
    assert msg.startswith(f"shard {str(b.path)!r} differs from {str(a.path)!r} in ")


def _random_partial(rng, spec, rows, k=4):
    part = Partial.empty([spec], classes=3, k=k, input_size=4)
    c, h, w = spec.shape[2], spec.shape[0], spec.shape[1]
    act = torch.from_numpy(rng.normal(size=(len(rows), c, h, w)).astype(np.float32))
    act[0, 0] = act[1, 0].max()  # a tie across images
    images = rng.integers(0, 256, size=(len(rows), 1, 2, 2), dtype=np.uint8)
    labels = torch.from_numpy(rng.integers(0, 3, size=len(rows)))
    part.update({spec.name: act}, images, labels, torch.from_numpy(np.asarray(rows)), labels)
    return part


@pytest.mark.parametrize("all_positions", [False, True])
def test_partials_merge_associatively_and_commutatively(rng, all_positions):
    spec = LayerSpec("x", (3, 3, 5))
    parts = []
    for s in (0, 6, 12):
        part = Partial.empty([spec], classes=3, k=4, input_size=4, all_positions=all_positions)
        one = _random_partial(rng, spec, list(range(s, s + 6)))
        part.all_positions = all_positions
        parts.append(one.merge(part) if not all_positions else one)
    a, b, c = parts
    left, right, swapped = a.merge(b).merge(c), a.merge(b.merge(c)), c.merge(a).merge(b)
    fields = ("values", "index", "position", "minimum", "maximum", "sums_hi", "sums_lo")
    for other in (right, swapped):
        for f in fields:
            np.testing.assert_array_equal(
                getattr(left.layers["x"], f), getattr(other.layers["x"], f)
            )
        np.testing.assert_array_equal(left.confusion, other.confusion)
        np.testing.assert_array_equal(left.input_sums, other.input_sums)
    assert left.rows == 18


def test_select_topk_breaks_ties_by_index_then_position():
    values = np.array([[1.0, 3.0, 3.0, 2.0, 3.0]], np.float32)
    index = np.array([[9, 7, 5, 1, 5]], np.int64)
    position = np.array([[[0, 0], [0, 0], [1, 0], [0, 0], [0, 1]]], np.int64)
    v, i, p = select_topk(values, index, position, 3)
    np.testing.assert_array_equal(v, [[3, 3, 3]])
    np.testing.assert_array_equal(i, [[5, 5, 7]])
    np.testing.assert_array_equal(p, [[[0, 1], [1, 0], [0, 0]]])
    v, i, _ = select_topk(values[:, :2], index[:, :2], position[:, :2], 3)
    np.testing.assert_array_equal(i, [[7, 9, NO_INDEX]])
    assert v[0, 2] == -np.inf
    empty = LayerPartial.empty(LayerSpec("x", (2,)), 1, 3)
    assert (empty.index == NO_INDEX).all()


def test_an_interrupted_probe_resumes_from_its_last_saved_batch(tmp_path, digits, monkeypatch):
    import convlens.probe._pass as probe_pass

    torch.manual_seed(4)
    model = create("lenet").eval()
    options = {"batch_size": 50, "budget": BUDGET}
    clean = probe_run(model, data=digits, out=tmp_path / "clean", **options)

    calls = {"n": 0}
    original = Partial.fold

    def failing_fold(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(probe_pass, "SAVE_EVERY_S", -1.0)  # save after every batch,
    monkeypatch.setattr(probe_pass, "SAVE_SHARE", float("inf"))  # however long saving takes
    monkeypatch.setattr(Partial, "fold", failing_fold)
    with pytest.raises(KeyboardInterrupt):
        probe_run(model, data=digits, out=tmp_path / "again", **options)
    monkeypatch.setattr(Partial, "fold", original)
    saved = Partial.from_bytes((tmp_path / "again" / "partial.bin").read_bytes(), [])
    assert saved.rows == 150  # three whole batches were saved
    calls["n"] = 0
    resumed = probe_run(model, data=digits, out=tmp_path / "again", **options)
    want, got = _arrays(clean), _arrays(resumed)
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
