"""``convlens.explore``: probes what the explorer needs; A/B panes share layer names."""

from __future__ import annotations

import httpx

import convlens
from convlens.rundir import DataEntry, ModelEntry


def test_ab_runs_are_probed_on_the_layers_both_have(tmp_path):
    from convlens.data import load_dataset

    digits = load_dataset("digits", size=(28, 28))
    runs = []
    for name, options in (("relu", {}), ("norelu", {"relu": False})):
        run = convlens.Run.create(
            tmp_path / name,
            ModelEntry("siamese", (1, 28, 28), options=options, task="embed"),
            DataEntry("digits", digits.classes, digits.normalization),
        )
        run.save_checkpoint(run.build_model(), 0)
        runs.append(run)
    with convlens.explore(*runs, probe_limit=60) as ex:
        body = httpx.get(ex.url + "api/runs", timeout=30).json()
    layers = [[layer["name"] for layer in r["layers"]] for r in body["runs"]]
    # with ReLU the default is relu1, without it fc1: both runs get fc1 for the A/B panes
    assert layers[0] == ["conv1", "pool1", "conv2", "pool2", "fc1", "relu1", "fc2", "feat"]
    assert layers[1] == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "feat"]
