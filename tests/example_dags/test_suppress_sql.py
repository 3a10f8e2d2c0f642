"""example_mailpartner_suppress_sql end to end: the sandbox, dag.test(), and a real SQLite or PostgreSQL database.

Every test runs on SQLite, and on PostgreSQL when ``MAILPARTNER_TEST_POSTGRES_URI`` names a server
(``.ci/run`` starts one); each test gets a fresh database file or schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox
from tests.example_dags.conftest import RunExample
from tests.sql_databases import DATABASE_KINDS, Database, Row, database_for

DAG_FILE = "example_mailpartner_suppress_sql.py"
DAG_ID = "example_mailpartner_suppress_sql"

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
    (4, "carol@example.org", CAROL_MARKED),  # marked with another date: moved to the listing's
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
    (4, "carol@example.org", "2024-09-01T08:00:00+02:00"),
    (5, "erin@example.fr", None),
    (6, "paul@localhost", None),
    (7, None, None),
]
EXPECTED_SUMMARY = {
    "table": "mailpartner_unsubscribes",
    "entries": 7,
    "opened": 7,
    "closed": 0,
    "invalid": 1,
    "not_mirrored": 0,
    "contacts_marked": 4,
    "contacts_unmarked": 0,
}
STALE_ROW = (1, "alice@old.example", "alice@old.example", "2019-05-05T10:00:00+02:00", "2019-05-05T10:00:00+02:00")
CREATE_UNSUBSCRIBES = (  # as the operator creates it, to give a test a table from an earlier run
    "CREATE TABLE mailpartner_unsubscribes (id BIGINT NOT NULL, email TEXT NOT NULL, email_key TEXT, "
    "created_at TIMESTAMP WITH TIME ZONE NOT NULL, valid_from TIMESTAMP WITH TIME ZONE NOT NULL, "
    "valid_to TIMESTAMP WITH TIME ZONE, PRIMARY KEY (id, valid_from))"
)
INSERT_STALE = (
    "INSERT INTO mailpartner_unsubscribes (id, email, email_key, created_at, valid_from) VALUES (?, ?, ?, ?, ?)"
)


CURRENT = "SELECT id, email, email_key, created_at FROM mailpartner_unsubscribes WHERE valid_to IS NULL ORDER BY id"


@pytest.fixture(params=DATABASE_KINDS)
def database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """An empty database behind ``mailpartner_example_db``: a new SQLite file, or a new PostgreSQL schema."""
    with database_for(request.param, tmp_path, monkeypatch, "mailpartner_example_db") as db:
        yield db


def dump(database: Database) -> dict[str, list[Row]]:
    """The current list in the mirror, and the contacts."""
    tables = database.tables()
    found = {}
    if "mailpartner_unsubscribes" in tables:
        found["mailpartner_unsubscribes"] = database.query(CURRENT)
    if "contacts" in tables:
        found["contacts"] = database.query("SELECT id, email, unsubscribed_at FROM contacts ORDER BY id")
    return found


@pytest.fixture
def listed(mailpartner: MailPartnerSandbox) -> MailPartnerSandbox:
    """The sandbox holding UNSUBSCRIBES."""
    mailpartner.backend.seed(UNSUBSCRIBES)
    return mailpartner


def test_upserts_the_list_and_marks_matching_contacts(
    run_example: RunExample, listed: MailPartnerSandbox, database: Database
) -> None:
    database.create_contacts(CONTACTS)

    result = run_example(DAG_FILE, DAG_ID)

    assert result.state == "success", result.task_states
    assert result.xcoms["load_unsubscribes"] == EXPECTED_SUMMARY
    assert dump(database) == {"mailpartner_unsubscribes": EXPECTED_UNSUBSCRIBES, "contacts": EXPECTED_CONTACTS}


def test_a_rerun_changes_nothing(run_example: RunExample, listed: MailPartnerSandbox, database: Database) -> None:
    database.create_contacts(CONTACTS)
    assert run_example(DAG_FILE, DAG_ID).state == "success"
    after_first = dump(database)
    sqlite_bytes = database.file_bytes()

    result = run_example(DAG_FILE, DAG_ID)

    assert result.state == "success", result.task_states
    assert result.xcoms["load_unsubscribes"] == {**EXPECTED_SUMMARY, "opened": 0, "contacts_marked": 0}
    assert dump(database) == after_first
    assert database.file_bytes() == sqlite_bytes  # nothing rewritten, not even with the same values


def test_a_failed_fetch_leaves_both_tables_unchanged(
    run_example: RunExample, listed: MailPartnerSandbox, database: Database
) -> None:
    database.create_contacts(CONTACTS)
    database.execute(CREATE_UNSUBSCRIBES)
    database.execute(INSERT_STALE, [STALE_ROW])
    before, sqlite_bytes = dump(database), database.file_bytes()
    listed.faults.set_rate(1.0, kinds=[Fault.http_error(503)], command="unsubscribe/list")

    result = run_example(DAG_FILE, DAG_ID)

    assert result.state == "failed"
    assert result.task_states == {"fetch_unsubscribes": "failed", "load_unsubscribes": "upstream_failed"}
    list_requests = [r for r in listed.requests if r.command == "unsubscribe/list"]
    assert len(list_requests) > 1, "the hook gave up without retrying"
    assert {(r.http_status, r.fault) for r in list_requests} == {(503, "http_error")}
    assert dump(database) == before
    assert database.file_bytes() == sqlite_bytes


@pytest.mark.parametrize("earlier_run", [False, True], ids=["first-run", "after-an-earlier-run"])
def test_an_error_in_the_load_rolls_everything_back(
    run_example: RunExample, listed: MailPartnerSandbox, database: Database, earlier_run: bool
) -> None:
    # No contacts table: the load fails after its upsert, which must not survive, nor the table it created.
    if earlier_run:
        database.execute(CREATE_UNSUBSCRIBES)
        database.execute(INSERT_STALE, [STALE_ROW])
    tables, before, sqlite_bytes = database.tables(), dump(database), database.file_bytes()

    result = run_example(DAG_FILE, DAG_ID)

    assert result.state == "failed"
    assert result.task_states == {"fetch_unsubscribes": "success", "load_unsubscribes": "failed"}
    assert database.tables() == tables == (["mailpartner_unsubscribes"] if earlier_run else [])
    assert dump(database) == before
    assert database.file_bytes() == sqlite_bytes
