"""Fixtures for the sandbox's own tests: a started sandbox and a client that talks to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airflow_provider_mailpartner.testing import MailPartnerSandbox

from .client import API_KEY, ApiClient


@pytest.fixture
def sandbox() -> Iterator[MailPartnerSandbox]:
    with MailPartnerSandbox(api_key=API_KEY) as running:
        yield running
        assert running.errors == [], "the sandbox raised unexpectedly while serving"


@pytest.fixture
def api(sandbox: MailPartnerSandbox) -> Iterator[ApiClient]:
    with requests.Session() as session:
        yield ApiClient(sandbox, session)


_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this directory's ``slow`` tests unless the run selects them (``-m slow``)."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: select with -m slow")
    for item in items:
        if "slow" in item.keywords and _HERE in item.path.parents:
            item.add_marker(skip)
