"""UnsubscribesToSqlOperator on real SQLite and PostgreSQL: the mirror equals the list after every run of a
generated history, closed rows keep the history, contacts' marks equal the suppression of the current list."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from airflow_provider_mailpartner.operators.sql import UnsubscribesToSqlOperator
from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator
from airflow_provider_mailpartner.record_files import RecordFileError
from airflow_provider_mailpartner.suppression import InvalidEmailError, normalize_email
from airflow_provider_mailpartner.testing import MailPartnerSandbox
from tests.operators.test_unsubscribe import expected_records
from tests.sql_databases import DATABASE_KINDS, Database, database_for

CONN_ID = "mailpartner_crm"
CURRENT = "SELECT id, email, email_key, created_at FROM mailpartner_unsubscribes WHERE valid_to IS NULL ORDER BY id"
ALL_ROWS = "SELECT id, valid_from, valid_to FROM mailpartner_unsubscribes ORDER BY id, valid_from"
DOMAINS = ["example.fr", "Exämple.FR", "orange.fr", "localhost"]  # localhost: not an address that normalises


@pytest.fixture(params=DATABASE_KINDS)
def database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    with database_for(request.param, tmp_path, monkeypatch, CONN_ID) as db:
        yield db


def fetch(tmp_path: Path, run: int) -> dict:
    operator = UnsubscribeListOperator(
        task_id="fetch", output_path=f"file://{tmp_path}/runs/{run}/u.jsonl", track_changes=False
    )
    return operator.execute({})  # type: ignore[arg-type]


def mirror(manifest: dict, **arguments: object) -> dict:
    operator = UnsubscribesToSqlOperator(task_id="load", unsubscribes=manifest, sql_conn_id=CONN_ID, **arguments)
    return operator.execute({})  # type: ignore[arg-type]


def list_file(tmp_path: Path, name: str, records: list[dict]) -> dict:
    """The list operator's manifest of ``records``, written as it writes them (what the sandbox cannot serve)."""
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mailpartner.record_files import write_records

    written = write_records(records, ObjectStoragePath(f"file://{tmp_path}/{name}.jsonl"), "jsonl")
    return {**written, "fetched": len(records), "odd_entries": {}}


def key_of(email: str | None) -> str | None:
    try:
        return normalize_email(email) if email is not None else None
    except InvalidEmailError:
        return None


def expected_marks(records: list[dict], contacts: list[tuple]) -> list[tuple]:
    """Each contact with the earliest listing of its address, computed the plain way."""
    earliest: dict[str, tuple[datetime, str]] = {}
    for record in records:
        key = key_of(record["email"])
        moment = datetime.fromisoformat(record["created_at"])
        if key is not None and (key not in earliest or moment < earliest[key][0]):
            earliest[key] = (moment, record["created_at"])
    marks = []
    for contact_id, email, _ in contacts:
        listed = earliest.get(key_of(email) or "")
        marks.append((contact_id, email, listed[1] if listed else None))
    return marks


def as_mirror_rows(records: list[dict]) -> list[tuple]:
    return [(r["id"], r["email"], key_of(r["email"]), r["created_at"]) for r in records]


def change_list(sandbox: MailPartnerSandbox, rng: random.Random, day: int) -> None:
    """Entries leave, join, and change address under their id, as a day on MailPartner might bring."""
    entries = {entry["id"]: dict(entry) for entry in sandbox.backend.entries()}
    for entry_id in rng.sample(sorted(entries), k=min(len(entries), rng.randint(0, 4))):
        del entries[entry_id]
    for entry_id in rng.sample(sorted(entries), k=min(len(entries), rng.randint(0, 2))):
        entries[entry_id]["email"] = f"changed{day}.{entry_id}@{rng.choice(DOMAINS)}"
    next_id = max(entries, default=0) + 100
    for number in range(rng.randint(0, 5)):
        entries[next_id + number] = {
            "id": next_id + number,
            "email": f"Day{day}.{number}@{rng.choice(DOMAINS)}",
            "createdAt": f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 0{rng.randint(0, 9)}:00:00",
        }
    sandbox.backend.reset()
    sandbox.backend.seed(entries.values())


