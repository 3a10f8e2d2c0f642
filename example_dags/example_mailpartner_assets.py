"""Two DAGs joined by an asset: one fetches MailPartner's unsubscribe list, the other runs when it changes.

Shows data-aware scheduling:

- ``example_mailpartner_asset_producer`` (daily) writes the list to a fixed path,
  ``<root>/latest/unsubscribes.jsonl``. Because the path holds no template,
  ``UnsubscribeListOperator`` declares it as an :class:`~airflow.sdk.Asset` outlet, and each
  asset event carries the file's manifest (path, format, count, SHA-256) in its ``extra``.
- ``example_mailpartner_asset_consumer`` is scheduled on that asset. It takes the manifest from
  the latest event, checks the file against it (a file rewritten since, or damaged, is refused:
  the job fails closed) and suppresses the listed addresses from ``<root>/contacts.csv`` into
  ``<root>/latest/contacts.clean.csv``, with the removed rows in
  ``<root>/latest/contacts.suppressed.csv``.

Teams that own different steps can deploy the two DAGs separately; the consumer never runs on a
list that was not fetched in full. ``<root>`` is ``MAILPARTNER_EXAMPLE_ROOT`` (default
``file:///tmp/mailpartner-example``); the connection is ``mailpartner_default``. Offline::

    mailpartner-sandbox --seed 5000 &     # then export the AIRFLOW_CONN_MAILPARTNER_DEFAULT it prints
    export AIRFLOW__CORE__DAGS_FOLDER=$PWD/example_dags   # dag.test() runs DAGs from the DAGs folder
    airflow db migrate
    airflow dags test example_mailpartner_asset_producer
    airflow dags test example_mailpartner_asset_consumer
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task

from airflow_provider_mailpartner.operators.assets import asset_uri
from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator

ROOT = os.environ.get("MAILPARTNER_EXAMPLE_ROOT", "file:///tmp/mailpartner-example").rstrip("/")
LIST_PATH = f"{ROOT}/latest/unsubscribes.jsonl"
UNSUBSCRIBE_LIST = Asset(asset_uri(LIST_PATH))  # the asset the operator declares for that path, however it is spelled

with DAG(
    dag_id="example_mailpartner_asset_producer",
    description="Fetch MailPartner's unsubscribe list to a fixed path, declared as an asset.",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailpartner", "example"],
    doc_md=__doc__,
) as producer:
    UnsubscribeListOperator(task_id="fetch_unsubscribes", output_path=LIST_PATH)


with DAG(
    dag_id="example_mailpartner_asset_consumer",
    description="Suppress the latest unsubscribe list from a contact CSV whenever the list is refreshed.",
    schedule=[UNSUBSCRIBE_LIST],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailpartner", "example"],
    doc_md=__doc__,
) as consumer:

    @task(inlets=[UNSUBSCRIBE_LIST])
    def suppress_contacts(inlet_events: Mapping[Asset, Sequence[Any]] | None = None) -> dict[str, object]:
        """Suppress with the list the latest asset event describes, checked against its manifest."""
        from airflow_provider_mailpartner.suppression import SuppressionSet, suppress_csv

        events = inlet_events[UNSUBSCRIBE_LIST] if inlet_events is not None else ()
        if not events:
            raise RuntimeError(f"no asset event for {LIST_PATH} yet: run example_mailpartner_asset_producer first")
        manifest = events[-1].extra  # Airflow fills inlet_events from the metadata DB
        suppression = SuppressionSet.from_manifest(manifest)
        clean, report = f"{ROOT}/latest/contacts.clean.csv", f"{ROOT}/latest/contacts.suppressed.csv"
        return suppress_csv(f"{ROOT}/contacts.csv", suppression, clean, report).as_dict()

    suppress_contacts()


if __name__ == "__main__":
    producer.test()
    consumer.test()
