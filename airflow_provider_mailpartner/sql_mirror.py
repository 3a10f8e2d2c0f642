"""MailPartner's unsubscribe list mirrored into a SQL table, with its history, and a contacts table marked from it.

One run is one transaction: the list goes to a temporary table (PostgreSQL's ``COPY``, or one
``executemany``: never a round trip per row), then a few set-based statements bring the mirror to
it. With history (SCD type 2) every version of an entry is a row with ``valid_from`` and
``valid_to``: an entry that leaves the list, or changes, has its row closed (``valid_to`` set) and
the new version opened, so "when was this address suppressed, and when not" is a query. Without
history, rows that left are deleted. A rerun with the same list changes nothing.

An odd entry without a usable id or date gets no row of its own (the mirror's key and
``created_at`` cannot be null). It is still listed, so it closes nothing: the open row of its id
(a date that could not be read) or of its address (an id that could not be read) stays open as the
last version known, and its address still marks contacts, with the listing date of another entry
of that address, or with the date the mark was first set.

Addresses are compared in Python by :func:`~airflow_provider_mailpartner.suppression.normalize_email`
(never SQL's ``lower()``): the key is stored in ``email_key``, and contacts are read once, their
matches staged, and the marks set and cleared set-based. The statements run unchanged on SQLite
and PostgreSQL. Runs that overlap wait for each other: SQLite's write lock, or a PostgreSQL
advisory lock, held until the transaction ends.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from itertools import islice
from typing import Any, TypedDict

from airflow_provider_mailpartner.records import UnsubscribeRecord
from airflow_provider_mailpartner.sql_names import ContactMarking, checked_identifier
from airflow_provider_mailpartner.suppression import InvalidEmailError, normalize_email

_BATCH = 10_000
SQLITE_WAIT_MS = 600_000
"""How long a run waits for SQLite's write lock while another run holds it (10 minutes)."""
_STAGED, _MARKS = "mailpartner_staged_unsubscribes", "mailpartner_contact_marks"

Row = tuple[object, ...]
Listings = dict[str, tuple[datetime, str] | None]
"""Address key -> its earliest listing (the instant and the text), or None when no entry of it has a date."""
_NOT_LISTED = (datetime.min, "")  # (a key absent from Listings)


class MirrorSummary(TypedDict):
    """What a run did, in counts (the task's XCom)."""

    table: str
    entries: int  # on the list now
    opened: int  # rows added: new entries, and new versions of changed ones
    closed: int  # rows closed (history) or deleted: entries that left the list, or changed
    invalid: int  # entries whose address does not normalise (email_key NULL)
    not_mirrored: int  # odd entries without a usable id or date: no row, their address still marks contacts
    contacts_marked: int  # contacts whose mark was set or moved
    contacts_unmarked: int  # contacts whose mark was cleared


