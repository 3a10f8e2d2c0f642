"""UnsubscribeListOperator's change tracking: changes beside the file, state between runs, guards.

The operator runs in-process (``execute``) against the sandbox, as a task runs it; each run writes
to a folder of its own, as the example DAGs' templated paths do, and shares ``state_path``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import random
from collections import Counter
from pathlib import Path

import pytest

from airflow_provider_mailpartner.exceptions import MailPartnerGuardError, MailPartnerTransportError
from airflow_provider_mailpartner.list_state import ListStateError, snapshot_rows
from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator
from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox
from tests.operators.test_unsubscribe import expected_records


def fetch(tmp_path: Path, run: str, params: dict | None = None, **arguments: object) -> dict:
    operator = UnsubscribeListOperator(
        task_id="fetch",
        output_path=f"file://{tmp_path}/runs/{run}/unsubscribes.jsonl",
        state_path=f"file://{tmp_path}/state",
        **arguments,
    )
    return operator.execute({"params": params or {}, "run_id": run})  # type: ignore[arg-type]


def state_folder(tmp_path: Path) -> Path:
    return tmp_path / "state" / "adhoc_airflow.fetch.mailpartner_default"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def state_rows(tmp_path: Path) -> list[dict]:
    """The entries of the snapshot the state names, read and checked as the next run will."""
    from airflow.sdk import ObjectStoragePath

    state = json.loads((state_folder(tmp_path) / "state.json").read_text())
    rows = snapshot_rows(state["snapshot"], ObjectStoragePath(f"file://{state_folder(tmp_path)}/state.json"))
    return [{"id": r.id, "email": r.email, "created_at": r.created_at} for r in rows]


def by_id(records: list[dict]) -> dict[int, dict]:
    return {record["id"]: record for record in records}


def difference(previous: list[dict], current: list[dict]) -> list[dict]:
    """The set difference by id, computed the plain way, in the order the changes file gives it."""
    before, after = by_id(previous), by_id(current)
    found = [{**after[i], "change": "added"} for i in after.keys() - before.keys()]
    found += [{**before[i], "change": "removed"} for i in before.keys() - after.keys()]
    found += [{**after[i], "change": "changed"} for i in after.keys() & before.keys() if after[i] != before[i]]
    return sorted(found, key=lambda change: change["id"])


def test_a_first_run_reports_every_entry_as_added_and_says_so(connection, tmp_path, caplog):
    connection.backend.generate(50, seed=1)
    with caplog.at_level(logging.INFO):
        manifest = fetch(tmp_path, "day1")
    written = tmp_path / "runs/day1/unsubscribes.jsonl"
    assert manifest["first_snapshot"] is True
    assert (manifest["count"], manifest["fetched"], manifest["added"], manifest["removed"]) == (50, 50, 50, 0)
    assert (manifest["previous_count"], manifest["previous_sha256"]) == (0, None)
    assert manifest["changes_path"] == f"file://{tmp_path}/runs/day1/unsubscribes.changes.jsonl"
    changes = read_jsonl(tmp_path / "runs/day1/unsubscribes.changes.jsonl")
    assert changes == [{**record, "change": "added"} for record in expected_records(connection)]
    assert state_rows(tmp_path) == read_jsonl(written) == expected_records(connection)
    assert manifest["snapshot_sha256"] == manifest["sha256"]  # an unfiltered JSONL list is the snapshot's bytes
    assert "First snapshot of this list: its 50 entries are all reported as added" in caplog.text


def test_the_next_run_writes_what_joined_and_left_the_list(connection, tmp_path):
    connection.backend.generate(100, seed=2)
    first = fetch(tmp_path, "day1")
    before = expected_records(connection)
    for entry in connection.backend.entries()[10:13]:
        connection.backend.delete(entry["id"])
    for number in range(4):
        connection.backend.add(f"new{number}@example.fr")
    second = fetch(tmp_path, "day2")
    after = expected_records(connection)
    changes = read_jsonl(tmp_path / "runs/day2/unsubscribes.changes.jsonl")
    assert changes == difference(before, after)
    assert [change["change"] for change in changes].count("removed") == 3
    assert (second["added"], second["removed"], second["changed"], second["previous_count"]) == (4, 3, 0, 100)
    assert second["previous_sha256"] == first["snapshot_sha256"]  # each run's manifest links to the one before
    assert second["first_snapshot"] is False
    assert state_rows(tmp_path) == after


def test_an_entry_whose_address_changed_is_reported_as_changed(connection, tmp_path):
    connection.backend.seed([{"id": 7, "email": "old@example.fr", "createdAt": "2024-03-01 09:30:00"}])
    fetch(tmp_path, "day1")
    connection.backend.reset()
    connection.backend.seed([{"id": 7, "email": "new@example.fr", "createdAt": "2024-03-01 09:30:00"}])
    manifest = fetch(tmp_path, "day2")
    assert (manifest["added"], manifest["removed"], manifest["changed"]) == (0, 0, 1)
    assert read_jsonl(tmp_path / "runs/day2/unsubscribes.changes.jsonl") == [
        {"id": 7, "email": "new@example.fr", "created_at": "2024-03-01T09:30:00+01:00", "change": "changed"}
    ]


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_list_that_lost_more_than_the_ratio_publishes_nothing_and_keeps_the_state(connection, tmp_path):
    connection.backend.generate(100, seed=3)
    fetch(tmp_path, "day1")
    before = files_under(tmp_path)
    for entry in connection.backend.entries()[:6]:
        connection.backend.delete(entry["id"])
    with pytest.raises(MailPartnerGuardError, match="6 of the previous snapshot's 100") as caught:
        fetch(tmp_path, "day2")
    assert (caught.value.removed, caught.value.previous_count, caught.value.count) == (6, 100, 94)
    assert files_under(tmp_path) == before  # no list, no changes, no snapshot, no staging file, same state
    assert fetch(tmp_path, "day2", max_removed_ratio=0.06)["removed"] == 6


def test_a_dag_param_raises_the_ratio_for_one_run_and_says_so(connection, tmp_path, capfd):
    connection.backend.generate(10, seed=4)
    fetch(tmp_path, "day1")
    for entry in connection.backend.entries()[:4]:
        connection.backend.delete(entry["id"])
    with pytest.raises(MailPartnerGuardError):
        fetch(tmp_path, "day2", params={"mailpartner_max_removed_ratio": None})  # a declared param left empty
    manifest = fetch(tmp_path, "day2", params={"mailpartner_max_removed_ratio": "0.4"})
    assert manifest["removed"] == 4
    assert "Guards for this run set by DAG params: max_removed_ratio=0.4" in capfd.readouterr().out


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mailpartner_max_removed_ratio": 2}, "between 0 and 1"),
        ({"mailpartner_max_removed_ratio": "lots"}, "between 0 and 1"),
        ({"mailpartner_allow_empty": "maybe"}, "true or false"),
    ],
)
def test_a_dag_param_that_cannot_be_read_fails_before_anything_is_fetched(connection, tmp_path, params, message):
    with pytest.raises(ValueError, match=message):
        fetch(tmp_path, "day1", params=params)
    assert connection.backend.request_count == 0
    assert not (tmp_path / "runs").exists()


def test_an_empty_list_after_a_full_one_needs_allow_empty(connection, tmp_path):
    connection.backend.generate(3, seed=5)
    fetch(tmp_path, "day1")
    connection.backend.reset()
    with pytest.raises(MailPartnerGuardError, match="is empty"):
        fetch(tmp_path, "day2", max_removed_ratio=1)
    manifest = fetch(tmp_path, "day2", params={"mailpartner_allow_empty": "true"})
    assert (manifest["count"], manifest["removed"]) == (0, 3)
    assert state_rows(tmp_path) == []


def test_without_tracking_the_file_is_all_there_is(connection, tmp_path):
    connection.backend.generate(5, seed=6)
    manifest = fetch(tmp_path, "day1", track_changes=False)
    assert set(manifest) == {"path", "format", "count", "sha256", "fetched", "odd_entries"}
    assert sorted(files_under(tmp_path)) == ["runs/day1/unsubscribes.jsonl"]


def test_created_since_filters_the_file_but_changes_are_of_the_whole_list(connection, tmp_path):
    connection.backend.seed(
        [
            {"id": 1, "email": "old@example.fr", "createdAt": "2020-01-01 00:00:00"},
            {"id": 2, "email": "new@example.fr", "createdAt": "2024-06-01 00:00:00"},
        ]
    )
    manifest = fetch(tmp_path, "day1", created_since="2024-01-01")
    assert (manifest["count"], manifest["fetched"], manifest["added"]) == (1, 2, 2)
    assert [r["id"] for r in read_jsonl(tmp_path / "runs/day1/unsubscribes.jsonl")] == [2]
    assert [r["id"] for r in state_rows(tmp_path)] == [1, 2]


def test_a_changed_snapshot_is_refused_with_the_way_to_start_afresh(connection, tmp_path):
    connection.backend.generate(5, seed=7)
    fetch(tmp_path, "day1")
    (snapshot,) = state_folder(tmp_path).glob("snapshot-*.jsonl")
    snapshot.write_bytes(snapshot.read_bytes().replace(b"@", b"#", 1))
    with pytest.raises(ListStateError, match=r"bytes changed.*remove .*state\.json"):
        fetch(tmp_path, "day2")
    assert not (tmp_path / "runs/day2").exists() or not any((tmp_path / "runs/day2").iterdir())
    (state_folder(tmp_path) / "state.json").unlink()
    assert fetch(tmp_path, "day2")["first_snapshot"] is True


def test_csv_changes_have_a_change_column(connection, tmp_path):
    connection.backend.seed([{"id": 1, "email": "a@example.fr", "createdAt": "2024-03-01 09:30:00"}])
    operator = UnsubscribeListOperator(
        task_id="fetch", output_path=f"file://{tmp_path}/u.csv", output_format="csv", state_path=f"file://{tmp_path}/s"
    )
    operator.execute({"params": {}, "run_id": "r"})  # type: ignore[arg-type]
    assert (tmp_path / "u.changes.csv").read_text() == (
        "id,email,created_at,odd,change\n1,a@example.fr,2024-03-01T09:30:00+01:00,,added\n"
    )


def _run_in_child(tmp_path: str, run: str, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        fetch(Path(tmp_path), run, max_removed_ratio=1)
        results.put("ok")
    except Exception as error:  # reported to the parent, which fails the test with it
        results.put(repr(error))


def test_runs_at_the_same_moment_leave_a_state_that_names_a_complete_snapshot(connection, tmp_path):
    connection.backend.generate(2000, seed=8)
    context = multiprocessing.get_context("fork")
    for round_number in range(3):
        results = context.Queue()
        children = [
            context.Process(target=_run_in_child, args=(str(tmp_path), f"r{round_number}-{n}", results))
            for n in range(3)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(timeout=120)
        assert sorted(results.get(timeout=5) for _ in children) == ["ok"] * 3
        assert state_rows(tmp_path) == expected_records(connection)
        connection.backend.delete(connection.backend.entries()[0]["id"])
    assert not [p for p in state_folder(tmp_path).iterdir() if ".partial-" in p.name]


def test_over_a_generated_history_with_faults_changes_are_the_difference_and_the_state_stays_whole(
    connection: MailPartnerSandbox, tmp_path: Path
) -> None:
    rng = random.Random(20261203)
    connection.backend.generate(300, seed=9)
    published: list[dict] | None = None  # what the state names, as the test saw it published
    outcomes: Counter[str] = Counter()
    for day in range(16):
        entries = connection.backend.entries()
        for entry in rng.sample(entries, k=min(len(entries), rng.choice([0, 1, 5, 40]))):
            connection.backend.delete(entry["id"])
        for number in range(rng.randint(0, 30)):
            connection.backend.add(f"day{day}-{number}@example.fr")
        fault = rng.choice([None, None, Fault.reset(after_bytes=200), Fault.truncated(0.5)])
        if fault is not None:
            connection.faults.script(fault, fault, fault, command="unsubscribe/list")  # outlives the retries
        current = expected_records(connection)
        before = files_under(tmp_path)
        try:
            manifest = fetch(tmp_path, f"day{day}", max_removed_ratio=0.1)
        except (MailPartnerGuardError, MailPartnerTransportError) as error:
            assert files_under(tmp_path) == before  # a refused or failed run publishes nothing
            outcomes[type(error).__name__] += 1
            connection.faults.clear()
            continue
        assert fault is None
        outcomes["published"] += 1
        changes = read_jsonl(tmp_path / f"runs/day{day}/unsubscribes.changes.jsonl")
        assert changes == difference(published or [], current)
        assert manifest["removed"] <= 0.1 * len(published or [])
        assert state_rows(tmp_path) == current
        published = current
    assert set(outcomes) == {"published", "MailPartnerGuardError", "MailPartnerTransportError"}, outcomes


@pytest.mark.parametrize("step", ["_write_list", "_write_changes", "staged", "write_state", "remove_old_snapshots"])
def test_a_failure_at_any_step_leaves_a_state_naming_a_complete_snapshot_and_the_next_run_catches_up(
    connection: MailPartnerSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    from airflow_provider_mailpartner import list_snapshots

    connection.backend.generate(30, seed=11)
    fetch(tmp_path, "day1")
    first = expected_records(connection)
    connection.backend.delete(connection.backend.entries()[0]["id"])
    connection.backend.add("joined@example.fr")
    real = getattr(list_snapshots, step)
    calls = 0

    def failing(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if step == "staged" and calls < 3:  # the list's and the changes' staging: fail on the snapshot's
            return real(*args, **kwargs)
        raise OSError(f"disk full in {step}")

    monkeypatch.setattr(list_snapshots, step, failing)
    if step == "remove_old_snapshots":  # after the state: the run stands, the clean-up waits
        assert fetch(tmp_path, "day2")["removed"] == 1
        assert state_rows(tmp_path) == expected_records(connection)
        return
    with pytest.raises(OSError, match="disk full"):
        fetch(tmp_path, "day2")
    assert state_rows(tmp_path) == first  # still the last good snapshot, whole
    monkeypatch.setattr(list_snapshots, step, real)
    manifest = fetch(tmp_path, "day3")
    changes = read_jsonl(tmp_path / "runs/day3/unsubscribes.changes.jsonl")
    assert changes == difference(first, expected_records(connection))
    assert (manifest["added"], manifest["removed"]) == (1, 1)
    assert not [p for p in tmp_path.rglob("*") if ".partial-" in p.name]


def test_a_run_run_again_reports_the_same_changes_not_none(connection: MailPartnerSandbox, tmp_path: Path) -> None:
    """A retry, or a run cleared and run again, compares with what the run compared with the first time."""
    connection.backend.generate(20, seed=12)
    fetch(tmp_path, "day1")
    connection.backend.delete(connection.backend.entries()[0]["id"])
    first = fetch(tmp_path, "day2")
    changes = (tmp_path / "runs/day2/unsubscribes.changes.jsonl").read_bytes()
    again = fetch(tmp_path, "day2")
    assert (tmp_path / "runs/day2/unsubscribes.changes.jsonl").read_bytes() == changes
    assert (again["removed"], again["previous_sha256"]) == (1, first["previous_sha256"])
    assert fetch(tmp_path, "day3")["removed"] == 0  # the next run compares with day 2's list


def test_entries_that_arrive_with_an_id_of_0_are_changes_not_removals_and_trip_no_guard(connection, tmp_path):
    import json as json_module

    from airflow_provider_mailpartner.testing import Fault as AnswerFault

    connection.backend.generate(100, seed=5)
    fetch(tmp_path, "day1")
    entries = connection.backend.entries()
    data = [{**entry, "id": 0} if number < 10 else entry for number, entry in enumerate(entries)]
    answer = {"success": True, "code": 200, "nbData": len(data), "data": data}
    connection.faults.script(AnswerFault.raw(json_module.dumps(answer)), command="unsubscribe/list")
    manifest = fetch(tmp_path, "day2")  # 10% lose their id: more than max_removed_ratio, were they removals
    assert (manifest["removed"], manifest["changed"], manifest["added"]) == (0, 10, 0)
    assert manifest["odd_entries"] == {"id_not_usable": 10}
    changes = read_jsonl(tmp_path / "runs/day2/unsubscribes.changes.jsonl")
    assert {(c["id"], c["change"], c["odd"]) for c in changes} == {(None, "changed", "id_not_usable")}
    manifest = fetch(tmp_path, "day3")  # their ids back
    assert (manifest["removed"], manifest["changed"], manifest["added"]) == (0, 10, 0)