def check_history(database: Database, listed_ids: set[int]) -> None:
    """Each id: versions one after the other, never overlapping; one open row exactly when listed."""
    by_id: dict[int, list[tuple]] = {}
    for entry_id, valid_from, valid_to in database.query(ALL_ROWS):
        by_id.setdefault(entry_id, []).append((valid_from, valid_to))
    for entry_id, versions in by_id.items():
        open_rows = [v for v in versions if v[1] is None]
        assert len(open_rows) == (1 if entry_id in listed_ids else 0), (entry_id, versions)
        for (_, closed_at), (next_from, _) in pairwise(versions):
            assert closed_at is not None, (entry_id, versions)
            assert closed_at <= next_from, (entry_id, versions)


def test_over_a_generated_history_the_mirror_and_the_marks_follow_the_list(
    connection: MailPartnerSandbox, database: Database, tmp_path: Path
) -> None:
    rng = random.Random(20261203)
    connection.backend.generate(25, seed=5)
    listed = expected_records(connection)
    contacts = [(n, f"  {r['email'].upper()} ", None) for n, r in enumerate(listed[:12], 1)]
    contacts += [(100, "nobody@example.fr", None), (101, None, None), (102, "paul@localhost", None)]
    database.create_contacts(contacts)
    previous: dict[int, dict] = {}
    for day in range(8):
        if day:
            change_list(connection, rng, day)
        records = expected_records(connection)
        summary = mirror(fetch(tmp_path, day), contacts_table="contacts")
        assert database.query(CURRENT) == as_mirror_rows(records), f"day {day}"
        marks = database.query("SELECT id, email, unsubscribed_at FROM contacts ORDER BY id")
        assert marks == expected_marks(records, contacts), f"day {day}"
        check_history(database, {r["id"] for r in records})
        current = {r["id"]: r for r in records}
        changed = sum(1 for i in current.keys() & previous.keys() if current[i]["email"] != previous[i]["email"])
        assert summary["closed"] == len(previous.keys() - current.keys()) + changed
        assert summary["opened"] == len(current.keys() - previous.keys()) + changed
        assert summary["entries"] == len(records)
        previous = current


def test_a_rerun_changes_nothing_and_without_history_rows_that_left_are_deleted(
    connection: MailPartnerSandbox, database: Database, tmp_path: Path
) -> None:
    connection.backend.generate(10, seed=6)
    first = fetch(tmp_path, 1)
    mirror(first, keep_history=False)
    before, sqlite_bytes = database.query(ALL_ROWS), database.file_bytes()
    assert mirror(first, keep_history=False)["opened"] == 0
    assert (database.query(ALL_ROWS), database.file_bytes()) == (before, sqlite_bytes)
    for entry in connection.backend.entries()[:3]:
        connection.backend.delete(entry["id"])
    assert mirror(fetch(tmp_path, 2), keep_history=False)["closed"] == 3
    assert database.query(CURRENT) == as_mirror_rows(expected_records(connection))
    assert database.query("SELECT COUNT(*) FROM mailpartner_unsubscribes") == [(7,)]


def test_a_list_file_changed_after_its_manifest_rolls_the_whole_run_back(
    connection: MailPartnerSandbox, database: Database, tmp_path: Path
) -> None:
    connection.backend.generate(10, seed=7)
    mirror(fetch(tmp_path, 1))
    before, sqlite_bytes = database.query(ALL_ROWS), database.file_bytes()
    connection.backend.add("late@example.fr")
    manifest = fetch(tmp_path, 2)
    written = tmp_path / "runs/2/u.jsonl"
    written.write_bytes(written.read_bytes().replace(b"late@", b"lat3@"))
    with pytest.raises(RecordFileError, match="SHA-256"):
        mirror(manifest)
    assert (database.query(ALL_ROWS), database.file_bytes()) == (before, sqlite_bytes)


