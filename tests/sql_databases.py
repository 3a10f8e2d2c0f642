"""Real databases for the SQL tests: a fresh SQLite file, or a fresh PostgreSQL schema when
``MAILPARTNER_TEST_POSTGRES_URI`` names a server (``.ci/run`` starts one), reachable by the test
directly and by Airflow through a connection id.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest

POSTGRES_ENV = "MAILPARTNER_TEST_POSTGRES_URI"
PARIS = ZoneInfo("Europe/Paris")  # the sandbox connection's time zone: dates come back with Paris offsets
DATABASE_KINDS = ["sqlite", "postgres"]

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

    def query(self, sql: str) -> list[Row]:
        """The rows of one query, timestamps as ISO text in Paris time (SQLite's are the stored text)."""
        conn = self.connect()
        try:
            return [tuple(_as_text(value) for value in row) for row in conn.execute(sql)]
        finally:
            conn.close()

    def create_contacts(self, contacts: list[Row]) -> None:
        self.execute(
            f"CREATE TABLE contacts (id BIGINT PRIMARY KEY, email TEXT, unsubscribed_at {self.timestamp_type})"
        )
        self.execute("INSERT INTO contacts (id, email, unsubscribed_at) VALUES (?, ?, ?)", contacts)

    def file_bytes(self) -> bytes | None:
        """The SQLite file's bytes (None for PostgreSQL, whose files are not ours to read)."""
        return None


class SqliteDatabase(Database):
    def __init__(self, path: Path) -> None:
        super().__init__("sqlite", "?", "TEXT")
        self.path = path

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def file_bytes(self) -> bytes | None:
        return self.path.read_bytes() if self.path.exists() else b""

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


@contextmanager
def database_for(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, conn_id: str) -> Iterator[Database]:
    """An empty database behind Airflow connection ``conn_id``: a new SQLite file, or a new PostgreSQL schema."""
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    if kind == "sqlite":
        monkeypatch.setenv(variable, json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "crm.db")}))
        yield SqliteDatabase(tmp_path / "crm.db")
        return
    uri = os.environ.get(POSTGRES_ENV)
    if not uri:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL server to run against (.ci/run starts one)")
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
    monkeypatch.setenv(variable, json.dumps(connection))
    try:
        yield db
    finally:
        db.execute(f"DROP SCHEMA {schema} CASCADE")
