"""Suppress MailPartner's unsubscribes in a SQL database: one table mirrors the list, contacts get marked.

Every day the unsubscribe list is fetched to a file of the run's own, then one task, in ONE transaction:

- upserts every entry into ``mailpartner_unsubscribes`` (created if missing): ``id`` (MailPartner's,
  primary key), ``email`` (as sent), ``email_key`` (the address normalised by
  :func:`~airflow_provider_mailpartner.suppression.normalize_email`; NULL, with a warning, for an
  entry that is not a comparable address) and ``created_at``;
- sets ``contacts.unsubscribed_at`` to the unsubscribe's ``created_at`` (the earliest, when several
  entries are the same address) for every contact whose address normalises to a listed one and
  that is not marked yet.

Addresses are compared in Python, never with SQL's lower()/trim(): the contacts are read once, the
matching ids go to a temporary table, and set-based statements do the writes. The run commits once
or not at all, so a failed run leaves both tables as they were, and so does a failed fetch (the
load task then never runs). A rerun changes nothing: the upsert rewrites only entries that
changed, and a contact already marked keeps its date. Runs that overlap (a parallel backfill) load
one after the other: SQLite's write lock, or a PostgreSQL advisory lock, holds each until it
commits. Entries that later leave the list (a re-subscription) stay in the table and their
contacts stay marked.

The contacts table is yours. Assumed: ``contacts(id, email, unsubscribed_at)`` at least, ``id``
unique (any type), ``email`` text, ``unsubscribed_at`` nullable and able to hold an ISO 8601
timestamp with offset (``timestamp with time zone`` in PostgreSQL; text in SQLite).

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

import logging
import os
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict, cast

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator

if TYPE_CHECKING:
    from airflow_provider_mailpartner.record_files import Manifest, OutputFormat
    from airflow_provider_mailpartner.records import UnsubscribeRecord

ROOT = os.environ.get("MAILPARTNER_EXAMPLE_ROOT", "file:///tmp/mailpartner-example").rstrip("/")
DB_CONN_ID = "mailpartner_example_db"
IDS_SHOWN = 50
FETCH_ROWS = 10_000

log = logging.getLogger(__name__)

# Portable SQL: SQLite and PostgreSQL both run every statement below unchanged. Types of the
# temporary tables are copied from the real ones (CREATE ... AS SELECT ... WHERE 1 = 0), so the
# contact ids keep whatever type the user's table gives them.
LOCK_POSTGRES = "SELECT pg_advisory_xact_lock(hashtext('mailpartner_unsubscribes'))"
CREATE_UNSUBSCRIBES = """
CREATE TABLE IF NOT EXISTS mailpartner_unsubscribes (
    id BIGINT PRIMARY KEY,
    email TEXT NOT NULL,
    email_key TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL
)"""
CREATE_EMAIL_KEY_INDEX = (
    "CREATE INDEX IF NOT EXISTS mailpartner_unsubscribes_email_key ON mailpartner_unsubscribes (email_key)"
)
CREATE_STAGED = (
    "CREATE TEMPORARY TABLE mailpartner_staged_unsubscribes AS "
    "SELECT id, email, email_key, created_at FROM mailpartner_unsubscribes WHERE 1 = 0"
)
STAGE = "INSERT INTO mailpartner_staged_unsubscribes (id, email, email_key, created_at) VALUES ({p}, {p}, {p}, {p})"
# "WHERE true": SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT. The update's WHERE
# skips unchanged rows, so a rerun writes nothing and the row count says what really changed.
UPSERT = """
INSERT INTO mailpartner_unsubscribes (id, email, email_key, created_at)
SELECT id, email, email_key, created_at FROM mailpartner_staged_unsubscribes WHERE true
ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_key = excluded.email_key, created_at = excluded.created_at
WHERE mailpartner_unsubscribes.email <> excluded.email
    OR COALESCE(mailpartner_unsubscribes.email_key, '') <> COALESCE(excluded.email_key, '')
    OR mailpartner_unsubscribes.created_at <> excluded.created_at"""
SELECT_UNMARKED_CONTACTS = "SELECT id, email FROM contacts WHERE unsubscribed_at IS NULL"
CREATE_MATCHES = (
    "CREATE TEMPORARY TABLE mailpartner_matched_contacts AS "
    "SELECT id AS contact_id, unsubscribed_at FROM contacts WHERE 1 = 0"
)
STAGE_MATCH = "INSERT INTO mailpartner_matched_contacts (contact_id, unsubscribed_at) VALUES ({p}, {p})"
MARK_CONTACTS = """
UPDATE contacts
SET unsubscribed_at = (
    SELECT m.unsubscribed_at FROM mailpartner_matched_contacts m WHERE m.contact_id = contacts.id
)
WHERE unsubscribed_at IS NULL AND id IN (SELECT contact_id FROM mailpartner_matched_contacts)"""


class LoadSummary(TypedDict):
    """The load task's XCom: small, whatever the size of the list."""

    upserted: int  # entries of today's list, all now in mailpartner_unsubscribes
    changed: int  # of those, the rows inserted or updated (0 on a rerun)
    invalid: int  # entries whose address does not normalise (email_key NULL)
    contacts_marked: int  # contacts whose unsubscribed_at this run set


