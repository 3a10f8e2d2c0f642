"""End-to-end fixtures: a real Airflow API server on loopback, and headless Chromium driven by Playwright.

The browser is Debian's ``chromium`` package at ``/usr/bin/chromium`` (``.ci/run`` installs it); Playwright
never downloads one. Without it the browser test is skipped, with the reason shown by ``pytest -ra``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_processes import ApiServer, ServerStartError, running_api_server

CHROMIUM = Path("/usr/bin/chromium")

# Headless, and quiet on a machine without network: no sandbox (the tests may run as root; the browser
# only visits the loopback server started here), and none of Chromium's background calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Keep each phase's report on the test item, so a fixture can tell that its test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def airflow_api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    try:
        with running_api_server(tmp_path_factory.mktemp("airflow-api-server-home")) as server:
            yield server
    except ServerStartError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def chromium_executable() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM}: the connection-form test needs Debian's chromium package "
            "(apt-get install chromium; .ci/run installs it when it runs as root)"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_executable: Path) -> Iterator[Any]:
    """Headless Chromium, driven by Playwright's sync API (a ``playwright.sync_api.Browser``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(chromium_executable), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
