"""The pytest plugin, used the documented way in a fresh project run by a separate pytest."""

from __future__ import annotations

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
