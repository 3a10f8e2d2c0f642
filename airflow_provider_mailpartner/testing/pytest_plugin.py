"""pytest plugin: the ``mailpartner_sandbox`` and ``mailpartner_connection`` fixtures.

Enable it with ``pytest_plugins = ["airflow_provider_mailpartner.testing.pytest_plugin"]`` in a root
``conftest.py`` (or ``-p airflow_provider_mailpartner.testing.pytest_plugin``). Each test gets its own
started sandbox, stopped afterwards; a test during which the sandbox itself failed (see
:attr:`MailPartnerSandbox.errors`) fails at teardown. Options go through markers::

    @pytest.mark.mailpartner_sandbox(api_key="k", rate_limit_per_minute=5)
    def test_backs_off(mailpartner_sandbox): ...

    @pytest.mark.mailpartner_connection(response_format="xml", extra={"max_retries": 1})
    def test_my_dag_task(mailpartner_connection):  # AIRFLOW_CONN_MAILPARTNER_DEFAULT is set
        ...
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
    config.addinivalue_line(
        "markers",
        "mailpartner_connection(conn_id='mailpartner_default', response_format='json', extra=None): "
        "the Airflow connection the mailpartner_connection fixture sets",
    )


@pytest.fixture
def mailpartner_sandbox(request: pytest.FixtureRequest) -> Iterator[MailPartnerSandbox]:
    """A started :class:`MailPartnerSandbox` on a free loopback port, stopped after the test.

    The test fails at teardown if the sandbox raised unexpectedly while serving: a sandbox bug must
    not pass for a client's error handling.
    """
    marker = request.node.get_closest_marker("mailpartner_sandbox")
    options = dict(marker.kwargs) if marker is not None else {}
    with MailPartnerSandbox(**options) as sandbox:
        yield sandbox
    errors = sandbox.errors
    if errors:
        listed = "; ".join(repr(error) for error in errors[:3]) + ("; ..." if len(errors) > 3 else "")
        pytest.fail(
            f"the MailPartner sandbox failed {len(errors)} time(s) while serving (a sandbox bug, "
            f"logged at ERROR with its traceback): {listed}",
            pytrace=False,
        )


@pytest.fixture
def mailpartner_connection(
    mailpartner_sandbox: MailPartnerSandbox, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> MailPartnerSandbox:
    """The ``mailpartner_sandbox``, with Airflow's connection to it set for the test.

    ``AIRFLOW_CONN_MAILPARTNER_DEFAULT`` (or the marker's ``conn_id``) is set through ``monkeypatch``,
    so it is gone after the test. Hooks and operators that use the default connection id reach the
    sandbox with no other set-up.
    """
    marker = request.node.get_closest_marker("mailpartner_connection")
    options = dict(marker.kwargs) if marker is not None else {}
    for name, value in mailpartner_sandbox.airflow_env(**options).items():
        monkeypatch.setenv(name, value)
    return mailpartner_sandbox