StagedEntry = tuple[int, str, str | None, str]


@task
def load_unsubscribes(manifest: Manifest, db_conn_id: str) -> LoadSummary:
    """Mirror the fetched list into the database and mark the matching contacts, in one transaction.

    The file is read (and checked against its manifest) before the database is touched.
    """
    from airflow.sdk import BaseHook, ObjectStoragePath

    from airflow_provider_mailpartner.record_files import read_records

    path = ObjectStoragePath(manifest["path"])
    file_format = cast("OutputFormat", manifest["format"])
    entries, opt_outs, invalid_ids = _read_entries(read_records(path, file_format, sha256=manifest["sha256"]))
    if invalid_ids:
        log.warning(
            "%d unsubscribe(s) kept with email_key NULL: their address does not normalise (ids %s%s)",
            len(invalid_ids),
            invalid_ids[:IDS_SHOWN],
            " ..." if len(invalid_ids) > IDS_SHOWN else "",
        )
    hook = BaseHook.get_connection(db_conn_id).get_hook()  # type: ignore[no-untyped-call]
    conn = hook.get_conn()
    try:
        changed, marked = _write(conn, hook.placeholder, entries, opt_outs)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    summary: LoadSummary = {
        "upserted": len(entries),
        "changed": changed,
        "invalid": len(invalid_ids),
        "contacts_marked": marked,
    }
    log.info("Committed to %s: %s", db_conn_id, summary)
    return summary


def _read_entries(records: Iterable[UnsubscribeRecord]) -> tuple[list[StagedEntry], dict[str, str], list[int]]:
    """The rows to stage, each address key's earliest opt-out date, and the ids that do not normalise."""
    from airflow_provider_mailpartner.suppression import InvalidEmailError, normalize_email

    entries: list[StagedEntry] = []
    earliest: dict[str, tuple[datetime, str]] = {}
    invalid_ids: list[int] = []
    for record in records:
        try:
            key: str | None = normalize_email(record["email"])
        except InvalidEmailError:
            key = None
            invalid_ids.append(record["id"])
        entries.append((record["id"], record["email"], key, record["created_at"]))
        if key is not None:
            moment = datetime.fromisoformat(record["created_at"])  # compared as instants: offsets may differ
            if key not in earliest or moment < earliest[key][0]:
                earliest[key] = (moment, record["created_at"])
    return entries, {key: text for key, (_, text) in earliest.items()}, invalid_ids


def _write(conn: Any, placeholder: str, entries: list[StagedEntry], opt_outs: dict[str, str]) -> tuple[int, int]:
    """Run every statement inside the caller's transaction; return (rows changed, contacts marked)."""
    import sqlite3

    from airflow_provider_mailpartner.suppression import InvalidEmailError, normalize_email

    if isinstance(conn, sqlite3.Connection) and not conn.in_transaction:
        # Python's sqlite3 opens no transaction before DDL, so CREATE TABLE would commit on its own.
        # IMMEDIATE takes the write lock up front: a concurrent writer makes this wait, not fail midway.
        conn.execute("BEGIN IMMEDIATE")
    cursor = conn.cursor()
    if type(conn).__module__.startswith("psycopg"):
        # Runs overlap (a parallel backfill): one load at a time, held until this transaction ends.
        # Without it two first runs race on CREATE TABLE IF NOT EXISTS, which PostgreSQL lets fail.
        cursor.execute(LOCK_POSTGRES)
    cursor.execute(CREATE_UNSUBSCRIBES)
    cursor.execute(CREATE_EMAIL_KEY_INDEX)
    cursor.execute(CREATE_STAGED)
    cursor.executemany(STAGE.format(p=placeholder), entries)
    cursor.execute(UPSERT)
    changed: int = cursor.rowcount

    cursor.execute(SELECT_UNMARKED_CONTACTS)
    matches: list[tuple[Any, str]] = []
    while rows := cursor.fetchmany(FETCH_ROWS):
        for contact_id, email in rows:
            try:
                key = normalize_email(email)
            except InvalidEmailError:
                continue  # a contact without a usable address matches no unsubscribe
            if key in opt_outs:
                matches.append((contact_id, opt_outs[key]))
    cursor.execute(CREATE_MATCHES)
    cursor.executemany(STAGE_MATCH.format(p=placeholder), matches)
    cursor.execute(MARK_CONTACTS)
    marked: int = cursor.rowcount
    return changed, marked


with DAG(
    dag_id="example_mailpartner_suppress_sql",
    description="Fetch MailPartner's unsubscribe list, mirror it into a SQL table, mark the matching contacts.",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailpartner", "example"],
    params={"db_conn_id": DB_CONN_ID},
    doc_md=__doc__,
) as dag:
    run_folder = f"{ROOT}/runs/{{{{ dag.dag_id }}}}/{{{{ run_id }}}}"  # every run has a run_id; manual ones no ds
    fetch = UnsubscribeListOperator(task_id="fetch_unsubscribes", output_path=f"{run_folder}/unsubscribes.jsonl")
    load_unsubscribes(fetch.output, db_conn_id="{{ params.db_conn_id }}")  # type: ignore[arg-type]

if __name__ == "__main__":
    dag.test()