def test_a_filtered_list_is_refused_before_the_database_is_touched(connection, database, tmp_path):
    connection.backend.seed(
        [
            {"id": 1, "email": "old@example.fr", "createdAt": "2020-01-01 00:00:00"},
            {"id": 2, "email": "new@example.fr", "createdAt": "2024-06-01 00:00:00"},
        ]
    )
    operator = UnsubscribeListOperator(
        task_id="fetch", output_path=f"file://{tmp_path}/u.jsonl", track_changes=False, created_since="2024-01-01"
    )
    manifest = operator.execute({})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="created_since filtered it"):
        mirror(manifest)
    with pytest.raises(ValueError, match="does not say how many entries the whole list had"):
        mirror({key: value for key, value in manifest.items() if key != "fetched"})
    assert database.tables() == []


def test_a_contact_without_a_key_is_left_alone_and_the_others_are_unmarked(connection, database, tmp_path):
    connection.backend.seed(
        [
            {"id": 1, "email": "a@example.fr", "createdAt": "2024-03-01 09:30:00"},
            {"id": 2, "email": "b@example.fr", "createdAt": "2024-03-01 09:30:00"},
        ]
    )
    database.execute("CREATE TABLE contacts (id TEXT, email TEXT, unsubscribed_at TEXT)")
    database.execute(
        "INSERT INTO contacts (id, email) VALUES (?, ?)",
        [("k1", "a@example.fr"), ("k2", "b@example.fr"), (None, "a@example.fr")],
    )
    assert mirror(fetch(tmp_path, 1), contacts_table="contacts")["contacts_marked"] == 2
    connection.backend.delete(2)  # b re-subscribed
    summary = mirror(fetch(tmp_path, 2), contacts_table="contacts")
    assert (summary["contacts_marked"], summary["contacts_unmarked"]) == (0, 1)
    marked = database.query("SELECT id FROM contacts WHERE unsubscribed_at IS NOT NULL")
    assert marked == [("k1",)]


def test_sqlite_waits_for_a_run_that_holds_the_write_lock(connection, tmp_path, monkeypatch):
    import sqlite3
    import threading

    from airflow_provider_mailpartner import sql_mirror

    monkeypatch.setattr(sql_mirror, "SQLITE_WAIT_MS", 20_000)
    with database_for("sqlite", tmp_path, monkeypatch, CONN_ID):
        connection.backend.generate(5, seed=8)
        manifest = fetch(tmp_path, 1)
        holder = sqlite3.connect(tmp_path / "crm.db", isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another run, writing
        threading.Timer(6.0, holder.rollback).start()  # longer than sqlite3's default 5 s
        assert mirror(manifest)["opened"] == 5


def test_a_schema_qualified_table_works_on_sqlite(connection, tmp_path, monkeypatch):
    with database_for("sqlite", tmp_path, monkeypatch, CONN_ID) as database:
        connection.backend.generate(3, seed=9)
        assert mirror(fetch(tmp_path, 1), table="main.mirror_u")["opened"] == 3
        assert database.query("SELECT COUNT(*) FROM mirror_u WHERE valid_to IS NULL") == [(3,)]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"table": "unsubscribes; DROP TABLE contacts"}, "table .* is not a plain SQL name"),
        ({"contacts_table": "contacts", "contacts_mark_column": "x = 1 --"}, "is not a plain SQL name"),
    ],
)
def test_names_that_are_not_plain_sql_names_are_refused_when_the_dag_is_parsed(arguments, message):
    with pytest.raises(ValueError, match=message):
        UnsubscribesToSqlOperator(task_id="load", unsubscribes={}, sql_conn_id=CONN_ID, **arguments)


def test_contacts_are_marked_through_a_connection_that_returns_dict_rows(connection, tmp_path, monkeypatch):
    """PostgresHook's "cursor" extra (dictcursor, namedtuplecursor) changes the shape of the rows read."""
    import json
    import os

    with database_for("postgres", tmp_path, monkeypatch, CONN_ID) as database:
        variable = f"AIRFLOW_CONN_{CONN_ID.upper()}"
        settings = json.loads(os.environ[variable])
        monkeypatch.setenv(variable, json.dumps({**settings, "extra": {**settings["extra"], "cursor": "dictcursor"}}))
        connection.backend.seed([{"id": 1, "email": "a@example.fr", "createdAt": "2024-03-01 09:30:00"}])
        database.create_contacts([(1, "A@example.fr", None), (2, "b@example.fr", None)])
        assert mirror(fetch(tmp_path, 1), contacts_table="contacts")["contacts_marked"] == 1
        assert database.query("SELECT id, unsubscribed_at FROM contacts ORDER BY id") == [
            (1, "2024-03-01T09:30:00+01:00"),
            (2, None),
        ]


