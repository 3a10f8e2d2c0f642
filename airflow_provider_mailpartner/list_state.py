"""Where the previous snapshot of a list is: a small state object in object storage, beside the snapshots.

Each list task that tracks changes has a folder of its own, ``<root>/<dag_id>.<task_id>.<conn_id>/``:
``state.json`` names the last published snapshot (path, SHA-256, count), and the snapshots are
JSONL copies of the whole fetched list that the folder keeps for itself, so tracking does not depend
on how long the user keeps their run folders. A run reads the state, writes its own snapshot under a
fresh name, publishes its outputs, and only then replaces ``state.json`` (whole, through
:func:`~airflow_provider_mailpartner.storage.staged`). A run that fails at any step leaves the state
naming the last good snapshot; two runs at once each compare with the snapshot they read, and the
state ends naming one of their complete snapshots. Snapshots no state names are removed once a
day old (a run still reading one is never that slow).

Why not an Airflow Variable or an XCom of the previous run: the state must live and die with the
snapshot it names. A Variable lives in the metadata database, so restoring either the bucket or the
database alone leaves a state that names a file that is gone or not the one it was; it is also
shown in the UI to everyone with Variable access, and Airflow documents Variables as configuration,
not task output. An XCom is cleared with its task instance (clearing a run to rerun it, or
``airflow db clean``), and finding "the previous successful run" from a task is a query the Task
SDK does not offer. A file beside the snapshots needs no setup, survives both, and can be audited.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from hashlib import sha256 as new_sha256
from typing import TYPE_CHECKING, NotRequired, TypedDict

import msgspec

from airflow_provider_mailpartner.list_changes import SnapshotRow
from airflow_provider_mailpartner.storage import STALE_STAGING_AGE, open_without_lineage, staged

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

STATE_FOLDER = ".mailpartner-state"
STATE_FILE = "state.json"
STATE_VERSION = 1
_SNAPSHOT_NAME = re.compile(r"snapshot-(\d{8}T\d{6}Z)-[0-9a-f]{32}\.jsonl")
_STAMP = "%Y%m%dT%H%M%SZ"
_READ_SIZE = 1 << 18  # 256 KB of a snapshot decoded at a time: two snapshots are read side by side
_ROWS = msgspec.json.Decoder(SnapshotRow)


class SnapshotRef(TypedDict):
    """A snapshot file and what it must hold."""

    path: str
    sha256: str
    count: int
    in_id_order: bool
    without_id: NotRequired[int]  # odd entries without a usable id (absent: none, as before they were kept)


class ListState(TypedDict):
    version: int
    conn_id: str
    snapshot: SnapshotRef  # the last published list
    previous: SnapshotRef | None  # the one it was compared with: a rerun of the same run compares with it again
    run_id: str | None
    written_at: str


class ListStateError(RuntimeError):
    """The state or the snapshot it names cannot be trusted; the message says how to start afresh."""


def default_state_root(output_path: object) -> str | None:
    """``<folder>/.mailpartner-state`` for the folder of ``output_path`` up to its first template.

    None when that leaves no folder (a template at the root or in the bucket's name, a file at the
    root): then the task needs a ``state_path``.
    """
    scheme, separator, location = str(output_path).rpartition("://")
    fixed = location.split("{{", 1)[0]
    folder = fixed.rsplit("/", 1)[0] if "/" in fixed else ""  # (no "/" before a template: it is in the bucket)
    if not folder.strip("/"):
        return None
    return f"{scheme}{separator}{folder}/{STATE_FOLDER}"


def state_folder(root: str | ObjectStoragePath, dag_id: str, task_id: str, conn_id: str) -> ObjectStoragePath:
    """The folder of one task's state for one connection."""
    from airflow_provider_mailpartner.storage import storage_path

    return storage_path(root, "state_path") / f"{dag_id}.{task_id}.{conn_id}"


def read_state(folder: ObjectStoragePath) -> ListState | None:
    """The state in ``folder``, or None when there is none yet (the first run)."""
    path = folder / STATE_FILE
    try:
        with open_without_lineage(path, "rb") as handle:
            state = json.loads(handle.read())
    except FileNotFoundError:
        return None
    except ValueError:
        raise ListStateError(f"{path} is not JSON: {_fresh_start(path)}") from None
    snapshot = state.get("snapshot") if isinstance(state, dict) else None
    if not isinstance(snapshot, dict) or state.get("version") != STATE_VERSION:
        raise ListStateError(f"{path} is not a state this version writes: {_fresh_start(path)}")
    return state  # type: ignore[no-any-return]


def _fresh_start(state_path: ObjectStoragePath) -> str:
    return (
        f"to start change tracking afresh, remove {state_path} (the next run then reports every entry as "
        "added, and has no previous snapshot to guard against)"
    )


def write_state(folder: ObjectStoragePath, state: ListState) -> None:
    """Replace the state, whole."""
    with staged(folder / STATE_FILE, lineage=False) as staging, open_without_lineage(staging) as handle:
        handle.write(json.dumps(state, indent=2).encode() + b"\n")


def new_snapshot_path(folder: ObjectStoragePath, now: datetime | None = None) -> ObjectStoragePath:
    """A fresh snapshot name in ``folder``, stamped with the moment (UTC)."""
    return folder / f"snapshot-{(now or datetime.now(UTC)).strftime(_STAMP)}-{uuid.uuid4().hex}.jsonl"


def snapshot_rows(snapshot: SnapshotRef, state_path: ObjectStoragePath) -> Iterator[SnapshotRow]:
    """The entries of a snapshot file, checked against its SHA-256 and count at the end."""
    from airflow_provider_mailpartner.storage import storage_path

    path, digest, count = storage_path(snapshot["path"]), new_sha256(), 0
    try:
        with open_without_lineage(path, "rb") as handle:
            rest = b""
            while chunk := handle.read(_READ_SIZE):
                digest.update(chunk)
                lines, _, rest = (rest + chunk).rpartition(b"\n")
                rows = _ROWS.decode_lines(lines) if lines else []
                count += len(rows)
                yield from rows
    except FileNotFoundError:
        raise ListStateError(f"{state_path} names {path}, which is gone: {_fresh_start(state_path)}") from None
    except msgspec.DecodeError:
        raise ListStateError(f"{path} is not a snapshot: {_fresh_start(state_path)}") from None
    if rest or digest.hexdigest() != snapshot["sha256"] or count != snapshot["count"]:
        raise ListStateError(
            f"{path} is not the snapshot {state_path} names (its bytes changed): {_fresh_start(state_path)}"
        )


def remove_old_snapshots(folder: ObjectStoragePath, keep: set[str], now: datetime | None = None) -> int:
    """Remove the snapshots in ``folder`` not in ``keep`` (paths) that are more than a day old; how many."""
    cutoff = (now or datetime.now(UTC)) - STALE_STAGING_AGE
    removed = 0
    for candidate in folder.glob("snapshot-*.jsonl"):
        stamp = _SNAPSHOT_NAME.fullmatch(candidate.name)
        if stamp is None or str(candidate) in keep:
            continue
        if datetime.strptime(stamp[1], _STAMP).replace(tzinfo=UTC) < cutoff:
            candidate.unlink(missing_ok=True)  # another run may be removing it too
            removed += 1
    return removed
