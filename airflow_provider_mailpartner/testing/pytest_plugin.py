"""pytest plugin: the ``mailpartner_sandbox`` fixture.

Enable it with ``pytest_plugins = ["airflow_provider_mailpartner.testing.pytest_plugin"]`` in a root
``conftest.py`` (or ``-p airflow_provider_mailpartner.testing.pytest_plugin``). Each test gets its own
started sandbox, stopped afterwards. Options go through a marker::

    @pytest.mark.mailpartner_sandbox(api_key="k", rate_limit_per_minute=5)
    def test_backs_off(mailpartner_sandbox): ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .sandbox import MailPartnerSandbox


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mailpartner_sandbox(**kwargs): keyword arguments for the mailpartner_sandbox fixture's "
        "MailPartnerSandbox (api_key, rate_limit_per_minute, username...)",
    )


@pytest.fixture
def mailpartner_sandbox(request: pytest.FixtureRequest) -> Iterator[MailPartnerSandbox]:
    """A started :class:`MailPartnerSandbox` on a free loopback port, stopped after the test."""
    marker = request.node.get_closest_marker("mailpartner_sandbox")
    options = dict(marker.kwargs) if marker is not None else {}
    with MailPartnerSandbox(**options) as sandbox:
        yield sandbox
