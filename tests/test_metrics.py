"""The counts reach Airflow's metrics: read back from a StatsD socket, as a StatsD server would get them.

A task process initialises Airflow's metrics from ``[metrics]`` before the task runs; the child
process here does the same (as ``task_runner.main`` does), with ``statsd_on`` pointing at a UDP
socket of the test, then runs the list and suppression operators against the sandbox.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_mailpartner.testing import MailPartnerSandbox

pytest.importorskip("statsd")  # what Airflow's StatsD logger sends with (a test dependency)

CHILD = """
import sys
from airflow.sdk.configuration import conf
from airflow.sdk.observability import stats
from airflow.sdk.observability.metrics import stats_utils

legacy_names = conf.getboolean("metrics", "legacy_names_on")
stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=legacy_names)

from airflow_provider_mailpartner.operators.suppression import SuppressContactsOperator
from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator

folder = sys.argv[1]
context = {"params": {}, "run_id": "r1"}
manifest = UnsubscribeListOperator(task_id="fetch", output_path=f"file://{folder}/u.jsonl").execute(context)
SuppressContactsOperator(
    task_id="suppress",
    unsubscribes=manifest,
    contacts_path=f"file://{folder}/contacts.csv",
    clean_path=f"file://{folder}/clean.csv",
    report_path=f"file://{folder}/report.csv",
).execute(context)
"""


def received(server: socket.socket) -> list[str]:
    """Every StatsD line sent to ``server`` so far."""
    lines = []
    server.settimeout(0.5)
    try:
        while True:
            lines += server.recv(65536).decode().splitlines()
    except TimeoutError:
        return lines


def test_counts_of_the_list_and_the_suppression_reach_statsd(sandbox: MailPartnerSandbox, tmp_path: Path) -> None:
    sandbox.backend.generate(40, seed=1)
    listed = [entry["email"] for entry in sandbox.backend.entries()]
    (tmp_path / "contacts.csv").write_text("email\n" + "\n".join([*listed[:7], "someone@else.fr", "not an address"]))
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    env = {
        **sandbox.airflow_env("mailpartner_default"),
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(server.getsockname()[1]),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = [line for line in received(server) if line.startswith("airflow.mailpartner.")]
    assert sorted(metrics) == sorted(
        [
            "airflow.mailpartner.unsubscribe_list.fetched:40|c",
            "airflow.mailpartner.unsubscribe_list.kept:40|c",
            "airflow.mailpartner.unsubscribe_list.added:40|c",
            "airflow.mailpartner.unsubscribe_list.removed:0|c",
            "airflow.mailpartner.unsubscribe_list.changed:0|c",
            "airflow.mailpartner.unsubscribe_list.size:40|g",
            "airflow.mailpartner.suppression.rows_in:9|c",
            "airflow.mailpartner.suppression.rows_out:1|c",
            "airflow.mailpartner.suppression.suppressed:7|c",
            "airflow.mailpartner.suppression.invalid:1|c",
        ]
    )
    assert not [line for line in metrics if "@" in line]  # counts only: no address in a name or a tag
