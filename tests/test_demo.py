"""``python -m convlens.demo``: two runs on digits, printed next steps, re-runnable."""

from __future__ import annotations

import re

import pytest

from convlens import open_run
from convlens.demo import main
from convlens.record import open_log


@pytest.mark.slow
def test_demo_trains_two_runs_and_can_run_again(tmp_path, capsys) -> None:
    out = tmp_path / "demo-runs"
    for _ in range(2):  # the second run replaces the first cleanly
        assert main(["--out", str(out), "--epochs", "1", "--no-progress", "--no-serve"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == (
            "convlens demo: lenet, siamese and siamese-norelu on the embedded digits "
            "(1,797 scans, 28x28)"
        )
        for line, name, meaning in (
            (lines[1], "lenet", "val acc"),
            (lines[2], "siamese", "val nearest-centroid acc \\(2-D embedding\\)"),
            (lines[3], "siamese-norelu", "val nearest-centroid acc \\(2-D embedding\\)"),
        ):
            pattern = rf"  {name} +-> {re.escape(str(out / name))}  {meaning} (\d\.\d{{4}}), "
            match = re.match(pattern + r"6 checkpoints, \d+ s$", line)
            assert match, line
            with open_log(out / name) as log:
                assert float(match.group(1)) == pytest.approx(log.last("val/acc")[1], abs=5e-5)
                assert log.last_step() == 23 and log.meta()["status"] == "finished"
        assert re.fullmatch(rf"Done in \d+ s\. Runs are in {re.escape(str(out))}/\.", lines[4])
        assert lines[5:] == [
            "Next:",
            f"  convlens explore {out / 'siamese'} {out / 'siamese-norelu'}"
            "   # A/B: with and without ReLU",
            f"  convlens explore {out / 'lenet'} --timeline   # every checkpoint, confusion matrix",
            f"  convlens dashboard {out / 'lenet'} {out / 'siamese'}",
            f"  convlens attribute {out / 'lenet'} --index 0,1,2 --method guided_backprop"
            " -o gbp.png",
            f"  convlens visualize {out / 'lenet'} --layer conv2 --out figures",
            f"  convlens runs show {out / 'lenet'}",
            f"  convlens layers {out / 'lenet'}",
            f"  convlens layers {out / 'siamese'} --json",
            f"  convlens export tensorboard {out / 'lenet'} {out / 'tensorboard' / 'lenet'}",
        ]
    assert open_run(out / "siamese").task == "embed"
    assert open_run(out / "siamese").model().relu1 is not None
    assert open_run(out / "siamese-norelu").model().relu1 is None
    assert [c.step for c in open_run(out / "lenet").checkpoints] == [1, 2, 5, 10, 20, 23]


@pytest.mark.slow
def test_demo_ends_by_serving_the_explorer(tmp_path) -> None:
    """`make demo` trains, probes siamese, prints the URL and serves until Ctrl-C."""
    import signal
    import subprocess
    import sys

    import httpx

    out = tmp_path / "demo-runs"
    cmd = [
        sys.executable,
        "-m",
        "convlens.demo",
        "--out",
        str(out),
        "--epochs",
        "1",
        "--no-progress",
        "--no-browser",
    ]
    errors = tmp_path / "stderr.txt"
    with (
        errors.open("w") as err,
        subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            # Ctrl-C works even when this suite runs as a background job (which starts
            # with SIGINT ignored, and Python then never raises KeyboardInterrupt)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        ) as proc,
    ):
        try:
            url = None
            for line in proc.stdout:
                m = re.match(
                    rf"convlens explorer on {re.escape(str(out / 'siamese'))}: "
                    r"(http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)$",
                    line.rstrip("\n"),
                )
                if m:
                    url = m.group(1)
                    break
            assert url, "the demo printed no explorer URL"
            # the page opens at once; siamese is probed in the background (the page says so)
            from convlens.explorer.live import wait_until

            def ready() -> bool:
                return httpx.get(url + "api/live", timeout=30).json()["runs"][0]["ready"]

            assert wait_until(ready, timeout=300, step=0.5)
            runs = httpx.get(url + "api/runs", timeout=30).json()
            assert [r["name"] for r in runs["runs"]] == ["siamese"]
            assert "feat" in [layer["name"] for layer in runs["runs"][0]["layers"]]
            assert httpx.get(url, timeout=30).status_code == 200
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()  # never leave the suite waiting on a demo that did not stop
                raise
    assert code == 0
    assert "Traceback" not in errors.read_text()
