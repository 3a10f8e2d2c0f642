"""Test-wide set-up: a private AIRFLOW_HOME, the sandbox fixture, and connection helpers."""

from __future__ import annotations

import os
import tempfile

# Airflow reads its configuration at import time: point it at a throw-away home first.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="mailpartner-tests-airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(os.environ["AIRFLOW_HOME"], "dags")

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import airflow.sdk.log  # noqa: F401  (Airflow configures logging on import: before pytest's capture handlers)
import pytest

from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook
from airflow_provider_mailpartner.testing import MailPartnerSandbox
from tests.nasty_key import NASTY_KEY

if TYPE_CHECKING:
    from airflow.sdk.lineage import HookLineageCollector

ConnectionFactory = Callable[..., MailPartnerHook]


@pytest.fixture
def sandbox() -> Iterator[MailPartnerSandbox]:
    """A started sandbox whose key is hard to encode, with no rate limit unless a test sets one."""
    with MailPartnerSandbox(api_key=NASTY_KEY, rate_limit_per_minute=None) as server:
        yield server
        assert server.errors == [], "the sandbox itself failed while serving"


@pytest.fixture
def hook_lineage(monkeypatch: pytest.MonkeyPatch) -> HookLineageCollector:
    """A fresh hook lineage collector, the one ``ObjectStoragePath`` reports to (as with OpenLineage installed)."""
    from airflow.sdk import lineage

    collector = lineage.HookLineageCollector()
    monkeypatch.setattr(lineage, "get_hook_lineage_collector", lambda: collector)
    return collector


@pytest.fixture
def make_hook(sandbox: MailPartnerSandbox, monkeypatch: pytest.MonkeyPatch) -> ConnectionFactory:
    """Build a hook on a fresh ``AIRFLOW_CONN_*`` connection to the sandbox; extras are overridable."""
    counter = iter(range(1_000_000))

    def build(
        *, password: str | None = NASTY_KEY, host: str | None = None, strict: bool = False, **extra: object
    ) -> MailPartnerHook:
        conn_id = f"mp_test_{next(counter)}"
        extra.setdefault("retry_backoff", 0.01)
        connection = {
            "conn_type": "mailpartner",
            "host": sandbox.url if host is None else host,
            "password": password,
            "extra": extra,
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        return MailPartnerHook(mailpartner_conn_id=conn_id, strict=strict)

    return build


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata DB in the test session's AIRFLOW_HOME."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=os.environ, check=True, capture_output=True, timeout=300)