def test_odd_entries_without_an_id_or_a_date_get_no_row_but_still_mark_their_contacts(database, tmp_path):
    dated = "2024-03-01T09:30:00+01:00"
    records = [
        {"id": 1, "email": "a@example.fr", "created_at": dated},
        {"id": None, "email": "zero.id@example.fr", "created_at": dated, "odd": "id_not_usable"},
        {"id": 3, "email": "t.date@example.fr", "created_at": None, "odd": "date_not_readable"},
        {"id": 4, "email": "+33612345678", "created_at": dated, "odd": "not_an_email"},
    ]
    manifest = list_file(tmp_path, "u", records)
    database.create_contacts(
        [(1, "A@example.fr", None), (2, "zero.id@example.fr", None), (3, "t.date@example.fr", None)]
    )

    summary = mirror(manifest, contacts_table="contacts")

    assert (summary["entries"], summary["not_mirrored"], summary["invalid"], summary["opened"]) == (4, 2, 1, 2)
    assert [row[0] for row in database.query(CURRENT)] == [1, 4]  # the phone number has a row, key NULL
    marks = dict(database.query("SELECT id, unsubscribed_at FROM contacts"))
    assert marks[1] == marks[2] == dated
    assert marks[3] is not None  # listed without a date: marked all the same, with the run's moment
    again = mirror(manifest, contacts_table="contacts")
    assert (again["opened"], again["closed"], again["contacts_marked"], again["contacts_unmarked"]) == (0, 0, 0, 0)
    assert dict(database.query("SELECT id, unsubscribed_at FROM contacts")) == marks  # the undated mark stays


@pytest.mark.parametrize("keep_history", [True, False])
def test_an_entry_that_turns_odd_keeps_its_row_open_as_the_last_version_known(database, tmp_path, keep_history):
    def day(number: int, records: list[dict]) -> dict:
        return mirror(list_file(tmp_path, str(number), records), keep_history=keep_history)

    dated = "2024-03-01T09:30:00+01:00"
    day(
        1,
        [
            {"id": 1, "email": "a@example.fr", "created_at": dated},
            {"id": 2, "email": "b@example.fr", "created_at": dated},
        ],
    )
    summary = day(
        2,
        [
            {"id": 1, "email": "a@example.fr", "created_at": None, "odd": "date_not_readable"},
            {"id": None, "email": "B@example.fr", "created_at": dated, "odd": "id_not_usable"},
        ],
    )
    assert (summary["closed"], summary["opened"], summary["not_mirrored"]) == (0, 0, 2)
    assert [row[0] for row in database.query(CURRENT)] == [1, 2]  # still listed: nobody re-subscribed
    summary = day(3, [{"id": 1, "email": "a@example.fr", "created_at": dated}])
    assert (summary["closed"], summary["opened"]) == (1, 0)  # b is gone now; a is as it was
    assert [row[0] for row in database.query(CURRENT)] == [1]


def test_the_same_instants_written_with_another_offset_change_nothing(database, tmp_path):
    # The connection's time zone changed (Europe/Paris to UTC): the same moments, other ISO texts.
    paris = [{"id": 1, "email": "a@example.fr", "created_at": "2024-03-01T09:30:00+01:00"}]
    utc = [{"id": 1, "email": "a@example.fr", "created_at": "2024-03-01T08:30:00+00:00"}]
    mirror(list_file(tmp_path, "paris", paris))
    summary = mirror(list_file(tmp_path, "utc", utc))
    assert (summary["opened"], summary["closed"]) == (0, 0)
    later = [{"id": 1, "email": "a@example.fr", "created_at": "2024-03-01T09:30:00+00:00"}]  # another moment
    assert mirror(list_file(tmp_path, "later", later))["opened"] == 1
