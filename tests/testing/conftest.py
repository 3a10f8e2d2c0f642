"""Fixtures for the sandbox's own tests: a started sandbox and a client that talks to it."""

from __future__ import annotations

from collections.abc import Iterator

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
