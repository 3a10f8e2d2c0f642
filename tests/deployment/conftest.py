"""The deployment tier: real Airflow components, started from this venv, on PostgreSQL (and Redis for Celery).

``.ci/run`` starts a throw-away PostgreSQL and Redis on loopback and passes them in
``MAILPARTNER_TEST_POSTGRES_URI`` (a role that may create databases) and ``MAILPARTNER_TEST_REDIS_URL``.
Without them the tier is skipped with its reason; under CI (``MAILPARTNER_CI=1``) the end of the
run also says so in a WARNING line, since there it must run.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_ENV = "MAILPARTNER_TEST_POSTGRES_URI"
REDIS_ENV = "MAILPARTNER_TEST_REDIS_URL"
_skipped: dict[str, str] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/deployment/" in item.nodeid:
            item.add_marker(pytest.mark.deployment)


def _service(env: str, what: str) -> str:
    value = os.environ.get(env)
    if not value:
        reason = f"{env} is not set: no {what} for the deployment tier (.ci/run starts one)"
        _skipped[env] = reason
        pytest.skip(reason)
    return value


@pytest.fixture(scope="session")
def postgres_admin_uri() -> str:
    """A PostgreSQL role that may create databases: each deployment gets a fresh one."""
    return _service(POSTGRES_ENV, "PostgreSQL server")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _service(REDIS_ENV, "Redis server")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped and os.environ.get("MAILPARTNER_CI") == "1":
        for reason in _skipped.values():
            terminalreporter.write_line(f"WARNING: the deployment tier did not run on CI: {reason}", red=True)
