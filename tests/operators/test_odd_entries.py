"""Odd entries among many good ones: kept and flagged (or skipped), counted, warned about, still suppressed.

The list holds 100,000 good entries and, spread across the reader's windows, a phone number where the
address goes, an id of 0, a date in ISO form with ``T`` and an empty address. By default the job
goes on with every entry that has an address; ``strict=True`` refuses the answer as before.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from airflow_provider_mailpartner.exceptions import MailPartnerResponseError
from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator
from airflow_provider_mailpartner.suppression import SuppressionSet, suppress_csv
from airflow_provider_mailpartner.testing import Fault
from tests.hooks.test_mailpartner import envelope, xml_list

GOOD = 100_000
DATE = "2024-05-06 07:08:09"
PHONE = {"id": 200_001, "email": "+33612345678", "createdAt": DATE}
ID_ZERO = {"id": 0, "email": "zero.id@example.fr", "createdAt": DATE}
T_DATE = {"id": 200_002, "email": "t.date@example.fr", "createdAt": "2024-05-06T07:08:09"}
NO_ADDRESS = {"id": 200_003, "email": "", "createdAt": DATE}
ODD = {10: PHONE, 40_000: ID_ZERO, 70_000: T_DATE, 99_000: NO_ADDRESS}
REASONS = {"not_an_email": 1, "id_not_usable": 1, "date_not_readable": 1, "no_address": 1}


def odd_list() -> list[dict]:
    entries = [{"id": n, "email": f"user{n}@example.fr", "createdAt": DATE} for n in range(1, GOOD + 1)]
    for position, entry in sorted(ODD.items(), reverse=True):
        entries.insert(position, entry)
    return entries


def payload(response_format: str) -> str:
    entries = odd_list()
    if response_format == "json":
        return envelope(entries)
    return xml_list(str(len(entries)), *([str(e["id"]), e["email"], e["createdAt"]] for e in entries))


def serve(connection, response_format: str) -> None:
    connection.faults.script(Fault.raw(payload(response_format), content_type=f"application/{response_format}"))


def fetch(tmp_path: Path, response_format: str, **arguments: object) -> dict:
    operator = UnsubscribeListOperator(
        task_id="fetch",
        output_path=f"file://{tmp_path}/out/unsubscribes.jsonl",
        state_path=f"file://{tmp_path}/state",
        response_format=response_format,
        **arguments,
    )
    return operator.execute({"params": {}, "run_id": "manual__1"})  # type: ignore[arg-type]


@pytest.mark.parametrize("response_format", ["json", "xml"])
def test_odd_entries_are_kept_flagged_counted_and_warned_about_by_reason(connection, tmp_path, caplog, response_format):
    serve(connection, response_format)
    with caplog.at_level(logging.DEBUG):
        manifest = fetch(tmp_path, response_format)

    assert manifest["count"] == manifest["fetched"] == GOOD + 3  # every entry that has an address
    assert manifest["odd_entries"] == REASONS
    records = [json.loads(line) for line in (tmp_path / "out" / "unsubscribes.jsonl").read_text().splitlines()]
    assert len(records) == GOOD + 3
    flagged = {record["email"]: record for record in records if "odd" in record}
    assert flagged == {
        "+33612345678": {
            "id": 200_001,
            "email": "+33612345678",
            "created_at": "2024-05-06T07:08:09+02:00",
            "odd": "not_an_email",
        },
        "zero.id@example.fr": {
            "id": None,
            "email": "zero.id@example.fr",
            "created_at": "2024-05-06T07:08:09+02:00",
            "odd": "id_not_usable",
        },
        "t.date@example.fr": {
            "id": 200_002,
            "email": "t.date@example.fr",
            "created_at": None,
            "odd": "date_not_readable",
        },
    }
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    for reason in REASONS:
        assert sum(reason in message for message in warnings) == 1, (reason, warnings)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for entry in (PHONE, ID_ZERO, T_DATE):
        assert entry["email"] not in logged  # counts and reasons only: addresses are personal data


def test_the_suppression_still_removes_every_listed_contact(connection, tmp_path):
    serve(connection, "json")
    manifest = fetch(tmp_path, "json")
    suppression = SuppressionSet.from_manifest(manifest)
    assert len(suppression) == GOOD + 2  # the phone number can match no contact
    listed = [f"user{n}@example.fr" for n in range(1, GOOD + 1, 97)] + ["Zero.Id@example.fr", "t.date@EXAMPLE.fr"]
    kept = [f"someone{n}@example.fr" for n in range(500)]
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email,name\n" + "".join(f"{address},x\n" for address in listed + kept))
    summary = suppress_csv(
        f"file://{contacts}", suppression, f"file://{tmp_path}/clean.csv", f"file://{tmp_path}/report.csv"
    )
    assert summary.suppressed == len(listed)
    clean = (tmp_path / "clean.csv").read_text()
    assert [line.split(",")[0] for line in clean.splitlines()[1:]] == kept


def test_records_to_xcom_are_flagged_too(connection):
    serve(connection, "json")
    records = UnsubscribeListOperator(task_id="fetch", max_xcom_records=GOOD + 10).execute({"params": {}})
    assert len(records) == GOOD + 3
    assert sorted(record["odd"] for record in records if "odd" in record) == [
        "date_not_readable",
        "id_not_usable",
        "not_an_email",
    ]


@pytest.mark.parametrize("response_format", ["json", "xml"])
def test_strict_refuses_the_answer_and_publishes_nothing(connection, tmp_path, response_format):
    serve(connection, response_format)
    with pytest.raises(MailPartnerResponseError, match="entry 11: email has no '@'"):
        fetch(tmp_path, response_format, strict=True)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
