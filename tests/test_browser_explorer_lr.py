"""The learning-rate comparison of seed 001 in a real headless Chromium: lenet trained at
the default rate beside lenet trained at --lr 0.5 (values beyond float16), served A/B."""

from __future__ import annotations

import pytest

from _browser import BROWSER_MARKS, WEBGL_ARGS, chromium, open_page

pytestmark = BROWSER_MARKS

CV = "window.convlens"


# ----------------------------------------------------- a good run beside a diverged one
@pytest.fixture(scope="module")
def good_and_high_lr(tmp_path_factory: pytest.TempPathFactory):
    """Seed 001's learning-rate comparison: lenet trained by `convlens train` at the default
    rate and at --lr 0.5, where fc1's ReLU and fc2 leave float16's range."""
    from convlens import open_run
    from convlens.cli.main import main

    root = tmp_path_factory.mktemp("lr")
    for name, lr in (("good", "0.002"), ("high-lr", "0.5")):
        argv = ["train", "--model", "lenet", "--data", "digits", "--epochs", "1", "--lr", lr]
        assert main([*argv, "--out", str(root / name), "--no-progress"]) == 0
    return open_run(root / "good"), open_run(root / "high-lr")


def test_a_diverged_run_probes_and_serves_beside_a_good_one(good_and_high_lr):
    """`convlens explore GOOD HIGH_LR`: the explorer probes both runs itself (in the
    background, on the layers both have), the diverged run's wide layers as float32."""
    import httpx

    import convlens
    from convlens.explorer.live import wait_until

    good, high = good_and_high_lr
    with convlens.explore(good, high, probe_limit=300) as ex, chromium(WEBGL_ARGS) as browser:

        def ready() -> bool:
            runs = httpx.get(ex.url + "api/live", timeout=30).json()["runs"]
            return all(r["ready"] for r in runs)

        assert wait_until(ready, timeout=300)
        wide = [n for n in high.probe().layers if high.probe().storage(n)["dtype"] == "float32"]
        assert "relu1" in wide  # stored as float32, not refused
        page, console = open_page(
            browser,
            ex.url,
            f"{CV} && ({CV}.app.firstFrameMs !== null || {CV}.errors.length)",
            width=1500,
        )
        page.evaluate(f"{CV}.setLayer('relu1')")
        page.locator("#legend li").nth(3).click()
        page.evaluate(f"{CV}.settle()")
        page.wait_for_function("document.querySelectorAll('#maps canvas').length > 0")
        page.evaluate(f"{CV}.setLayer('fc2')")
        page.evaluate(f"{CV}.settle()")
        assert page.evaluate(f"{CV}.view(1)")["drawn"]["selected"] > 0
        assert page.evaluate(f"{CV}.errors") == [] and console == []
        names = page.locator(".pane-name").all_text_contents()
        assert names == ["A: good", "B: high-lr"]
