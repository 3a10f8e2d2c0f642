"""The ``mailpartner-sandbox`` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_mailpartner.testing import SandboxBackend
from airflow_provider_mailpartner.testing.cli import main

from .client import xml_entries

CLI_KEY = "cli-key-93e1b7"


@contextmanager
def _running_cli(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], str]]:
    """Start the CLI, read its connection JSON and export line; yield, then stop it if still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_mailpartner.testing.cli", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        connection = json.loads(process.stdout.readline())
        export_line = process.stdout.readline().strip()
        yield process, connection, export_line
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_the_connection_serves_it_and_exits_0_on_a_signal(stop_signal: signal.Signals) -> None:
    with _running_cli("--seed", "25", "--api-key", CLI_KEY, "--format", "xml") as (process, connection, export):
        response = requests.get(
            f"{connection['host']}/v1/unsubscribe/list",
            params={"apiKey": connection["password"], "_format": "xml"},
            timeout=10,
        )
        process.send_signal(stop_signal)
        returncode = process.wait(10)
        stdout_rest, stderr = process.communicate(timeout=10)

    assert returncode == 0
    assert connection["conn_type"] == "mailpartner"
    assert str(connection["host"]).startswith("http://127.0.0.1:")
    assert connection["password"] == CLI_KEY
    assert connection["extra"] == {"response_format": "xml"}
    name, _, value = shlex.split(export.removeprefix("export "))[0].partition("=")
    assert export.startswith("export ")
    assert name == "AIRFLOW_CONN_MAILPARTNER_DEFAULT"
    assert json.loads(value) == connection
    assert xml_entries(response.content)[2] == "25"
    assert stdout_rest == ""
    assert CLI_KEY not in stderr
    assert "serving http://127.0.0.1:" in stderr


def test_cli_seeds_from_a_file_and_applies_the_rate_limit(tmp_path: Path) -> None:
    seed_file = tmp_path / "seed.csv"
    seed_file.write_text("email,created_at\na@example.fr,2020-01-01 00:00:00\nb@example.fr,\n", encoding="utf-8")

    with _running_cli("--seed-file", str(seed_file), "--rate-limit", "2", "--conn-id", "mp_cli") as (
        process,
        connection,
        export,
    ):
        with requests.Session() as session:
            url = f"{connection['host']}/v1/unsubscribe/list"
            responses = [session.get(url, params={"apiKey": "sandbox-api-key"}, timeout=10) for _ in range(3)]
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0

    assert export.startswith("export AIRFLOW_CONN_MP_CLI=")
    assert connection["password"] == "sandbox-api-key"
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [e["email"] for e in responses[0].json()["data"]] == ["a@example.fr", "b@example.fr"]


def test_cli_injects_random_faults_of_the_chosen_kinds() -> None:
    with _running_cli("--fault-rate", "1", "--fault-seed", "3", "--fault-kinds", "html_page") as (
        process,
        connection,
        _,
    ):
        response = requests.get(f"{connection['host']}/v1/me", params={"apiKey": connection["password"]}, timeout=10)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0

    assert response.headers["Content-Type"].startswith("text/html")


def test_cli_generates_the_seed_entries_from_the_generate_seed() -> None:
    expected = SandboxBackend()
    expected.generate(5, seed=7)

    with _running_cli("--seed", "5", "--generate-seed", "7") as (process, connection, _):
        body = requests.get(
            f"{connection['host']}/v1/unsubscribe/list", params={"apiKey": connection["password"]}, timeout=10
        ).json()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0

    assert body["data"] == expected.entries()


def test_cli_help_says_seed_is_a_count_and_names_the_generation_seed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert "--seed N number of unsubscribe entries to generate" in text
    assert "--generate-seed S the random seed used to generate the --seed entries" in text


def test_cli_does_not_import_airflow() -> None:
    code = "import sys, airflow_provider_mailpartner.testing.cli; print('airflow' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)

    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "argv",
    [
        ["--format", "yaml"],
        ["--fault-rate", "1.5"],
        ["--fault-kinds", "meteor"],
        ["--fault-kinds", "html_page"],
        ["--fault-kinds", "html_page", "--fault-rate", "0"],
        ["--seed", "-3"],
        ["--port", "eighty"],
    ],
)
def test_cli_refuses_bad_arguments_with_exit_status_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert "usage: mailpartner-sandbox" in capsys.readouterr().err


def test_cli_reports_a_port_in_use_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        status = main(["--port", str(port)])

    assert status == 1
    assert f"cannot listen on port {port}" in capsys.readouterr().err


def test_cli_reports_a_missing_seed_file_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--port", "0", "--seed-file", str(tmp_path / "missing.jsonl")])

    assert status == 2
    assert "cannot seed" in capsys.readouterr().err
