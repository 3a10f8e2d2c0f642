"""A fetched list published with what changed since the previous snapshot, behind the guards.

One run writes three files, each to a staging file first: the list where the user asked
(``output_path``, in their format, filtered by ``created_since`` if they asked), the changes beside
it (``<name>.changes.<ext>``), and a snapshot of the whole list in the state folder
(:mod:`~airflow_provider_mailpartner.list_state`). The changes are computed from the snapshot just
written and the one the state names; the guards then decide. A tripped guard, like any error,
publishes nothing. Otherwise the snapshot, the changes and the list are moved into place, and only
then does the state name the new snapshot.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from airflow_provider_mailpartner.list_changes import CHANGE_FIELDS, Guards, changes, rows_without_id
from airflow_provider_mailpartner.list_state import (
    STATE_FILE,
    STATE_VERSION,
    ListState,
    SnapshotRef,
    new_snapshot_path,
    read_state,
    remove_old_snapshots,
    snapshot_rows,
    write_state,
)
from airflow_provider_mailpartner.record_files import ListManifest, OutputFormat, RecordWriter, blocks
from airflow_provider_mailpartner.storage import open_without_lineage, staged

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mailpartner.records import UnsubscribeRecord

log = logging.getLogger(__name__)


class TrackedManifest(ListManifest):
    """The list operator's manifest with change tracking: the file and the whole list, then its changes."""

    snapshot_sha256: str
    first_snapshot: bool
    previous_count: int
    previous_sha256: str | None
    added: int
    removed: int
    changed: int
    changes_path: str
    changes_sha256: str


class Tracking:
    """Where a list task keeps its state, and what it will accept."""

    def __init__(self, folder: ObjectStoragePath, guards: Guards, conn_id: str, run_id: str | None) -> None:
        self.folder = folder
        self.guards = guards
        self.conn_id = conn_id
        self.run_id = run_id


def changes_path(output: ObjectStoragePath) -> ObjectStoragePath:
    """``<name>.changes.<ext>`` beside ``output``."""
    return output.parent / f"{output.stem}.changes{output.suffix}"


def publish_with_changes(
    records: Iterable[UnsubscribeRecord],
    output: ObjectStoragePath,
    output_format: OutputFormat,
    tracking: Tracking,
    keep: Callable[[UnsubscribeRecord], bool] | None = None,
) -> TrackedManifest:
    """Publish ``records`` (only those ``keep`` accepts) to ``output``, their changes beside it, and the state."""
    state = read_state(tracking.folder)
    previous = _compared_with(state, tracking.run_id)
    snapshot_path = new_snapshot_path(tracking.folder)
    with ExitStack() as publishing:  # leaving it publishes the snapshot, the changes, then the list
        output_staging = publishing.enter_context(staged(output, lineage=False))
        changes_staging = publishing.enter_context(staged(changes_path(output), lineage=False))
        snapshot_staging = publishing.enter_context(staged(snapshot_path, lineage=False))
        count, sha256, snapshot = _write_list(records, keep, (output_staging, output_format), snapshot_staging)
        counts, changes_sha256 = _write_changes(previous, snapshot, (changes_staging, output_format), tracking)
        previous_count = previous["count"] if previous else 0
        tracking.guards.check(count=snapshot["count"], previous_count=previous_count, removed=counts["removed"])
    snapshot["path"] = str(snapshot_path)
    write_state(tracking.folder, _state(snapshot, previous, tracking))
    try:
        remove_old_snapshots(tracking.folder, keep={str(snapshot_path), previous["path"] if previous else ""})
    except OSError as error:  # the run's work is done: a later run removes them
        log.warning("Old snapshots in %s not removed (%s); a later run will", tracking.folder, error)
    _log_changes(counts, previous, state)
    return {
        "path": str(output),
        "format": output_format,
        "count": count,
        "sha256": sha256,
        "fetched": snapshot["count"],
        "odd_entries": {},  # (the caller's to fill: the reader counts them)
        "snapshot_sha256": snapshot["sha256"],
        "first_snapshot": previous is None,
        "previous_count": previous_count,
        "previous_sha256": previous["sha256"] if previous else None,
        "added": counts["added"],
        "removed": counts["removed"],
        "changed": counts["changed"],
        "changes_path": str(changes_path(output)),
        "changes_sha256": changes_sha256,
    }


