"""The pytest plugin, used the documented way in a fresh project run by a separate pytest."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CONFTEST = 'pytest_plugins = ["airflow_provider_mailpartner.testing.pytest_plugin"]\n'

TESTS = textwrap.dedent(
    """
    import pytest
    import requests

    SEEN = []


    def test_fixture_is_a_started_sandbox(mailpartner_sandbox):
        response = requests.get(
            mailpartner_sandbox.url + "/v1/me", params={"apiKey": mailpartner_sandbox.api_key}, timeout=5
        )
        assert response.json()["code"] == 200
        SEEN.append(mailpartner_sandbox)


    @pytest.mark.mailpartner_sandbox(api_key="custom-key", rate_limit_per_minute=1)
    def test_marker_configures_the_sandbox_and_the_previous_one_was_stopped(mailpartner_sandbox):
        assert mailpartner_sandbox.api_key == "custom-key"
        assert mailpartner_sandbox.rate_limit_per_minute == 1
        assert not SEEN[0].running
        assert SEEN[0] is not mailpartner_sandbox
    """
)


def test_plugin_fixture_gives_each_test_a_started_sandbox_and_stops_it(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "test_uses_sandbox.py").write_text(TESTS, encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def _run_pytest(tmp_path: Path, tests: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "test_project.py").write_text(textwrap.dedent(tests), encoding="utf-8")
    # The project's tests start with no Airflow connection in the environment, whatever the shell has.
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW_CONN_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_sandbox_bug_fails_the_test_at_teardown_even_after_a_reset(tmp_path: Path) -> None:
    result = _run_pytest(
        tmp_path,
        """
        import requests


        def test_the_sandbox_breaks_but_the_client_copes(mailpartner_sandbox, monkeypatch):
            def broken():
                raise RuntimeError("sandbox bug")

            monkeypatch.setattr(mailpartner_sandbox.backend, "credits", broken)
            url = mailpartner_sandbox.url + "/v1/me"
            response = requests.get(url, params={"apiKey": mailpartner_sandbox.api_key}, timeout=5)
            assert response.status_code == 500  # what a client under test would treat as retryable
            mailpartner_sandbox.reset()
        """,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert "the MailPartner sandbox failed 1 time(s) while serving" in result.stdout
    assert "RuntimeError('sandbox bug')" in result.stdout


def test_mailpartner_connection_sets_the_airflow_connection_for_one_test_only(tmp_path: Path) -> None:
    result = _run_pytest(
        tmp_path,
        """
        import json
        import os

        import pytest


        def test_default_connection_points_at_the_sandbox(mailpartner_connection):
            connection = json.loads(os.environ["AIRFLOW_CONN_MAILPARTNER_DEFAULT"])
            assert connection["host"] == mailpartner_connection.url
            assert connection["password"] == mailpartner_connection.api_key
            assert mailpartner_connection.running


        @pytest.mark.mailpartner_sandbox(api_key="marked-key")
        @pytest.mark.mailpartner_connection(conn_id="mp_xml", response_format="xml", extra={"timeout": 3})
        def test_markers_choose_the_key_the_conn_id_and_the_extras(mailpartner_connection, mailpartner_sandbox):
            connection = json.loads(os.environ["AIRFLOW_CONN_MP_XML"])
            assert mailpartner_connection is mailpartner_sandbox
            assert connection["password"] == "marked-key"
            assert connection["extra"] == {"response_format": "xml", "timeout": 3}
            assert "AIRFLOW_CONN_MAILPARTNER_DEFAULT" not in os.environ


        def test_nothing_leaks_into_a_later_test():
            assert not any(name.startswith("AIRFLOW_CONN_MAILPARTNER") for name in os.environ)
            assert "AIRFLOW_CONN_MP_XML" not in os.environ
        """,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
