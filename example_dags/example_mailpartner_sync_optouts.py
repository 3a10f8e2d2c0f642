"""Daily: push opt-outs collected outside MailPartner to its unsubscribe list, so no other tool sends to them.

Shows ``AddUnsubscribesOperator``. People unsubscribe in many places (a preference centre, a
reply to a salesperson, a form at a shop); collect them into ``<root>/optouts/<day>.csv`` — one
address per line, or a CSV with an ``email`` column — and this DAG adds each one to MailPartner.
``<day>`` (``YYYY-MM-DD``) is the run's logical date, or, for a run without one (triggered by hand
in Airflow 3), the day it was triggered.
Addresses are normalised and de-duplicated first; invalid ones are skipped and listed in the log;
an address MailPartner already has counts as done, so a rerun is harmless. The task stays under
MailPartner's 2000 requests a minute (here at most 1000, leaving room for other jobs on the same
account) and fails, naming the addresses, if any could not be added after retries.

To push opt-outs kept in a table instead, return them from a task and pass them as ``emails``::

    AddUnsubscribesOperator(task_id="push_optouts", emails=optouts_from_table())

``<root>`` is ``MAILPARTNER_EXAMPLE_ROOT`` (default ``file:///tmp/mailpartner-example``); the
connection is ``mailpartner_default``. Offline, against the sandbox::

    mailpartner-sandbox &     # then export the AIRFLOW_CONN_MAILPARTNER_DEFAULT it prints
    export AIRFLOW__CORE__DAGS_FOLDER=$PWD/example_dags   # dag.test() runs DAGs from the DAGs folder
    airflow db migrate
    python example_dags/example_mailpartner_sync_optouts.py
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG

from airflow_provider_mailpartner.operators.unsubscribe import AddUnsubscribesOperator

ROOT = os.environ.get("MAILPARTNER_EXAMPLE_ROOT", "file:///tmp/mailpartner-example").rstrip("/")
# The logical date's day; a manual run has none in Airflow 3, so then the day it was triggered.
DAY = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"

with DAG(
    dag_id="example_mailpartner_sync_optouts",
    description="Add locally collected opt-outs to MailPartner's unsubscribe list.",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailpartner", "example"],
    doc_md=__doc__,
) as dag:
    AddUnsubscribesOperator(
        task_id="push_optouts",
        input_path=f"{ROOT}/optouts/{DAY}.csv",
        max_requests_per_minute=1000,
    )


if __name__ == "__main__":
    dag.test()
