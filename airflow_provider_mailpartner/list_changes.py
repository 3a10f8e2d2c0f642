"""What changed in the unsubscribe list between two snapshots, and the guards that refuse a list that shrank.

Entries are matched by id: an id only in the new snapshot was ``added``, one only in the old was
``removed`` (a re-subscription, or an entry deleted through ``/v1/unsubscribe/delete``), and one in
both whose address or date differs ``changed``. The changes are exactly the set difference of the
two snapshots, keyed by id. Odd entries without a usable id are matched by their address as sent
(two such entries with the same address count as one). An entry whose id becomes unusable (or
usable again) is ``changed``, found by its address: not a re-subscription and a new unsubscribe,
which a sudden run of ids of 0 from MailPartner would otherwise make count against the guards.

MailPartner lists its entries by rising id, so the two snapshots are compared as a merge, one
entry of each at a time, in flat memory. Snapshots not in id order are compared by id in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

import msgspec

from airflow_provider_mailpartner.exceptions import MailPartnerGuardError
from airflow_provider_mailpartner.record_files import CSV_HEADER

ChangeKind = Literal["added", "removed", "changed"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("added", "removed", "changed")
CHANGE_FIELDS = (*CSV_HEADER, "change")
"""A change is the entry's record (the old one when removed, the new one otherwise) and its kind."""


class SnapshotRow(msgspec.Struct, frozen=True, gc=False):
    """One entry of a snapshot file, as written (a record: ``created_at`` already in ISO form)."""

    id: int | None
    email: str
    created_at: str | None
    odd: str | None = None


class Change(TypedDict):
    id: int | None
    email: str
    created_at: str | None
    odd: NotRequired[str]
    change: ChangeKind


def changes(
    previous: Iterable[SnapshotRow],
    current: Iterable[SnapshotRow],
    *,
    in_id_order: bool,
    without_id: tuple[dict[str, SnapshotRow], dict[str, SnapshotRow]] | None = None,
) -> Iterator[Change]:
    """The changes from ``previous`` to ``current``; ``in_id_order`` says both are in rising id order
    (entries without an id aside).

    :param without_id: each snapshot's entries without an id, by address (:func:`rows_without_id`),
        when either has some: read first, so that an entry whose id became unusable, or usable, is
        matched by its address as it goes by.
    """
    compare = _merged if in_id_order else _by_id
    before: dict[str, SnapshotRow]
    now: dict[str, SnapshotRow]
    if without_id is None:  # gathered as they go by
        before, now = {}, {}
        yield from compare(_with_id(previous, before), _with_id(current, now))
    else:  # gathered already: matched against the changes by id
        before, now = without_id
        yield from _reconciled(compare(_having_id(previous), _having_id(current)), before, now)
    yield from _by_address(before, now)


def rows_without_id(rows: Iterable[SnapshotRow]) -> dict[str, SnapshotRow]:
    """A snapshot's entries without an id, by address."""
    without: dict[str, SnapshotRow] = {}
    for _ in _with_id(rows, without):
        pass
    return without


def _with_id(rows: Iterable[SnapshotRow], without: dict[str, SnapshotRow]) -> Iterator[SnapshotRow]:
    """The rows that have an id; the others go to ``without``, by address."""
    for row in rows:
        if row.id is None:
            kept = without.get(row.email)
            # (of two with one address, the same one whatever their order: no change from a reordering)
            without[row.email] = row if kept is None else min(kept, row, key=_order)
        else:
            yield row


def _having_id(rows: Iterable[SnapshotRow]) -> Iterator[SnapshotRow]:
    return (row for row in rows if row.id is not None)


def _reconciled(
    found: Iterable[Change], before: dict[str, SnapshotRow], now: dict[str, SnapshotRow]
) -> Iterator[Change]:
    """Changes by id, an entry that lost its id (or gained one) told by its address: ``changed``."""
    for change in found:
        email = change["email"]
        if change["change"] == "removed" and email in now:
            yield _change(now.pop(email), "changed")
        elif change["change"] == "added" and email in before:
            del before[email]
            yield {**change, "change": "changed"}
        else:
            yield change


