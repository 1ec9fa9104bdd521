"""The live explorer's first probes: A/B panes share layer names."""

from __future__ import annotations

import convlens
from convlens.explorer import Workspace
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
    both = Workspace(runs, limit=60, live=False)
    with_relu, without = (both._first_options(run) for run in runs)
    # with ReLU the default is relu1, without it fc1: both runs get fc1 for the A/B panes
    head = ["--limit", "60", "--layers", "conv1", "pool1", "conv2", "pool2", "fc1"]
    assert with_relu == [*head, "relu1", "fc2", "feat"]
    assert without == [*head, "fc2", "feat"]
    assert Workspace(runs[:1], limit=60, live=False)._first_options(runs[0]) == ["--limit", "60"]
