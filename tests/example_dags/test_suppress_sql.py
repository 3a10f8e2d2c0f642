"""example_mailpartner_suppress_sql end to end: the sandbox, dag.test(), and a real SQLite or PostgreSQL database.

Every test runs on SQLite, and on PostgreSQL when ``MAILPARTNER_TEST_POSTGRES_URI`` names a server
(``.ci/run`` starts one); each test gets a fresh database file or schema.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox
from tests.example_dags.conftest import RunExample

DAG_FILE = "example_mailpartner_suppress_sql.py"
DAG_ID = "example_mailpartner_suppress_sql"
POSTGRES_ENV = "MAILPARTNER_TEST_POSTGRES_URI"
PARIS = ZoneInfo("Europe/Paris")  # the sandbox connection's time zone: dates come back with Paris offsets

UNSUBSCRIBES = [
    {"id": 1, "email": "alice@example.fr", "created_at": "2024-03-01 09:30:00"},
    {"id": 2, "email": "  Bob@Example.COM\t", "created_at": "2024-06-10 14:00:00"},  # the hook strips it
    {"id": 3, "email": "zoë@exämple.fr", "created_at": "2024-07-01 10:00:00"},
    {"id": 4, "email": "paul@localhost", "created_at": "2024-08-01 12:00:00"},  # no dot: does not normalise
    {"id": 5, "email": "carol@example.org", "created_at": "2024-09-01 08:00:00"},
    {"id": 6, "email": "dave@example.net", "created_at": "2024-10-01 18:45:00"},
    {"id": 7, "email": "ZOË@XN--EXMPLE-CUA.FR", "created_at": "2024-01-15 08:00:00"},  # id 3's address, earlier
]
CAROL_MARKED = "2020-01-01T01:00:00+01:00"
CONTACTS = [
    (1, " Alice@Example.FR ", None),
    (2, "bob@example.com", None),
    (3, "zoe\u0308@EXÄMPLE.fr", None),  # decomposed ë, upper case, Unicode domain
    (4, "carol@example.org", CAROL_MARKED),  # already marked: keeps its date
    (5, "erin@example.fr", None),  # not listed
    (6, "paul@localhost", None),  # an address that does not normalise matches nothing
    (7, None, None),
]
EXPECTED_UNSUBSCRIBES = [
    (1, "alice@example.fr", "alice@example.fr", "2024-03-01T09:30:00+01:00"),
    (2, "Bob@Example.COM", "bob@example.com", "2024-06-10T14:00:00+02:00"),
    (3, "zoë@exämple.fr", "zoë@xn--exmple-cua.fr", "2024-07-01T10:00:00+02:00"),
    (4, "paul@localhost", None, "2024-08-01T12:00:00+02:00"),
    (5, "carol@example.org", "carol@example.org", "2024-09-01T08:00:00+02:00"),
    (6, "dave@example.net", "dave@example.net", "2024-10-01T18:45:00+02:00"),
    (7, "ZOË@XN--EXMPLE-CUA.FR", "zoë@xn--exmple-cua.fr", "2024-01-15T08:00:00+01:00"),
]
EXPECTED_CONTACTS = [
    (1, " Alice@Example.FR ", "2024-03-01T09:30:00+01:00"),
    (2, "bob@example.com", "2024-06-10T14:00:00+02:00"),
    (3, "zoe\u0308@EXÄMPLE.fr", "2024-01-15T08:00:00+01:00"),
    (4, "carol@example.org", CAROL_MARKED),
    (5, "erin@example.fr", None),
    (6, "paul@localhost", None),
    (7, None, None),
]
EXPECTED_SUMMARY = {"upserted": 7, "changed": 7, "invalid": 1, "contacts_marked": 3}
STALE_ROW = (1, "alice@old.example", "alice@old.example", "2019-05-05T10:00:00+02:00")
CREATE_UNSUBSCRIBES = (  # as the DAG creates it, to give a test a table from an earlier run
    "CREATE TABLE mailpartner_unsubscribes (id BIGINT PRIMARY KEY, email TEXT NOT NULL, email_key TEXT, "
    "created_at TIMESTAMP WITH TIME ZONE NOT NULL)"
)

Row = tuple[Any, ...]


class Database(ABC):
    """One test's database, reached by the test directly and by the DAG through ``mailpartner_example_db``."""

    def __init__(self, kind: str, placeholder: str, timestamp_type: str) -> None:
        self.kind = kind
        self.placeholder = placeholder
        self.timestamp_type = timestamp_type

    @abstractmethod
    def connect(self) -> Any: ...

    def execute(self, sql: str, rows: list[Row] | None = None) -> None:
        """Run one statement (for each of ``rows``) and commit."""
        conn = self.connect()
        try:
            if rows is None:
                conn.execute(sql)
            else:
                conn.cursor().executemany(sql.replace("?", self.placeholder), rows)
            conn.commit()
        finally:
            conn.close()

    @abstractmethod
    def tables(self) -> list[str]: ...

    def dump(self) -> dict[str, list[Row]]:
        """Every row of both tables, timestamps as ISO text in Paris time (SQLite's are the stored text)."""
        queries = {
            "mailpartner_unsubscribes": "SELECT id, email, email_key, created_at FROM mailpartner_unsubscribes",
            "contacts": "SELECT id, email, unsubscribed_at FROM contacts",
        }
        present = self.tables()
        conn = self.connect()
        try:
            return {
                table: sorted(tuple(_as_text(value) for value in row) for row in conn.execute(f"{sql} ORDER BY id"))
                for table, sql in queries.items()
                if table in present
            }
        finally:
            conn.close()

    def create_contacts(self) -> None:
        self.execute(
            f"CREATE TABLE contacts (id BIGINT PRIMARY KEY, email TEXT, unsubscribed_at {self.timestamp_type})"
        )
        self.execute("INSERT INTO contacts (id, email, unsubscribed_at) VALUES (?, ?, ?)", CONTACTS)


