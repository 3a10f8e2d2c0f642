"""``airflow connections test mailpartner_default`` against the sandbox, as an operator runs it.

The connection comes from ``AIRFLOW_CONN_MAILPARTNER_DEFAULT``. The three runs (right key, wrong key,
testing not enabled) are separate ``airflow`` processes, each with its own home, started together.
That ``airflow providers hooks`` lists the hook is checked in ``tests/test_provider_info.py``.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from airflow_provider_mailpartner.client.redaction import secret_forms
from airflow_provider_mailpartner.testing import MailPartnerSandbox, RequestRecord
from tests.airflow_processes import AIRFLOW, airflow_env
from tests.nasty_key import NASTY_KEY

pytestmark = pytest.mark.e2e

WRONG_KEY = "not-the-mailpartner-key"

Runs = dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Runs, list[RequestRecord]]:
    """Each scenario's finished ``airflow connections test`` run, and the requests the sandbox saw."""
    with MailPartnerSandbox(api_key=NASTY_KEY, rate_limit_per_minute=None) as sandbox:
        right = sandbox.connection_json(extra={"max_retries": 0})
        wrong = json.dumps({**sandbox.connection_dict(extra={"max_retries": 0}), "password": WRONG_KEY})
        enabled = {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
        scenarios = {
            "right key": {"AIRFLOW_CONN_MAILPARTNER_DEFAULT": right, **enabled},
            "wrong key": {"AIRFLOW_CONN_MAILPARTNER_DEFAULT": wrong, **enabled},
            "not enabled": {"AIRFLOW_CONN_MAILPARTNER_DEFAULT": right},  # [core] test_connection's default
        }
        started = {
            name: subprocess.Popen(
                [AIRFLOW, "connections", "test", "mailpartner_default"],
                env=airflow_env(tmp_path_factory.mktemp("airflow-cli-home"), **settings),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, settings in scenarios.items()
        }
        runs: Runs = {}
        try:
            for name, process in started.items():
                stdout, stderr = process.communicate(timeout=120)
                runs[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        finally:
            for process in started.values():
                if process.poll() is None:
                    process.kill()
                    process.communicate()
        assert sandbox.errors == [], "the sandbox itself failed while serving"
        return runs, list(sandbox.requests)


def output(run: subprocess.CompletedProcess[str]) -> str:
    text = run.stdout + run.stderr
    assert [form for form in secret_forms(NASTY_KEY) if form in text] == [], "the API key was printed"
    return text


def test_right_key_succeeds(cli: tuple[Runs, list[RequestRecord]]) -> None:
    run = cli[0]["right key"]
    assert run.returncode == 0, output(run)
    # Airflow's CLI prints only this on success; the hook's message (with the credits) is shown by the
    # UI and returned by the REST API.
    assert "Connection success!" in output(run)


def test_wrong_key_fails_with_the_hooks_message_and_exit_status_1(cli: tuple[Runs, list[RequestRecord]]) -> None:
    run = cli[0]["wrong key"]
    assert run.returncode == 1, output(run)
    assert "Connection failed!" in output(run)
    assert "MailPartner refused the credentials (code 10: Wrong API key)" in output(run)


def test_airflow_refuses_unless_test_connection_is_enabled(cli: tuple[Runs, list[RequestRecord]]) -> None:
    run = cli[0]["not enabled"]
    assert run.returncode == 1, output(run)
    assert "Testing connections is disabled in Airflow configuration" in output(run)


def test_only_the_enabled_runs_called_mailpartner_once_each(cli: tuple[Runs, list[RequestRecord]]) -> None:
    assert sorted((r.command, r.code) for r in cli[1]) == [("me", 10), ("me", 200)]


def test_nothing_alarming_is_printed(cli: tuple[Runs, list[RequestRecord]]) -> None:
    noise = [
        line
        for run in cli[0].values()
        for line in output(run).splitlines()
        if ("warn" in line.lower() or "error" in line.lower()) and "Wrong API key" not in line
    ]
    assert noise == []
