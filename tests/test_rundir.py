"""Run directories: manifest, checkpoints, open_run, and their error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convlens import open_run
from convlens.errors import ModelError, PathNotFoundError, RunError
from convlens.model.factory import build_model


def test_checkpoint_round_trip(digits_lenet_run):
    run = open_run(digits_lenet_run.path)
    assert [c.step for c in run.checkpoints] == sorted(c.step for c in run.checkpoints)
    assert len(run.checkpoints) == 2
    model = run.model()
    assert not model.training
    ds = run.dataset("val")
    assert len(ds) == 297 and int(ds.indices[0]) == 1500
    acc = (model(ds.preprocess(ds.images)).argmax(1).numpy() == ds.labels).mean()
    assert acc > 0.8


def test_preprocess_matches_dataset(digits_lenet_run):
    ds = digits_lenet_run.dataset()
    x = digits_lenet_run.preprocess(ds.images[:4, 0])
    torch.testing.assert_close(x, torch.stack([ds[i].input for i in range(4)]))
    with pytest.raises(ValueError, match=r"\(1, 28, 28\)"):
        digits_lenet_run.preprocess(np.zeros((2, 3, 28, 28), np.uint8))


def test_unknown_checkpoint_lists_known(digits_lenet_run):
    with pytest.raises(RunError, match="step-000000"):
        digits_lenet_run.model("step-99")


def test_missing_run_and_not_a_run(tmp_path):
    with pytest.raises(PathNotFoundError, match="does not exist"):
        open_run(tmp_path / "nope")
    with pytest.raises(RunError, match=r"no run\.json"):
        open_run(tmp_path)


def test_checkpoint_shape_mismatch(digits_lenet_run, tmp_path):
    other = build_model("lenet", num_classes=7)
    path = tmp_path / "w.safetensors"
    from convlens.rundir.checkpoints import save_state

    save_state(path, other.state_dict(), {})
    from convlens.rundir import load_weights

    with pytest.raises(ModelError, match=r"fc2.weight \(7, 500\) vs model \(10, 500\)"):
        load_weights(build_model("lenet"), path)


def test_truncated_safetensors(digits_lenet_run, tmp_path):
    import shutil

    run_copy = tmp_path / "copy"
    shutil.copytree(digits_lenet_run.path, run_copy)
    last = open_run(run_copy).checkpoints[-1].path
    last.write_bytes(last.read_bytes()[:100])
    with pytest.raises(ModelError, match="corrupt or truncated"):
        open_run(run_copy).model()


def test_external_data_says_how_to_give_it(digits_lenet_run, tmp_path):
    import json
    import shutil

    copy = tmp_path / "ext"
    shutil.copytree(digits_lenet_run.path, copy)
    manifest = json.loads((copy / "run.json").read_text())
    manifest["data"]["spec"] = "external"
    (copy / "run.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError, match=r"recorded from the user's own data loader.*--data PATH"):
        open_run(copy).dataset()
    assert len(open_run(copy).dataset(data="digits")) == 1797


def test_files_get_the_ordinary_mode(digits_lenet_run):
    import os
    import stat

    mask = os.umask(0)
    os.umask(mask)
    mode = stat.S_IMODE((digits_lenet_run.path / "run.json").stat().st_mode)
    assert mode == 0o666 & ~mask
