"""Suppress MailPartner's unsubscribes in a SQL database: a table mirrors the list with its history; contacts marked.

Every day the unsubscribe list is fetched to a file of the run's own, then ``UnsubscribesToSqlOperator``,
in ONE transaction:

- brings ``mailpartner_unsubscribes`` (created if missing) to the list: one row per version of an
  entry, ``id``, ``email`` (as sent), ``email_key`` (the address normalised by
  :func:`~airflow_provider_mailpartner.suppression.normalize_email`; NULL for an entry that is not a
  comparable address), ``created_at``, and ``valid_from``/``valid_to``. An entry that leaves the
  list (a re-subscription) has its row closed, not deleted: the table says since when, and until
  when, each address was suppressed. The current list is ``WHERE valid_to IS NULL``;
- sets ``contacts.unsubscribed_at`` to the earliest ``created_at`` of the contact's address for every
  contact whose address is listed (an address listed only without a readable date keeps its mark, or
  gets the run's moment), and clears it for every contact whose address is not (anymore).

Addresses are compared in Python, never with SQL's lower()/trim(). The run commits once or not at
all, so a failed run leaves both tables as they were, and so does a failed fetch (the load task
then never runs). A rerun changes nothing. Runs that overlap (a parallel backfill) load one after
the other.

The contacts table is yours. Assumed: ``contacts(id, email, unsubscribed_at)`` at least, ``id``
unique (any type), ``email`` text, ``unsubscribed_at`` nullable and able to hold an ISO 8601
timestamp with offset (``timestamp with time zone`` in PostgreSQL; text in SQLite). The operator
sets and clears ``unsubscribed_at``: it is the operator's column.

The database is reached through an Airflow connection: ``mailpartner_example_db`` unless the run's
``db_conn_id`` param names another. The same DAG runs unchanged on SQLite and on PostgreSQL::

    export AIRFLOW_CONN_MAILPARTNER_EXAMPLE_DB='{"conn_type": "sqlite", "host": "/tmp/mailpartner-example/crm.db"}'
    export AIRFLOW_CONN_MAILPARTNER_EXAMPLE_DB='{"conn_type": "postgres", "host": "127.0.0.1", "port": 5432,
        "login": "crm", "password": "...", "schema": "crm"}'   # a postgres connection's "schema" is the database

``<root>`` is ``MAILPARTNER_EXAMPLE_ROOT`` (default ``file:///tmp/mailpartner-example``); the fetched
list goes to ``<root>/runs/<dag_id>/<run_id>/unsubscribes.jsonl``, a folder per run, in every kind of
run. MailPartner is reached through ``mailpartner_default``.
Offline, against the sandbox, with a new SQLite contacts table::

    mailpartner-sandbox --seed 1000 &     # then export the AIRFLOW_CONN_MAILPARTNER_DEFAULT it prints
    mkdir -p /tmp/mailpartner-example
    python -c 'import sqlite3; sqlite3.connect("/tmp/mailpartner-example/crm.db").execute(
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, unsubscribed_at TEXT)")'
    export AIRFLOW__CORE__DAGS_FOLDER="$PWD/example_dags"   # dag.test() runs only a DAG from the DAGs folder
    airflow db migrate && python example_dags/example_mailpartner_suppress_sql.py
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG

from airflow_provider_mailpartner.operators.sql import UnsubscribesToSqlOperator
from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator

ROOT = os.environ.get("MAILPARTNER_EXAMPLE_ROOT", "file:///tmp/mailpartner-example").rstrip("/")

with DAG(
    dag_id="example_mailpartner_suppress_sql",
    description="Fetch MailPartner's unsubscribe list, mirror it into a SQL table, mark the matching contacts.",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailpartner", "example"],
    params={"db_conn_id": "mailpartner_example_db"},
    doc_md=__doc__,
) as dag:
    run_folder = f"{ROOT}/runs/{{{{ dag.dag_id }}}}/{{{{ run_id }}}}"  # every run has a run_id; manual ones no ds
    fetch = UnsubscribeListOperator(task_id="fetch_unsubscribes", output_path=f"{run_folder}/unsubscribes.jsonl")
    UnsubscribesToSqlOperator(
        task_id="load_unsubscribes",
        unsubscribes=fetch.output,  # the manifest: a file that is not what was fetched is refused
        sql_conn_id="{{ params.db_conn_id }}",
        contacts_table="contacts",
    )

if __name__ == "__main__":
    dag.test()
