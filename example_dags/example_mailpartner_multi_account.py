"""Daily: fetch the unsubscribe lists of several MailPartner accounts in parallel and merge them.

Shows dynamic task mapping, the way an agency with one MailPartner account per brand runs it on a
multi-worker deployment:

1. ``list_accounts`` reads the Airflow Variable ``mailpartner_accounts`` at run time — a JSON list
   of ``mailpartner`` connection ids, one per account (default ``["mailpartner_default"]``). Adding
   a brand is adding a connection and a name to that list; the DAG file does not change.
2. ``fetch_unsubscribes`` is mapped over them: one task instance per account, run in parallel,
   each writing ``<root>/runs/<dag_id>/<run_id>/accounts/<conn_id>.jsonl`` with its manifest.
3. ``merge_suppression_set`` checks every file against its manifest and writes one
   de-duplicated set, ``<root>/runs/<dag_id>/<run_id>/suppression_set.csv`` (``email,accounts``): each normalised
   address once, with the accounts that list it. If any account's list could not be fetched, the
   merge does not run: a set missing one brand's opt-outs must not pass for complete.

``<root>`` is ``MAILPARTNER_EXAMPLE_ROOT`` (default ``file:///tmp/mailpartner-example``). Offline,
with one sandbox per account::

    mailpartner-sandbox --port 8025 --seed 3000 --conn-id mailpartner_brand_a &
    mailpartner-sandbox --port 8026 --seed 2000 --conn-id mailpartner_brand_b &
    # export both AIRFLOW_CONN_* lines they print, then:
    export AIRFLOW_VAR_MAILPARTNER_ACCOUNTS='["mailpartner_brand_a", "mailpartner_brand_b"]'
    export AIRFLOW__CORE__DAGS_FOLDER=$PWD/example_dags   # dag.test() runs DAGs from the DAGs folder
    airflow db migrate
    python example_dags/example_mailpartner_multi_account.py
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator

ROOT = os.environ.get("MAILPARTNER_EXAMPLE_ROOT", "file:///tmp/mailpartner-example").rstrip("/")
# One folder per run, in every kind of run: run ids are unique within a DAG (manual runs have no ds).
RUN_FOLDER = f"{ROOT}/runs/{{{{ dag.dag_id }}}}/{{{{ run_id }}}}"

with DAG(
    dag_id="example_mailpartner_multi_account",
    description="Fetch several MailPartner accounts' unsubscribe lists in parallel into one suppression set.",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailpartner", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def list_accounts() -> list[dict[str, str]]:
        """One set of operator arguments per account, from the ``mailpartner_accounts`` Variable."""
        from airflow.sdk import Variable

        conn_ids = Variable.get("mailpartner_accounts", default=["mailpartner_default"], deserialize_json=True)
        if not isinstance(conn_ids, list) or not conn_ids or not all(isinstance(c, str) and c for c in conn_ids):
            raise ValueError(f"mailpartner_accounts must be a non-empty JSON list of connection ids, not {conn_ids!r}")
        if len(set(conn_ids)) != len(conn_ids):
            raise ValueError(f"mailpartner_accounts names a connection twice: {conn_ids!r}")
        return [
            {"mailpartner_conn_id": conn_id, "output_path": f"{RUN_FOLDER}/accounts/{conn_id}.jsonl"}
            for conn_id in conn_ids
        ]

    @task
    def merge_suppression_set(
        accounts: list[dict[str, str]], manifests: list[dict[str, object]], merged_path: str
    ) -> dict[str, object]:
        """One line per normalised address, naming every account that lists it; written atomically."""
        import csv
        import io

        from airflow.sdk import ObjectStoragePath

        from airflow_provider_mailpartner.storage import staged
        from airflow_provider_mailpartner.suppression import SuppressionSet

        listed_by: dict[str, list[str]] = {}
        entries: dict[str, int] = {}
        for account, manifest in zip(accounts, manifests, strict=True):  # mapped XComs keep the map order
            conn_id = account["mailpartner_conn_id"]
            suppression = SuppressionSet.from_manifest(manifest)
            entries[conn_id] = len(suppression)
            for key, _ in suppression.items():
                listed_by.setdefault(key, []).append(conn_id)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(("email", "accounts"))
        writer.writerows((key, " ".join(listed_by[key])) for key in sorted(listed_by))
        with staged(ObjectStoragePath(merged_path)) as staging:
            staging.write_text(text.getvalue())
        return {"path": merged_path, "addresses": len(listed_by), "addresses_per_account": entries}

    accounts = list_accounts()
    fetched = UnsubscribeListOperator.partial(task_id="fetch_unsubscribes").expand_kwargs(accounts)
    merge_suppression_set(accounts, fetched.output, merged_path=f"{RUN_FOLDER}/suppression_set.csv")


if __name__ == "__main__":
    dag.test()
