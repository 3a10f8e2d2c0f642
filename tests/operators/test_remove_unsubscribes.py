"""RemoveUnsubscribesOperator against the sandbox: entries removed by address; dry run, cap, result file."""

from __future__ import annotations

import csv
import pickle

import pytest

from airflow_provider_mailpartner.exceptions import MailPartnerRemoveError
from airflow_provider_mailpartner.operators.remove_unsubscribes import RemoveUnsubscribesOperator
from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox

LISTED = [
    {"id": 1, "email": "anne@example.fr", "createdAt": "2024-03-01 09:30:00"},
    {"id": 3, "email": "bob@example.fr", "createdAt": "2024-03-01 09:30:00"},
    {"id": 4, "email": "carol@example.fr", "createdAt": "2024-03-01 09:30:00"},
]
EMAILS = [" Anne@example.fr", "bob@example.fr", "nobody@example.fr", "+33612345678"]


def remove(tmp_path, **arguments: object) -> dict:
    operator = RemoveUnsubscribesOperator(
        task_id="remove", emails=EMAILS, result_path=f"file://{tmp_path}/removed.csv", max_workers=1, **arguments
    )
    return operator.execute({})  # type: ignore[arg-type]


def rows(tmp_path) -> list[tuple[str, str, str]]:
    return [
        (r["address"], r["outcome"], r["unsubscribe_id"]) for r in csv.DictReader((tmp_path / "removed.csv").open())
    ]


def test_every_entry_of_each_address_is_removed_and_each_outcome_written(connection: MailPartnerSandbox, tmp_path):
    connection.backend.seed(LISTED)
    result = remove(tmp_path)
    assert result == {
        "removed": 2,
        "not_listed": 1,
        "invalid": 1,
        "failed": 0,
        "result_path": f"file://{tmp_path}/removed.csv",
    }
    assert [entry["id"] for entry in connection.backend.entries()] == [4]  # compared by normalised address
    assert rows(tmp_path) == [
        ("+33612345678", "invalid", ""),
        ("Anne@example.fr", "removed", "1"),
        ("bob@example.fr", "removed", "3"),
        ("nobody@example.fr", "not_listed", ""),
    ]
    assert remove(tmp_path)["not_listed"] == 3  # a rerun finds nothing left to remove


def test_a_dry_run_reads_the_list_and_deletes_nothing(connection: MailPartnerSandbox, tmp_path):
    connection.backend.seed(LISTED)
    result = remove(tmp_path, dry_run=True)
    assert (result["would_remove"], result["removed"], result["not_listed"]) == (2, 0, 1)
    assert [r.command for r in connection.requests] == ["unsubscribe/list"]
    assert len(connection.backend.entries()) == 3
    assert ("Anne@example.fr", "would_remove", "1") in rows(tmp_path)


def test_max_removes_refuses_before_any_delete(connection: MailPartnerSandbox, tmp_path):
    connection.backend.seed(LISTED)
    with pytest.raises(
        MailPartnerRemoveError, match=r"2 address.* more than max_removes=1: nothing was sent"
    ) as caught:
        remove(tmp_path, max_removes=1)
    assert caught.value.counts["would_remove"] == 2
    assert [r.command for r in connection.requests] == ["unsubscribe/list"]
    assert len(connection.backend.entries()) == 3


def test_a_delete_that_fails_fails_the_task_with_counts_and_no_address(connection, tmp_path, capfd):
    connection.backend.seed(LISTED)
    connection.faults.script(*(Fault.http_error(503) for _ in range(3)), command="unsubscribe/delete")
    with pytest.raises(MailPartnerRemoveError) as caught:
        remove(tmp_path)
    error = pickle.loads(pickle.dumps(caught.value))
    assert (error.counts["failed"], error.counts["removed"], error.result_path) == (
        1,
        1,
        f"file://{tmp_path}/removed.csv",
    )
    texts = str(error) + "".join(capfd.readouterr())
    assert "'A***@e***.fr'" in texts
    assert [value for value in EMAILS if value.strip().lower() in texts.lower()] == []
    assert [outcome for _, outcome, _ in rows(tmp_path)] == ["invalid", "failed", "removed", "not_listed"]


def test_an_address_listed_by_an_entry_without_a_usable_id_is_reported_failed_saying_why(connection, tmp_path):
    import json

    connection.backend.seed(LISTED)
    odd = {"id": 0, "email": "anne@example.fr", "createdAt": "2024-03-01 09:30:00"}  # a second, odd entry of anne
    listed = [*LISTED, odd]
    answer = {"success": True, "code": 200, "nbData": len(listed), "data": listed}
    connection.faults.script(Fault.raw(json.dumps(answer)), command="unsubscribe/list")
    with pytest.raises(MailPartnerRemoveError) as caught:
        remove(tmp_path)
    assert (caught.value.counts["failed"], caught.value.counts["removed"]) == (1, 1)
    assert [entry["id"] for entry in connection.backend.entries()] == [4]  # anne's usable entry went all the same
    (anne,) = [r for r in csv.DictReader((tmp_path / "removed.csv").open()) if r["address"] == "Anne@example.fr"]
    assert (anne["outcome"], anne["unsubscribe_id"]) == ("failed", "1 none")
    assert "without a usable id" in anne["error"]


@pytest.mark.parametrize("operator", ["remove", "add"])
def test_strict_refuses_a_list_with_an_odd_entry_and_sends_nothing(connection, tmp_path, operator):
    import json

    from airflow_provider_mailpartner.exceptions import MailPartnerResponseError
    from airflow_provider_mailpartner.operators.unsubscribe import AddUnsubscribesOperator

    connection.backend.seed(LISTED)
    odd = [*LISTED, {"id": 9, "email": "+33612345678", "createdAt": "2024-03-01 09:30:00"}]
    answer = {"success": True, "code": 200, "nbData": len(odd), "data": odd}
    connection.faults.script(Fault.raw(json.dumps(answer)), command="unsubscribe/list")
    add = AddUnsubscribesOperator(task_id="add", emails=["new@example.fr"], strict=True)  # (strict reads the list)
    run = (lambda: remove(tmp_path, strict=True)) if operator == "remove" else (lambda: add.execute({}))
    with pytest.raises(MailPartnerResponseError, match="email has no '@'"):
        run()
    assert [r.command for r in connection.requests] == ["unsubscribe/list"]
    assert len(connection.backend.entries()) == 3


def test_bad_arguments_are_refused_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match="exactly one of emails or input_path"):
        RemoveUnsubscribesOperator(task_id="remove")
    with pytest.raises(ValueError, match="max_removes must be a count"):
        RemoveUnsubscribesOperator(task_id="remove", emails=["a@example.fr"], max_removes=-1)
