"""A DAG of the deployment tests: the list operator with one retry, to show that a task stopped
while writing (a worker shutting down) is retried, and that the retry publishes the list."""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator

ROOT = os.environ.get("MAILPARTNER_EXAMPLE_ROOT", "file:///tmp/mailpartner-example").rstrip("/")

with DAG(
    dag_id="deployment_list_with_retry",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
):
    UnsubscribeListOperator(
        task_id="fetch_unsubscribes",
        output_path=f"{ROOT}/runs/{{{{ dag.dag_id }}}}/{{{{ run_id }}}}/unsubscribes.jsonl",
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
