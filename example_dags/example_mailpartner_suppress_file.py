"""Daily: remove everyone on MailPartner's unsubscribe list from a contact file, and publish the clean file.

Shows the main job of this provider, failing closed at every step:

1. ``fetch_unsubscribes`` writes the whole list to ``<root>/runs/<dag_id>/<run_id>/unsubscribes.jsonl``
   (atomically, with a SHA-256 manifest as XCom), and beside it ``unsubscribes.changes.jsonl``: who
   joined and who left the list since the previous run. A list that lost more than 5% of the
   previous one, or all of it, is refused and nothing runs after it; when the loss is real, trigger
   the run with the ``mailpartner_max_removed_ratio`` param (the trigger form shows it).
2. ``suppress_contacts`` checks that file against its manifest, then streams ``<root>/contacts.csv``
   (a CSV as Excel writes it — ``,`` or ``;``, UTF-8 or cp1252 — with an address column such as
   ``email`` or ``Adresse e-mail``; every other column passes through, byte for byte) into
   ``<root>/runs/<dag_id>/<run_id>/contacts.clean.csv`` and a report of the removed rows,
   ``<root>/runs/<dag_id>/<run_id>/contacts.suppressed.csv``.
3. ``publish_clean_list`` puts the clean file at ``<root>/published/contacts.clean.csv``, the one
   path your sending tool reads, by a staged copy and a move: readers see the old file or the new
   one, never a mix, even while other runs publish at the same time.

Each run has a folder of its own, ``<root>/runs/<dag_id>/<run_id>/``: every run has a run id,
however it was started (scheduled, triggered by hand with or without a date, backfilled), and no
two runs of a DAG share one. (``{{ ds }}`` would not do: manual runs have no logical date in
Airflow 3.)

If the list cannot be fetched or trusted, or the suppression fails, the later tasks do not run:
the previously published clean list stays as it was and no new one appears.

``<root>`` is the environment variable ``MAILPARTNER_EXAMPLE_ROOT`` (an object-storage URL, e.g.
``s3://aws_conn@bucket/mailpartner`` with the Amazon provider; default
``file:///tmp/mailpartner-example``). MailPartner is reached through the ``mailpartner_default``
connection. To run it offline against the built-in sandbox::

    mailpartner-sandbox --seed 5000 &     # prints the AIRFLOW_CONN_MAILPARTNER_DEFAULT to export
    export AIRFLOW__CORE__DAGS_FOLDER=$PWD/example_dags   # dag.test() runs DAGs from the DAGs folder
    airflow db migrate
    python example_dags/example_mailpartner_suppress_file.py

(``make demo`` does all of this, with a generated contact file, and prints a summary.)
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_mailpartner.operators.suppression import SuppressContactsOperator
from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator

ROOT = os.environ.get("MAILPARTNER_EXAMPLE_ROOT", "file:///tmp/mailpartner-example").rstrip("/")
CONTACTS = f"{ROOT}/contacts.csv"
# One folder per run, in every kind of run: run ids are unique within a DAG (manual runs have no ds).
RUN_FOLDER = f"{ROOT}/runs/{{{{ dag.dag_id }}}}/{{{{ run_id }}}}"
PUBLISHED = f"{ROOT}/published/contacts.clean.csv"

with DAG(
    dag_id="example_mailpartner_suppress_file",
    description="Fetch MailPartner's unsubscribe list, suppress it from a contact CSV, publish the clean CSV.",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailpartner", "example"],
    doc_md=__doc__,
    params={  # empty: the task's guards; set for one run when the list really shrank
        "mailpartner_max_removed_ratio": Param(None, type=["null", "number"], minimum=0, maximum=1),
        "mailpartner_allow_empty": Param(None, type=["null", "boolean"]),
    },
) as dag:
    fetch = UnsubscribeListOperator(task_id="fetch_unsubscribes", output_path=f"{RUN_FOLDER}/unsubscribes.jsonl")
    suppress = SuppressContactsOperator(  # every contact on the list, in any case or Unicode form, goes to the report
        task_id="suppress_contacts",
        unsubscribes=fetch.output,  # the manifest: a file that is not what was fetched is refused
        contacts_path=CONTACTS,
        clean_path=f"{RUN_FOLDER}/contacts.clean.csv",
        report_path=f"{RUN_FOLDER}/contacts.suppressed.csv",
    )

    @task
    def publish_clean_list(summary: dict[str, object]) -> dict[str, object]:
        """Copy the day's clean file to the published path: staged beside it, then moved into place."""
        from airflow.sdk import ObjectStoragePath

        from airflow_provider_mailpartner.storage import staged

        with staged(ObjectStoragePath(PUBLISHED)) as staging:
            ObjectStoragePath(str(summary["clean_path"])).copy(staging)
        return {"path": PUBLISHED, "rows": summary["rows_out"], "from": summary["clean_path"]}

    publish_clean_list(suppress.output)  # type: ignore[arg-type]


if __name__ == "__main__":
    dag.test()
