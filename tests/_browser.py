"""Shared set-up of the browser tests: Debian's headless Chromium through Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# WebGL2 through SwiftShader (the explorer's scatter plots draw with WebGL).
WEBGL_ARGS = [
    "--no-sandbox",
    "--disable-gpu-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]
# 2-D canvases only (the dashboard).
CANVAS_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@contextmanager
def chromium(args: list[str]) -> Iterator[Any]:
    """A headless Chromium browser (skips the test when Playwright is not installed)."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield browser
        finally:
            browser.close()


def open_page(
    browser: Any, url: str, ready: str, width: int = 1400, height: int = 860
) -> tuple[Any, list[str]]:
    """A page on ``url`` once the JS expression ``ready`` holds, and the list that collects
    its console errors and warnings and its uncaught exceptions (as they happen)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.goto(url)
    page.wait_for_function(ready, timeout=60_000)
    return page, problems