class SqlMirror:
    """The statements of one run, on one DB-API connection, inside the caller's transaction."""

    def __init__(self, conn: Any, placeholder: str, table: str, *, keep_history: bool = True) -> None:
        self.conn = conn
        self.placeholder = placeholder
        self.table = checked_identifier(table, "table")
        self.keep_history = keep_history
        self.cursor = conn.cursor()

    def run(
        self, records: Iterable[UnsubscribeRecord], now: datetime, marking: ContactMarking | None = None
    ) -> MirrorSummary:
        self._begin()
        self._create_table()
        earliest, counts = self._stage(records)
        # psycopg sends a datetime as timestamptz; SQLite keeps ISO text, as created_at is.
        moment = now if _is_postgres(self.conn) else now.isoformat()
        closed, opened = self._apply(moment)
        marked = unmarked = 0
        if marking is not None:
            marked, unmarked = self._mark(marking, earliest, now.isoformat())
        return {
            "table": self.table,
            "entries": counts["entries"],
            "opened": opened,
            "closed": closed,
            "invalid": counts["invalid"],
            "not_mirrored": counts["not_mirrored"],
            "contacts_marked": marked,
            "contacts_unmarked": unmarked,
        }

    def _begin(self) -> None:
        if isinstance(self.conn, sqlite3.Connection) and not self.conn.in_transaction:
            # Python's sqlite3 opens no transaction before DDL, so CREATE TABLE would commit on its own.
            # IMMEDIATE takes the write lock up front: a concurrent run waits here (up to the busy
            # timeout, 5 s unless raised) instead of failing midway.
            self.conn.execute(f"PRAGMA busy_timeout = {SQLITE_WAIT_MS}")
            self.conn.execute("BEGIN IMMEDIATE")
        elif _is_postgres(self.conn):
            if self.conn.autocommit:  # (the connection's "autocommit" extra): one transaction, or none
                self.conn.autocommit = False
            # Without it two first runs race on CREATE TABLE IF NOT EXISTS, which PostgreSQL lets fail.
            self.cursor.execute(f"SELECT pg_advisory_xact_lock(hashtext('{self.table}'))")

    def _create_table(self) -> None:
        for statement in (
            f"""CREATE TABLE IF NOT EXISTS {self.table} (
                id BIGINT NOT NULL,
                email TEXT NOT NULL,
                email_key TEXT,
                created_at TIMESTAMP WITH TIME ZONE NOT NULL,
                valid_from TIMESTAMP WITH TIME ZONE NOT NULL,
                valid_to TIMESTAMP WITH TIME ZONE,
                PRIMARY KEY (id, valid_from)
            )""",
            self._index("UNIQUE INDEX", "current", "(id) WHERE valid_to IS NULL"),
            self._index("INDEX", "email_key", "(email_key) WHERE valid_to IS NULL"),
            # (the column types copied from the mirror; the connection is new, so no earlier one exists)
            f"CREATE TEMPORARY TABLE {_STAGED} AS "
            f"SELECT id, email, email_key, created_at FROM {self.table} WHERE 1 = 0",
        ):
            self.cursor.execute(statement)

    def _index(self, kind: str, suffix: str, definition: str) -> str:
        """A CREATE statement for an index of the mirror; SQLite names the schema on the index, not the table."""
        schema, _, table = self.table.rpartition(".")
        name = f"{table}_{suffix}"
        if schema and isinstance(self.conn, sqlite3.Connection):
            return f"CREATE {kind} IF NOT EXISTS {schema}.{name} ON {table} {definition}"
        return f"CREATE {kind} IF NOT EXISTS {name} ON {self.table} {definition}"

    def _stage(self, records: Iterable[UnsubscribeRecord]) -> tuple[Listings, dict[str, int]]:
        """The list into the temporary table; each address key's earliest listing, and the counts."""
        earliest: Listings = {}
        counts = {"invalid": 0, "entries": 0, "not_mirrored": 0}

        def rows() -> Iterator[Row]:
            for record in records:
                counts["entries"] += 1
                try:
                    key: str | None = normalize_email(record["email"])
                except InvalidEmailError:
                    key, counts["invalid"] = None, counts["invalid"] + 1
                created = record["created_at"]
                counts["not_mirrored"] += record["id"] is None or created is None
                yield record["id"], record["email"], key, created  # (staged whole: an odd entry closes nothing)
                if key is not None:
                    _note_listing(earliest, key, created)

        self._load(_STAGED, ("id", "email", "email_key", "created_at"), rows())
        self._index_temporary(_STAGED, "id")  # the statements look rows up by id
        self._index_temporary(_STAGED, "email_key")  # and odd entries without one by address
        return earliest, counts

    def _apply(self, now: datetime | str) -> tuple[int, int]:
        """Close (or delete) the rows whose entry left or changed, then open a row for every new version."""
        table = self.table
        gone = (  # the entry is not listed as it is, nor by an odd entry that may be it (see the module)
            f"NOT EXISTS (SELECT 1 FROM {_STAGED} s WHERE s.id = {table}.id AND s.email = {table}.email "
            f"AND {self._instant('s.created_at')} = {self._instant(f'{table}.created_at')} "
            f"AND COALESCE(s.email_key, '') = COALESCE({table}.email_key, '')) "
            f"AND NOT EXISTS (SELECT 1 FROM {_STAGED} s WHERE s.id = {table}.id AND s.created_at IS NULL) "
            f"AND NOT EXISTS (SELECT 1 FROM {_STAGED} s WHERE s.id IS NULL AND s.email_key = {table}.email_key)"
        )
        if self.keep_history:
            self.cursor.execute(
                f"UPDATE {table} SET valid_to = {self.placeholder} WHERE valid_to IS NULL AND {gone}", (now,)
            )
        else:
            self.cursor.execute(f"DELETE FROM {table} WHERE valid_to IS NULL AND {gone}")
        closed: int = self.cursor.rowcount
        self.cursor.execute(
            f"""INSERT INTO {table} (id, email, email_key, created_at, valid_from, valid_to)
            SELECT s.id, s.email, s.email_key, s.created_at, {self.placeholder}, NULL FROM {_STAGED} s
            WHERE s.id IS NOT NULL AND s.created_at IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = s.id AND t.valid_to IS NULL)""",
            (now,),
        )
        return closed, self.cursor.rowcount

    def _instant(self, column: str) -> str:
        """``column``'s moment, to compare: SQLite keeps ISO text, and one instant may be written with two
        offsets (the connection's time zone changed); PostgreSQL's timestamptz compares instants already."""
        return f"strftime('%s', {column})" if isinstance(self.conn, sqlite3.Connection) else column

    def _mark(self, marking: ContactMarking, earliest: Listings, now: str) -> tuple[int, int]:
        """Set each listed contact's mark to its address's earliest listing; clear every other mark.

        An address listed only without a date keeps the mark it has, or gets ``now`` (ISO text).
        """
        contacts, key, mark = marking.table, marking.key_column, marking.mark_column
        self.cursor.execute(
            f"CREATE TEMPORARY TABLE {_MARKS} AS "
            f"SELECT {key} AS contact_key, {mark} AS mark FROM {contacts} WHERE 1 = 0"
        )
        self._load(_MARKS, ("contact_key", "mark"), self._matches(marking, earliest, now))
        self._index_temporary(_MARKS, "contact_key")
        wanted = f"(SELECT m.mark FROM {_MARKS} m WHERE m.contact_key = {contacts}.{key})"
        self.cursor.execute(
            f"UPDATE {contacts} SET {mark} = {wanted} "
            f"WHERE {key} IN (SELECT contact_key FROM {_MARKS}) AND ({mark} IS NULL OR {mark} <> {wanted})"
        )
        marked: int = self.cursor.rowcount
        self.cursor.execute(
            f"UPDATE {contacts} SET {mark} = NULL WHERE {mark} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {_MARKS} m WHERE m.contact_key = {contacts}.{key})"
        )
        return marked, self.cursor.rowcount

    def _matches(self, marking: ContactMarking, earliest: Listings, now: str) -> Iterator[Row]:
        """(contact key, mark) for every contact whose address is listed: the contacts read once, in batches.

        An address listed without a date keeps the contact's mark, or gets ``now``: it is marked
        whatever its date, and a rerun leaves it as it is.
        """
        reader = self.conn.cursor()  # (the main cursor stages the matches meanwhile)
        columns = f"{marking.key_column}, {marking.email_column}, {marking.mark_column}"
        reader.execute(f"SELECT {columns} FROM {marking.table}")
        matches = []
        while batch := reader.fetchmany(_BATCH):
            for row in batch:
                contact_key, email, mark = row.values() if isinstance(row, Mapping) else row  # (a dict cursor's rows)
                if contact_key is None:
                    continue
                try:
                    listed = earliest.get(normalize_email(email), _NOT_LISTED)
                except InvalidEmailError:
                    continue  # a contact without a usable address matches no unsubscribe
                if listed is not _NOT_LISTED:
                    matches.append((contact_key, (now if mark is None else mark) if listed is None else listed[1]))
        return iter(matches)

    def _index_temporary(self, table: str, column: str) -> None:
        """An index on a loaded temporary table, and (PostgreSQL, which never analyses one itself) its statistics."""
        self.cursor.execute(f"CREATE INDEX {table}_{column} ON {table} ({column})")
        if _is_postgres(self.conn):
            self.cursor.execute(f"ANALYZE {table}")

    def _load(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        """``rows`` into ``table``: COPY on PostgreSQL, else executemany a batch at a time."""
        if _is_postgres(self.conn) and hasattr(self.cursor, "copy"):  # psycopg 3
            with self.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        if _is_postgres(self.conn):  # psycopg2
            for batch in _batches(rows):
                text = io.StringIO()
                csv.writer(text).writerows([("" if v is None else v) for v in row] for row in batch)
                text.seek(0)
                self.cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", text)
            return
        values = ", ".join([self.placeholder] * len(columns))
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
        for batch in _batches(rows):
            self.cursor.executemany(statement, batch)


def _note_listing(earliest: Listings, key: str, created: str | None) -> None:
    """Keep the earliest listing of ``key`` (None: listed, date unknown, until a dated entry comes)."""
    if created is None:
        earliest.setdefault(key, None)
        return
    moment = datetime.fromisoformat(created)  # instants: offsets may differ
    listed = earliest.get(key)
    if listed is None or moment < listed[0]:
        earliest[key] = (moment, created)


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    rows = iter(rows)
    while batch := list(islice(rows, _BATCH)):
        yield batch


def _is_postgres(conn: Any) -> bool:
    return type(conn).__module__.split(".")[0] in ("psycopg", "psycopg2")
