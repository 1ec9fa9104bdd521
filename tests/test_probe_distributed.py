"""The probe on dask.distributed: a LocalCluster's result equals one process's, bit for bit,
even when a worker is killed mid-probe; bad clusters and missing dask get one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from convlens.cli.main import main
from convlens.errors import ConvlensError
from convlens.probe import run as probe_run

distributed = pytest.importorskip("distributed")
pytestmark = [pytest.mark.slow, pytest.mark.mnist]

BUDGET = "40MB"  # lenet's conv1, relu1 and conv2 over 10,000 images are stored as a sample
OPTIONS = {"budget": BUDGET, "projections": ("pca",), "batch_size": 256}


def _arrays(res) -> dict[str, np.ndarray]:
    return {name: res.store.read(name) for name in res.manifest["complete"]}


def _assert_identical(got, want) -> None:
    assert got.config == want.config
    assert got.manifest["storage"] == want.manifest["storage"]
    a, b = _arrays(got), _arrays(want)
    assert sorted(a) == sorted(b)
    for name in b:
        assert a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def one_process(mnist_lenet_run, tmp_path_factory):
    """The single-process probe of all 10,000 MNIST test images."""
    out = tmp_path_factory.mktemp("one")
    return probe_run(mnist_lenet_run, out=out, **OPTIONS)


@pytest.fixture(scope="module")
def client():
    from convlens.probe.distributed import cluster

    with cluster(workers=2) as c:
        yield c


def test_two_workers_give_the_arrays_of_one_process(one_process, mnist_lenet_run, client, tmp_path):
    assert len(one_process) == 10_000
    sampled = [n for n in one_process.layers if one_process.is_sampled(n)]
    assert sampled, "the budget should make some layers sampled"
    seen: list[tuple[int, int]] = []
    got = probe_run(
        mnist_lenet_run,
        out=tmp_path,
        client=client,
        progress=lambda done, total: seen.append((done, total)),
        **OPTIONS,
    )
    _assert_identical(got, one_process)
    # every kind of array the issue names was compared: embeddings, top-k, ranges, class
    # means, confusion and projections
    stored = set(got.manifest["complete"])
    for name in (
        "embeddings/conv1/activation",
        "summary/conv2/topk_value",
        "summary/conv2/topk_image",
        "summary/fc2/range",
        "summary/pool2/class_mean",
        "classes/confusion",
        "embeddings/fc2/pca",
        "embeddings/conv1/pca",
    ):
        assert name in stored, name
    assert not (tmp_path / (got.path.name + ".shards")).exists()
    # progress counts images across both workers, up to all of them
    assert seen and seen[-1] == (10_000, 10_000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_killed_worker_is_retried_and_the_arrays_are_unchanged(
    one_process, mnist_lenet_run, client, tmp_path
):
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_one(done: int, total: int) -> None:
        if not killed and done >= 1_000:
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    got = probe_run(mnist_lenet_run, out=tmp_path, client=client, progress=kill_one, **OPTIONS)
    assert killed, "the probe finished before a worker could be killed"
    _assert_identical(got, one_process)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next test


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


def test_workers_zero_is_one_line(mnist_lenet_run, capsys):
    with pytest.raises(SystemExit) as exit_:  # refused by the argument parser
        main(["probe", str(mnist_lenet_run.path), "--workers", "0"])
    assert exit_.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--workers" in line and "0 is below 1: expected 1 or more" in line


def test_an_unreachable_scheduler_is_one_line(mnist_lenet_run, capsys, monkeypatch):
    monkeypatch.setattr("convlens.probe.distributed.CONNECT_TIMEOUT", "2s")
    code = main(["probe", str(mnist_lenet_run.path), "--scheduler", "tcp://127.0.0.1:9"])
    assert code != 0
    line = _one_error_line(capsys.readouterr().err)
    assert "tcp://127.0.0.1:9" in line and "cannot reach" in line
    assert not (mnist_lenet_run.path / "probe").exists()


def test_a_malformed_scheduler_address_is_one_line(mnist_lenet_run, capsys):
    assert main(["probe", str(mnist_lenet_run.path), "--scheduler", "no-such-proto://x"]) != 0
    assert "no-such-proto://x" in _one_error_line(capsys.readouterr().err)


def test_without_dask_workers_get_one_line_saying_how_to_install(mnist_lenet_run):
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["distributed"] = None  # as if dask were not installed
        from convlens.cli.main import main
        sys.exit(main(["probe", {str(mnist_lenet_run.path)!r}, "--workers", "2"]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    line = _one_error_line(proc.stderr)
    assert "convlens[dask]" in line


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def _external_cluster(folder: Path, workers: int) -> Iterator[str]:
    """A scheduler and ``workers`` one-thread workers started from a clean folder: they
    import only what is installed, not the modules the test process put on its own
    ``sys.path``. Yields the scheduler's address."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    sched_file = folder / "scheduler.json"
    procs = [
        _start(
            [
                "distributed.cli.dask_scheduler",
                "--scheduler-file",
                str(sched_file),
                "--port",
                "0",
                "--dashboard-address",
                ":0",
            ],
            env,
            folder,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in range(workers):
            procs.append(
                _start(
                    [
                        "distributed.cli.dask_worker",
                        "--scheduler-file",
                        str(sched_file),
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                    ],
                    env,
                    folder,
                )
            )
        yield json.loads(sched_file.read_text())["address"]
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


@pytest.fixture
def bare_cluster(tmp_path):
    with (
        _external_cluster(tmp_path, 1) as address,
        distributed.Client(address, timeout="30s") as c,
    ):
        c.wait_for_workers(1, timeout=60)
        yield c


def test_workers_that_cannot_import_the_model_get_one_line(bare_cluster, tmp_path, monkeypatch):
    from convlens.data import load_dataset

    code = tmp_path / "code"
    code.mkdir()
    (code / "only_here_net.py").write_text(
        textwrap.dedent(
            """
            import torch.nn as nn

            class OnlyHere(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(1, 4, 3)
                    self.fc = nn.Linear(4 * 26 * 26, 10)

                def forward(self, x):
                    return self.fc(self.conv(x).relu().flatten(1))
            """
        )
    )
    monkeypatch.syspath_prepend(str(code))
    from only_here_net import OnlyHere  # type: ignore[import-not-found]

    data = load_dataset("digits", size=(28, 28)).subset(slice(0, 64))
    with pytest.raises(ConvlensError) as err:
        probe_run(OnlyHere().eval(), data=data, out=tmp_path / "p", client=bare_cluster)
    text = str(err.value)
    assert "\n" not in text
    assert "cannot load the model's code" in text
    assert "No module named 'only_here_net'" in text


def test_a_scheduler_without_workers_is_one_line(mnist_lenet_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("convlens.probe.distributed.CONNECT_TIMEOUT", "2s")
    with _external_cluster(tmp_path, 0) as address:
        code = main(["probe", str(mnist_lenet_run.path), "--scheduler", address])
    assert code != 0
    line = _one_error_line(capsys.readouterr().err)
    assert "has no workers" in line and address in line


def test_a_model_that_does_not_pickle_is_one_line(client, tmp_path):
    from convlens.data import load_dataset
    from convlens.zoo import create

    model = create("lenet").eval()
    model.unpicklable = threading.Lock()  # as a model holding a file or a lock would
    data = load_dataset("digits", size=(28, 28)).subset(slice(0, 64))
    with pytest.raises(ConvlensError) as err:
        probe_run(model, data=data, out=tmp_path / "p", client=client)
    assert "cannot send the probe to the dask workers" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_resnet50_whose_floats_depend_on_threads_is_still_identical(client, tmp_path):
    """At 224 px a ResNet-50's convolutions give other last bits at 1 and 2 threads; the
    workers run with the driver's thread count, so the stores still agree bit for bit."""
    import torch

    from convlens.data import load_dataset
    from convlens.zoo import create

    torch.manual_seed(0)
    model = create("resnet50", in_channels=1, num_classes=10).eval()
    data = load_dataset("digits", size=(224, 224)).subset(slice(0, 32))
    options = {"layers": ["layer3.0", "layer4.2", "fc"], "batch_size": 8, "budget": "16MB"}
    one = probe_run(model, data=data, out=tmp_path / "one", **options)
    got = probe_run(model, data=data, out=tmp_path / "two", client=client, **options)
    _assert_identical(got, one)


@pytest.mark.parametrize(
    ("raised", "says"),
    [
        # dask's wrapper of an unpickling failure of scattered data: the repr as text
        (
            Exception("ModuleNotFoundError(\"No module named 'convlens'\")"),
            "cannot import convlens",
        ),
        (ModuleNotFoundError("No module named 'torch'"), "cannot import convlens"),
        (RuntimeError("Error during deserialization"), None),
    ],
)
def test_what_a_worker_could_not_import_is_said(raised, says):
    from convlens.probe.distributed import _cannot_load, _import_failure

    if says is None:
        assert _import_failure(raised) is None
        return
    text = str(_cannot_load(_import_failure(raised)))
    assert says in text and "install convlens" in text and "\n" not in text


def test_an_import_failure_chained_in_a_dask_error_is_found():
    from convlens.probe.distributed import _import_failure

    try:
        try:
            raise ModuleNotFoundError("No module named 'their_net'")
        except ImportError as inner:
            raise RuntimeError("Error during deserialization of the task graph") from inner
    except RuntimeError as outer:
        assert _import_failure(outer) == "ModuleNotFoundError: No module named 'their_net'"