class SqliteDatabase(Database):
    def __init__(self, path: Path) -> None:
        super().__init__("sqlite", "?", "TEXT")
        self.path = path

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def tables(self) -> list[str]:
        conn = self.connect()
        try:
            return sorted(name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        finally:
            conn.close()


class PostgresDatabase(Database):
    def __init__(self, uri: str, schema: str) -> None:
        super().__init__("postgres", "%s", "TIMESTAMP WITH TIME ZONE")
        self.uri = uri
        self.schema = schema

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.uri, options=f"-c search_path={self.schema}")

    def tables(self) -> list[str]:
        conn = self.connect()
        try:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (self.schema,)
            )
            return sorted(name for (name,) in rows)
        finally:
            conn.close()


def _as_text(value: object) -> object:
    return value.astimezone(PARIS).isoformat() if isinstance(value, datetime) else value


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """An empty database behind ``mailpartner_example_db``: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        db: Database = SqliteDatabase(tmp_path / "crm.db")
        connection: dict[str, object] = {"conn_type": "sqlite", "host": str(tmp_path / "crm.db")}
        monkeypatch.setenv("AIRFLOW_CONN_MAILPARTNER_EXAMPLE_DB", json.dumps(connection))
        yield db
        return
    uri = os.environ.get(POSTGRES_ENV)
    if not uri:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL server to run the DAG against (.ci/run starts one)")
    parts = urlsplit(uri)
    schema = f"mailpartner_test_{uuid.uuid4().hex[:12]}"
    db = PostgresDatabase(uri, schema)
    db.execute(f"CREATE SCHEMA {schema}")
    connection = {
        "conn_type": "postgres",
        "host": parts.hostname,
        "port": parts.port or 5432,
        "login": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "schema": parts.path.lstrip("/"),  # Airflow's "schema" of a postgres connection is the database
        "extra": {"options": f"-c search_path={schema}"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MAILPARTNER_EXAMPLE_DB", json.dumps(connection))
    try:
        yield db
    finally:
        db.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def listed(mailpartner: MailPartnerSandbox) -> MailPartnerSandbox:
    """The sandbox holding UNSUBSCRIBES."""
    mailpartner.backend.seed(UNSUBSCRIBES)
    return mailpartner


def test_upserts_the_list_and_marks_matching_contacts(
    run_example: RunExample, listed: MailPartnerSandbox, database: Database
) -> None:
    database.create_contacts()

    result = run_example(DAG_FILE, DAG_ID)

    assert result.state == "success", result.task_states
    assert result.xcoms["load_unsubscribes"] == EXPECTED_SUMMARY
    assert database.dump() == {"mailpartner_unsubscribes": EXPECTED_UNSUBSCRIBES, "contacts": EXPECTED_CONTACTS}


def test_a_rerun_changes_nothing(run_example: RunExample, listed: MailPartnerSandbox, database: Database) -> None:
    database.create_contacts()
    assert run_example(DAG_FILE, DAG_ID).state == "success"
    after_first = database.dump()
    sqlite_bytes = _file_bytes(database)

    result = run_example(DAG_FILE, DAG_ID)

    assert result.state == "success", result.task_states
    assert result.xcoms["load_unsubscribes"] == {**EXPECTED_SUMMARY, "changed": 0, "contacts_marked": 0}
    assert database.dump() == after_first
    assert _file_bytes(database) == sqlite_bytes  # nothing rewritten, not even with the same values


def test_a_failed_fetch_leaves_both_tables_unchanged(
    run_example: RunExample, listed: MailPartnerSandbox, database: Database
) -> None:
    database.create_contacts()
    database.execute(CREATE_UNSUBSCRIBES)
    database.execute("INSERT INTO mailpartner_unsubscribes VALUES (?, ?, ?, ?)", [STALE_ROW])
    before, sqlite_bytes = database.dump(), _file_bytes(database)
    listed.faults.set_rate(1.0, kinds=[Fault.http_error(503)], command="unsubscribe/list")

    result = run_example(DAG_FILE, DAG_ID)

    assert result.state == "failed"
    assert result.task_states == {"fetch_unsubscribes": "failed", "load_unsubscribes": "upstream_failed"}
    list_requests = [r for r in listed.requests if r.command == "unsubscribe/list"]
    assert len(list_requests) > 1, "the hook gave up without retrying"
    assert {(r.http_status, r.fault) for r in list_requests} == {(503, "http_error")}
    assert database.dump() == before
    assert _file_bytes(database) == sqlite_bytes


@pytest.mark.parametrize("earlier_run", [False, True], ids=["first-run", "after-an-earlier-run"])
def test_an_error_in_the_load_rolls_everything_back(
    run_example: RunExample, listed: MailPartnerSandbox, database: Database, earlier_run: bool
) -> None:
    # No contacts table: the load fails after its upsert, which must not survive, nor the table it created.
    if earlier_run:
        database.execute(CREATE_UNSUBSCRIBES)
        database.execute("INSERT INTO mailpartner_unsubscribes VALUES (?, ?, ?, ?)", [STALE_ROW])
    tables, before, sqlite_bytes = database.tables(), database.dump(), _file_bytes(database)

    result = run_example(DAG_FILE, DAG_ID)

    assert result.state == "failed"
    assert result.task_states == {"fetch_unsubscribes": "success", "load_unsubscribes": "failed"}
    assert database.tables() == tables == (["mailpartner_unsubscribes"] if earlier_run else [])
    assert database.dump() == before
    assert _file_bytes(database) == sqlite_bytes


def _file_bytes(database: Database) -> bytes | None:
    """The SQLite file's bytes (None for PostgreSQL, whose files are not ours to read)."""
    if isinstance(database, SqliteDatabase):
        return database.path.read_bytes() if database.path.exists() else b""
    return None
