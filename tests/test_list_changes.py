"""Changes between two snapshots are exactly their set difference by id; the guards refuse what they must."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_mailpartner.exceptions import MailPartnerGuardError
from airflow_provider_mailpartner.list_changes import Guards, SnapshotRow, changes, rows_without_id


def row(entry_id: int, email: str = "", created_at: str = "2024-03-01T09:30:00+01:00") -> SnapshotRow:
    return SnapshotRow(entry_id, email or f"user{entry_id}@example.fr", created_at)


def expected_changes(previous: list[SnapshotRow], current: list[SnapshotRow]) -> set[tuple[str, SnapshotRow]]:
    """The set difference by id, computed the plain way."""
    before, after = {r.id: r for r in previous}, {r.id: r for r in current}
    return (
        {("added", after[i]) for i in after.keys() - before.keys()}
        | {("removed", before[i]) for i in before.keys() - after.keys()}
        | {("changed", after[i]) for i in after.keys() & before.keys() if after[i] != before[i]}
    )


def found(previous: list[SnapshotRow], current: list[SnapshotRow], in_id_order: bool) -> set[tuple[str, SnapshotRow]]:
    result = list(changes(previous, current, in_id_order=in_id_order))
    pairs = {(c["change"], SnapshotRow(c["id"], c["email"], c["created_at"])) for c in result}
    assert len(pairs) == len(result)  # nothing reported twice
    return pairs


@pytest.mark.parametrize("in_id_order", [True, False])
def test_entries_without_a_usable_id_are_matched_by_their_address(in_id_order):
    odd = "id_not_usable"
    previous = [
        row(1),
        SnapshotRow(None, "kept@example.fr", None, odd),
        SnapshotRow(None, "gone@example.fr", None, odd),
    ]
    current = [
        SnapshotRow(None, "new@example.fr", "2024-03-01T09:30:00+01:00", odd),
        row(1),
        SnapshotRow(None, "kept@example.fr", None, odd),
        row(2),
    ]
    assert sorted((c["change"], c["email"], c["id"]) for c in changes(previous, current, in_id_order=in_id_order)) == [
        ("added", "new@example.fr", None),
        ("added", "user2@example.fr", 2),
        ("removed", "gone@example.fr", None),
    ]
    (added,) = [c for c in changes(previous, current, in_id_order=in_id_order) if c["email"] == "new@example.fr"]
    assert added["odd"] == odd  # the change carries the flag


def reconciled(previous: list[SnapshotRow], current: list[SnapshotRow]) -> list[tuple[str, str, int | None]]:
    """The changes as the list operator computes them when either snapshot has entries without an id."""
    without_id = (rows_without_id(previous), rows_without_id(current))
    found = changes(previous, current, in_id_order=True, without_id=without_id)
    return sorted((c["change"], c["email"], c["id"]) for c in found)


def test_an_entry_that_loses_its_id_is_changed_not_removed_and_added():
    odd = SnapshotRow(None, "user5@example.fr", "2024-03-01T09:30:00+01:00", "id_not_usable")
    assert reconciled([row(1), row(5), row(7)], [row(1), odd, row(7), row(9)]) == [
        ("added", "user9@example.fr", 9),
        ("changed", "user5@example.fr", None),
    ]
    assert reconciled([row(1), odd], [row(1), row(5)]) == [("changed", "user5@example.fr", 5)]  # and back


def test_without_ids_to_reconcile_both_ways_of_comparing_agree():
    previous = [row(1), SnapshotRow(None, "gone@example.fr", None, "id_not_usable"), row(3)]
    current = [row(1), row(3, "new@example.fr"), SnapshotRow(None, "new.odd@example.fr", None, "id_not_usable")]
    lazy = sorted((c["change"], c["email"], c["id"]) for c in changes(previous, current, in_id_order=True))
    assert reconciled(previous, current) == lazy


def test_two_entries_without_an_id_for_one_address_make_no_change_by_their_order():
    first = SnapshotRow(None, "a@example.fr", None, "id_not_usable,date_not_readable")
    second = SnapshotRow(None, "a@example.fr", "2024-03-01T09:30:00+01:00", "id_not_usable")
    assert list(changes([first, second], [second, first], in_id_order=True)) == []


def test_an_entry_that_becomes_odd_under_its_id_is_a_change():
    previous, current = [row(1)], [SnapshotRow(1, "user1@example.fr", None, "date_not_readable")]
    assert [c["change"] for c in changes(previous, current, in_id_order=True)] == ["changed"]


def test_added_removed_and_changed_entries_are_told_apart():
    previous = [row(1), row(2), row(3, created_at="2024-03-02T10:00:00+01:00"), row(5)]
    current = [row(1), row(3), row(4), row(5, "new@example.fr")]
    assert list(changes(previous, current, in_id_order=True)) == [
        {"id": 2, "email": "user2@example.fr", "created_at": "2024-03-01T09:30:00+01:00", "change": "removed"},
        {"id": 3, "email": "user3@example.fr", "created_at": "2024-03-01T09:30:00+01:00", "change": "changed"},
        {"id": 4, "email": "user4@example.fr", "created_at": "2024-03-01T09:30:00+01:00", "change": "added"},
        {"id": 5, "email": "new@example.fr", "created_at": "2024-03-01T09:30:00+01:00", "change": "changed"},
    ]


def test_a_first_snapshot_is_all_added_and_an_empty_one_all_removed():
    rows = [row(1), row(2)]
    assert [c["change"] for c in changes([], rows, in_id_order=True)] == ["added", "added"]
    assert [c["change"] for c in changes(rows, [], in_id_order=True)] == ["removed", "removed"]


snapshots = st.lists(
    st.builds(row, st.integers(1, 60), st.sampled_from(["a@x.fr", "b@x.fr", ""]), st.sampled_from(["d1", "d2"])),
    max_size=40,
    unique_by=lambda r: r.id,
)


@given(snapshots, snapshots)
def test_the_merge_finds_exactly_the_set_difference_of_two_snapshots_in_id_order(previous, current):
    previous, current = sorted(previous, key=lambda r: r.id), sorted(current, key=lambda r: r.id)
    assert found(previous, current, in_id_order=True) == expected_changes(previous, current)


@given(snapshots, snapshots)
def test_snapshots_in_any_order_are_compared_by_id(previous, current):
    assert found(previous, current, in_id_order=False) == expected_changes(previous, current)


@pytest.mark.parametrize(
    ("count", "previous_count", "removed"),
    [(0, 0, 0), (95, 100, 5), (1000, 100, 5), (100, 0, 0), (10, 10, 0)],
)
def test_lists_within_the_guards_pass(count, previous_count, removed):
    Guards().check(count=count, previous_count=previous_count, removed=removed)


def test_more_removed_than_the_ratio_allows_is_refused_with_the_way_out():
    with pytest.raises(
        MailPartnerGuardError,
        match=r"6 of the previous snapshot's 100 .*\(6\.0%\).*mailpartner_max_removed_ratio set to 0\.06 ",
    ) as caught:
        Guards().check(count=1094, previous_count=100, removed=6)
    assert (caught.value.count, caught.value.previous_count, caught.value.removed) == (1094, 100, 6)
    again = pickle.loads(pickle.dumps(caught.value))  # Airflow ships task errors between processes
    assert (again.message, again.removed, again.previous_count) == (caught.value.message, 6, 100)
    Guards(max_removed_ratio=0.06).check(count=1094, previous_count=100, removed=6)


def test_an_empty_list_after_a_non_empty_one_is_refused_even_under_a_ratio_of_one():
    with pytest.raises(MailPartnerGuardError, match=r"empty.*mailpartner_allow_empty"):
        Guards(max_removed_ratio=1).check(count=0, previous_count=3, removed=3)
    Guards(allow_empty=True).check(count=0, previous_count=3, removed=3)


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_a_ratio_outside_zero_to_one_is_refused(ratio):
    with pytest.raises(ValueError, match="between 0 and 1"):
        Guards(max_removed_ratio=ratio)


@pytest.mark.parametrize(("removed", "previous_count"), [(29, 100), (7, 100), (1, 3), (57, 100), (2, 7)])
def test_the_ratio_the_error_suggests_lets_exactly_that_list_through(removed, previous_count):
    with pytest.raises(MailPartnerGuardError) as caught:
        Guards().check(count=previous_count - removed, previous_count=previous_count, removed=removed)
    suggested = float(caught.value.message.split("mailpartner_max_removed_ratio set to ")[1].split()[0])
    Guards(max_removed_ratio=suggested).check(
        count=previous_count - removed, previous_count=previous_count, removed=removed
    )
    assert suggested - removed / previous_count < 0.01  # and no more than that