def _write_list(
    records: Iterable[UnsubscribeRecord],
    keep: Callable[[UnsubscribeRecord], bool] | None,
    output: tuple[ObjectStoragePath, OutputFormat],
    snapshot_staging: ObjectStoragePath,
) -> tuple[int, str, SnapshotRef]:
    """The list to the user's file (filtered) and the whole list to the snapshot, in one pass: the
    file's count and SHA-256, and the snapshot."""
    output_staging, output_format = output
    in_id_order, last_id, without_id = True, 0, 0
    with (
        open_without_lineage(output_staging) as output_handle,
        open_without_lineage(snapshot_staging) as snapshot_handle,
    ):
        listed, whole = RecordWriter(output_handle, output_format), RecordWriter(snapshot_handle, "jsonl")
        for block in blocks(records):
            whole.write(block)
            listed.write(block if keep is None else [record for record in block if keep(record)])
            ids = cast("list[int]", [record["id"] for record in block])
            if None in ids:  # odd entries without a usable id: compared by address (list_changes)
                without_id += ids.count(None)  # type: ignore[arg-type]
                ids = [entry_id for entry_id in ids if entry_id is not None]
            if ids:
                in_id_order = in_id_order and ids[0] > last_id and ids == sorted(ids)  # (the reader refuses repeats)
                last_id = ids[-1]
        output_sha256, snapshot_sha256 = listed.close(), whole.close()
    snapshot: SnapshotRef = {
        "path": str(snapshot_staging),
        "sha256": snapshot_sha256,
        "count": whole.count,
        "in_id_order": in_id_order,
        "without_id": without_id,
    }
    return listed.count, output_sha256, snapshot


def _write_changes(
    previous: SnapshotRef | None,
    current: SnapshotRef,
    target: tuple[ObjectStoragePath, OutputFormat],
    tracking: Tracking,
) -> tuple[Counter[str], str]:
    """The changes from ``previous`` (nothing on a first run) to ``current``, written; their counts and SHA-256."""
    state_file = tracking.folder / STATE_FILE
    before = snapshot_rows(previous, state_file) if previous else iter(())
    in_id_order = current["in_id_order"] and (previous is None or previous["in_id_order"])
    without_id = None
    if previous and (current.get("without_id") or previous.get("without_id")):  # (rare: read them first)
        without_id = (
            rows_without_id(snapshot_rows(previous, state_file)),
            rows_without_id(snapshot_rows(current, state_file)),
        )
    counts: Counter[str] = Counter(added=0, removed=0, changed=0)
    staging, output_format = target
    with open_without_lineage(staging) as handle:
        writer = RecordWriter(handle, output_format, CHANGE_FIELDS)
        found = changes(before, snapshot_rows(current, state_file), in_id_order=in_id_order, without_id=without_id)
        for block in blocks(found):
            writer.write(block)
            counts.update(change["change"] for change in block)
        return counts, writer.close()


def _compared_with(state: ListState | None, run_id: str | None) -> SnapshotRef | None:
    """The snapshot a run compares with: the state's, or, when this very run wrote it (a retry, or the
    run cleared and run again), the one that run compared with, so that its changes come out the same."""
    if state is None:
        return None
    if run_id is not None and state["run_id"] == run_id:
        return state.get("previous")
    return state["snapshot"]


def _state(snapshot: SnapshotRef, previous: SnapshotRef | None, tracking: Tracking) -> ListState:
    return {
        "version": STATE_VERSION,
        "conn_id": tracking.conn_id,
        "snapshot": snapshot,
        "previous": previous,
        "run_id": tracking.run_id,
        "written_at": datetime.now(UTC).isoformat(),
    }


def _log_changes(counts: Counter[str], previous: SnapshotRef | None, state: ListState | None) -> None:
    if previous is None or state is None:
        log.info("First snapshot of this list: its %d entries are all reported as added", counts["added"])
        return
    log.info(
        "Since the previous snapshot (%d entries, run %s): %d added, %d removed, %d changed",
        previous["count"],
        state["run_id"],
        counts["added"],
        counts["removed"],
        counts["changed"],
    )
