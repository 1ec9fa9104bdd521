"""kill -9 in the middle of a probe: the re-run resumes, completes, and the store opens."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from _probe_helpers import brute_topk, forward_all
from convlens.probe import Partial, open_probe
from convlens.probe import run as probe_run

CHILD = """
import sys
import convlens.probe._pass as probe_pass
import convlens.probe.pipeline as pipeline
probe_pass.SAVE_EVERY_S = 0.0
probe_pass.SAVE_SHARE = float("inf")
pipeline.run(sys.argv[1], out=sys.argv[2], batch_size=100, layers=["conv2", "fc1", "fc2"])
"""


@pytest.mark.slow
def test_kill_9_mid_probe_then_rerun_completes(mnist_lenet_run, tmp_path):
    out = tmp_path / "probe"
    name = mnist_lenet_run.checkpoints[-1].name
    state = out / name / "partial.bin"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(mnist_lenet_run.path), str(out)])
    try:
        deadline = time.monotonic() + 120
        while not state.exists() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)
        assert child.poll() is None, "the probe finished before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    done = Partial.from_bytes(state.read_bytes(), []).rows
    assert 0 < done < 10_000 and done % 100 == 0
    with pytest.raises(Exception, match="incomplete"):
        open_probe(out / name)
    res = probe_run(mnist_lenet_run, out=out, batch_size=100, layers=["conv2", "fc1", "fc2"])
    assert len(res) == 10_000
    ds = mnist_lenet_run.dataset()
    acts, _ = forward_all(
        mnist_lenet_run.model(), ds.normalization.apply(ds.images), ["fc1", "fc2"], 100
    )
    np.testing.assert_array_equal(res.embeddings("fc2"), acts["fc2"].astype(np.float16))
    for layer in ("fc1", "fc2"):
        values, images, _ = brute_topk(acts[layer], ds.indices, 9)
        np.testing.assert_array_equal(res.topk(layer)[1], images)
        np.testing.assert_array_equal(res.topk(layer)[0], values)
    counts = np.bincount(ds.labels, minlength=10)
    np.testing.assert_array_equal(res.class_counts(), counts)
