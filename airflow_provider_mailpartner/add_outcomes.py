"""What happened to each opt-out the add operator pushed: one row per address, for the file the user asked for.

The task log and the error carry counts and masked forms only; this file holds the addresses, each
with its outcome (``added`` with the new id, ``already_listed``, ``invalid`` — not an address, or
refused by MailPartner with code 9 —, ``failed`` with the API code and the scrubbed error, or
``not_sent`` when an earlier credential error stopped the task).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from airflow_provider_mailpartner.client.commands import ApiCode
from airflow_provider_mailpartner.exceptions import MailPartnerError
from airflow_provider_mailpartner.record_files import Manifest, RecordWriter
from airflow_provider_mailpartner.storage import open_without_lineage, staged

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

OUTCOME_FIELDS = ("address", "outcome", "code", "unsubscribe_id", "error")

WOULD_ADD = "would_add"
"""The outcome of an address a dry run would have sent."""

Outcome = int | Exception | str | None  # the new id, the error, WOULD_ADD, or None when already listed


class OutcomeRow(TypedDict):
    address: str
    outcome: str
    code: int | str
    unsubscribe_id: int | str
    error: str


def outcome_rows(invalid: list[str], outcomes: dict[str, Outcome], not_sent: Exception) -> list[OutcomeRow]:
    """A row per invalid input value, then one per address sent (or not sent), in the input's order."""
    rows = [outcome_row(value, "invalid", error="not an e-mail address") for value in invalid]
    for address, outcome in outcomes.items():
        if outcome is None:
            rows.append(outcome_row(address, "already_listed"))
        elif outcome == WOULD_ADD:
            rows.append(outcome_row(address, WOULD_ADD))
        elif isinstance(outcome, int):
            rows.append(outcome_row(address, "added", unsubscribe_id=outcome))
        elif outcome is not_sent:
            rows.append(outcome_row(address, "not_sent", error=str(outcome)))
        elif isinstance(outcome, MailPartnerError) and outcome.code == ApiCode.INVALID_EMAIL:
            rows.append(outcome_row(address, "invalid", code=outcome.code, error=str(outcome)))
        else:
            code = outcome.code if isinstance(outcome, MailPartnerError) and outcome.code is not None else ""
            rows.append(outcome_row(address, "failed", code=code, error=str(outcome)))
    return rows


def outcome_row(
    address: str, outcome: str, *, code: int | str = "", unsubscribe_id: int | str = "", error: str = ""
) -> OutcomeRow:
    return {"address": address, "outcome": outcome, "code": code, "unsubscribe_id": unsubscribe_id, "error": error}


def write_outcomes(rows: list[OutcomeRow], path: ObjectStoragePath) -> Manifest:
    """The rows as CSV (header ``address,outcome,code,unsubscribe_id,error``), published whole."""
    with staged(path) as staging, open_without_lineage(staging) as handle:
        writer = RecordWriter(handle, "csv", OUTCOME_FIELDS)
        writer.write(rows)
        sha256 = writer.close()
    return {"path": str(path), "format": "csv", "count": writer.count, "sha256": sha256}