def _order(row: SnapshotRow) -> tuple[str, str]:
    return (row.created_at or "", row.odd or "")


def _by_address(previous: dict[str, SnapshotRow], current: dict[str, SnapshotRow]) -> Iterator[Change]:
    for email, new in current.items():
        old = previous.pop(email, None)
        if old is None:
            yield _change(new, "added")
        elif old != new:
            yield _change(new, "changed")
    for old in previous.values():
        yield _change(old, "removed")


def _merged(previous: Iterable[SnapshotRow], current: Iterable[SnapshotRow]) -> Iterator[Change]:
    before = iter(previous)
    old = next(before, None)
    for new in current:
        while old is not None and old.id < new.id:  # type: ignore[operator]  # (rows with an id: _with_id)
            yield _change(old, "removed")
            old = next(before, None)
        if old is None or old.id != new.id:
            yield _change(new, "added")
            continue
        if old != new:
            yield _change(new, "changed")
        old = next(before, None)
    while old is not None:
        yield _change(old, "removed")
        old = next(before, None)


def _by_id(previous: Iterable[SnapshotRow], current: Iterable[SnapshotRow]) -> Iterator[Change]:
    remaining = {row.id: row for row in previous}
    for new in current:
        old = remaining.pop(new.id, None)
        if old is None:
            yield _change(new, "added")
        elif old != new:
            yield _change(new, "changed")
    for old in sorted(remaining.values(), key=lambda row: row.id or 0):
        yield _change(old, "removed")


def _change(row: SnapshotRow, kind: ChangeKind) -> Change:
    change: Change = {"id": row.id, "email": row.email, "created_at": row.created_at, "change": kind}
    if row.odd:
        change["odd"] = row.odd
    return change


@dataclass(frozen=True)
class Guards:
    """What a new snapshot may lose against the previous one before it is refused (and nothing published).

    :param max_removed_ratio: refuse when more entries were removed than this share of the
        previous snapshot's count (0.05: 5%).
    :param allow_empty: accept an empty list when the previous one had entries, whatever the ratio.
        Without it an empty list is refused even under a ratio of 1: it is what a wrong account looks like.
    """

    max_removed_ratio: float = 0.05
    allow_empty: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.max_removed_ratio <= 1:
            raise ValueError(f"max_removed_ratio must be between 0 and 1, not {self.max_removed_ratio!r}")

    def check(self, *, count: int, previous_count: int, removed: int) -> None:
        """Raise :class:`MailPartnerGuardError` when the new snapshot (``count`` entries) must be refused."""
        if count == 0 and previous_count > 0:
            if self.allow_empty:
                return  # (whatever the ratio: allowing an empty list is allowing every entry to go)
            raise MailPartnerGuardError(
                f"The unsubscribe list is empty, and the previous snapshot had {previous_count} entries: "
                "nothing was published. An empty list is what a key of another account, or an export "
                "cut short on MailPartner's side, looks like. If the list really is empty now, run once "
                "with the DAG param mailpartner_allow_empty=true (or allow_empty=True on the task).",
                count=count,
                previous_count=previous_count,
                removed=removed,
            )
        if previous_count and removed / previous_count > self.max_removed_ratio:
            raise MailPartnerGuardError(
                f"{removed} of the previous snapshot's {previous_count} entries are gone from the "
                f"unsubscribe list ({removed / previous_count:.1%}), more than max_removed_ratio="
                f"{self.max_removed_ratio} allows: nothing was published. A partial list or another "
                "account's looks like this. If the removals are real (addresses that re-subscribed), run "
                "once with the DAG param mailpartner_max_removed_ratio set to "
                f"{_ratio_allowing(removed, previous_count)} (or raise max_removed_ratio on the task).",
                count=count,
                previous_count=previous_count,
                removed=removed,
            )


def _ratio_allowing(removed: int, previous_count: int) -> float:
    """The smallest ratio of two decimals that lets ``removed`` of ``previous_count`` through (0.29 for 29 of 100)."""
    return math.ceil(removed * 100 / previous_count - 1e-9) / 100
