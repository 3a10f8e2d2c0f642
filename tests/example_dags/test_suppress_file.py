"""example_mailpartner_suppress_file: exactly the listed contacts go, and a failed day publishes nothing."""

from __future__ import annotations

import csv
import json
import re

import pendulum
import pytest

from airflow_provider_mailpartner.testing import Fault

FILE, DAG_ID = "example_mailpartner_suppress_file.py", "example_mailpartner_suppress_file"
DAY = pendulum.datetime(2025, 6, 1, tz="UTC")
NEXT_DAY = DAY.add(days=1)

LISTED = [
    {"id": 11, "email": "anne.martin@gmail.com", "created_at": "2024-03-31 02:30:00"},
    {"id": 12, "email": "Zoë@Exämple.fr", "created_at": "2024-07-14 12:00:00"},
    {"id": 13, "email": " bob@orange.fr ", "created_at": "2024-10-27 02:30:00"},
    {"id": 14, "email": "nobody.here@free.fr", "created_at": "2025-01-01 00:00:00"},
]

CONTACTS = (
    "contact_id,name,Email,city\r\n"
    "1,Anne,ANNE.MARTIN@GMAIL.COM,Paris\r\n"
    '2,"Dupont, Jean",jean.dupont@laposte.net,"Lyon\r\n(2e)"\r\n'
    "3,Zoë,zoë@xn--exmple-cua.fr,Lille\r\n"
    "4,Bob,\tbob@Orange.FR ,Nantes\r\n"
    "5,Carla,carla@example.com,Paris\r\n"
    "6,Typo,carla.example.com,Paris\r\n"
    "7,Zoé,ZOË@EXÄMPLE.FR,Lille\r\n"
)
CLEAN = (
    "contact_id,name,Email,city\r\n"
    '2,"Dupont, Jean",jean.dupont@laposte.net,"Lyon\r\n(2e)"\r\n'
    "5,Carla,carla@example.com,Paris\r\n"
)
REPORT = [
    {"row": "1", "email": "ANNE.MARTIN@GMAIL.COM", "reason": "unsubscribed", "unsubscribe_id": "11"},
    {"row": "3", "email": "zoë@xn--exmple-cua.fr", "reason": "unsubscribed", "unsubscribe_id": "12"},
    {"row": "4", "email": "\tbob@Orange.FR ", "reason": "unsubscribed", "unsubscribe_id": "13"},
    {"row": "6", "email": "carla.example.com", "reason": "invalid_email", "unsubscribe_id": ""},
    {"row": "7", "email": "ZOË@EXÄMPLE.FR", "reason": "unsubscribed", "unsubscribe_id": "12"},
]


@pytest.fixture
def contacts(example_root, mailpartner):
    mailpartner.backend.seed(LISTED)
    (example_root / "contacts.csv").write_bytes(CONTACTS.encode())
    return example_root


STATE = f"runs/.mailpartner-state/{DAG_ID}.fetch_unsubscribes.mailpartner_default"


