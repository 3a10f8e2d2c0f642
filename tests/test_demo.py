"""`make demo`, the README's first command: it runs the main job and its summary adds up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "scripts" / "demo.py"


def test_make_demo_runs_the_main_job_and_removes_every_planted_address(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW_HOME"))
    }
    env["MAILPARTNER_DEMO_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, str(DEMO)], env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr + (tmp_path / "airflow.log").read_text()
    summary = dict(line.split(" : ", 1) for line in done.stdout.splitlines() if " : " in line)
    summary = {name.strip(): value for name, value in summary.items()}
    assert summary["DAG run"].startswith("success (example_mailpartner_suppress_file, manual__")
    assert summary["Contacts out"] == "28500"
    assert summary["Check"] == "1500 listed addresses hidden among the contacts, 1500 removed"
    assert (tmp_path / "data" / "published" / "contacts.clean.csv").exists()
