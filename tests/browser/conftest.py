"""Browser tests: the console in a real headless Chromium (Debian's ``chromium``,
which ``make test`` installs when it is missing), driven by Playwright for Python."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.api.conftest import system  # noqa: F401  (the API with its worker, shared)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
"""Screenshots of each page the tests saw (git-ignored; CI keeps them as artifacts)."""


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        missing = f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(missing)  # CI runs every layer: a missing browser fails the run
        pytest.skip(missing)
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        await chromium.close()