def files_under(root):
    """Every file under ``root``; change-tracking snapshots, named at random, as ``snapshot-*.jsonl``."""
    names = (str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    return sorted(re.sub(r"snapshot-[^/]*\.jsonl$", "snapshot-*.jsonl", name) for name in names)


def test_exactly_the_listed_contacts_are_removed_and_the_clean_list_is_published(run_example, contacts):
    result = run_example(FILE, DAG_ID, logical_date=DAY)

    assert result.state == "success"
    day = contacts / "runs" / DAG_ID / result.run_id
    assert (day / "contacts.clean.csv").read_bytes() == CLEAN.encode()
    assert (contacts / "published" / "contacts.clean.csv").read_bytes() == CLEAN.encode()
    with (day / "contacts.suppressed.csv").open(newline="") as handle:
        assert list(csv.DictReader(handle)) == REPORT
    fetched = [json.loads(line) for line in (day / "unsubscribes.jsonl").read_text().splitlines()]
    assert [(entry["id"], entry["email"]) for entry in fetched] == [
        (11, "anne.martin@gmail.com"),
        (12, "Zoë@Exämple.fr"),
        (13, "bob@orange.fr"),
        (14, "nobody.here@free.fr"),
    ]
    summary = result.xcoms["suppress_contacts"]
    assert {key: summary[key] for key in ("rows_in", "rows_out", "suppressed", "invalid")} == {
        "rows_in": 7,
        "rows_out": 2,
        "suppressed": 4,
        "invalid": 1,
    }
    assert result.xcoms["publish_clean_list"]["rows"] == 2
    assert files_under(contacts) == [
        "contacts.csv",
        "published/contacts.clean.csv",
        f"{STATE}/snapshot-*.jsonl",
        f"{STATE}/state.json",
        f"runs/{DAG_ID}/{result.run_id}/contacts.clean.csv",
        f"runs/{DAG_ID}/{result.run_id}/contacts.suppressed.csv",
        f"runs/{DAG_ID}/{result.run_id}/unsubscribes.changes.jsonl",
        f"runs/{DAG_ID}/{result.run_id}/unsubscribes.jsonl",
    ]


def test_a_rerun_after_a_new_unsubscribe_replaces_the_published_list(run_example, contacts, mailpartner):
    run_example(FILE, DAG_ID, logical_date=DAY)
    mailpartner.backend.add("CARLA@example.com")

    result = run_example(FILE, DAG_ID, logical_date=DAY.add(hours=1))  # the same day, run again

    assert result.state == "success"
    expected = "contact_id,name,Email,city\r\n" + '2,"Dupont, Jean",jean.dupont@laposte.net,"Lyon\r\n(2e)"\r\n'
    assert (contacts / "published" / "contacts.clean.csv").read_bytes() == expected.encode()


def test_when_the_list_cannot_be_fetched_the_published_list_stays_and_nothing_new_appears(
    run_example, contacts, mailpartner
):
    assert run_example(FILE, DAG_ID, logical_date=DAY).state == "success"
    before = files_under(contacts)
    mailpartner.faults.set_rate(1.0, kinds=["http_error"], command="unsubscribe/list")

    result = run_example(FILE, DAG_ID, logical_date=NEXT_DAY)

    assert result.state == "failed"
    assert result.task_states == {
        "fetch_unsubscribes": "failed",
        "suppress_contacts": "upstream_failed",
        "publish_clean_list": "upstream_failed",
    }
    assert (contacts / "published" / "contacts.clean.csv").read_bytes() == CLEAN.encode()
    assert files_under(contacts) == before  # nothing in the failed run's folder, no staging file anywhere


def test_when_the_suppression_fails_the_published_list_stays_and_nothing_new_appears(
    run_example, contacts, mailpartner
):
    assert run_example(FILE, DAG_ID, logical_date=DAY).state == "success"
    before = files_under(contacts)
    (contacts / "contacts.csv").write_text("contact_id,name,phone\r\n1,Anne,0612345678\r\n")

    result = run_example(FILE, DAG_ID, logical_date=NEXT_DAY)

    assert result.state == "failed"
    assert result.task_states["suppress_contacts"] == "failed"
    assert result.task_states["publish_clean_list"] == "upstream_failed"
    assert (contacts / "published" / "contacts.clean.csv").read_bytes() == CLEAN.encode()
    fetched = [
        f"runs/{DAG_ID}/{result.run_id}/unsubscribes.jsonl",
        f"runs/{DAG_ID}/{result.run_id}/unsubscribes.changes.jsonl",
    ]
    snapshot = f"{STATE}/snapshot-*.jsonl"  # the new day's, beside the previous one
    assert files_under(contacts) == sorted([*before, *fetched, snapshot])  # no clean file, no report


def test_a_list_answer_that_cannot_be_trusted_stops_the_run_before_the_contacts(run_example, contacts, mailpartner):
    """A list whose nbData promises more entries than it holds is refused: nothing says the contacts are clean."""
    short = {"success": True, "code": 200, "nbData": 5, "data": mailpartner.backend.entries()}
    mailpartner.faults.script(Fault.raw(json.dumps(short)), command="unsubscribe/list")

    result = run_example(FILE, DAG_ID, logical_date=DAY)

    assert result.state == "failed"
    assert result.task_states["fetch_unsubscribes"] == "failed"
    assert files_under(contacts) == ["contacts.csv"]
