"""Writing to object storage so that readers only ever see whole files, whoever else writes the same path.

Every output goes to a hidden staging file beside its target and is moved into place only when it is
complete: a rename on local disks, a copy then delete on object stores, where an object is only
ever visible whole. A failure removes the staging file and leaves the target as it was.

Writers of one target may overlap (parallel backfill runs publishing the same clean list): each has
a staging file of its own, and the last to finish wins, whole. A staging file is named after the
moment its writer started, so the clean-up of files that killed writers left behind removes only
those older than :data:`STALE_STAGING_AGE`, never a live writer's.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from glob import escape as glob_escape
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

STALE_STAGING_AGE = timedelta(days=1)
"""Older than this, a staging file's writer died (SIGKILL, a lost machine): no task writes one file this long."""

_STAGING_MARK = ".partial-"
_STARTED_FORMAT = "%Y%m%dT%H%M%SZ"
_STARTED = re.compile(r"(\d{8}T\d{6}Z)-[0-9a-f]+")


def storage_path(path: ObjectStoragePath | str, what: str = "path") -> ObjectStoragePath:
    """``path`` as an :class:`~airflow.sdk.ObjectStoragePath` (a URL string such as ``file:///x`` or ``s3://conn@b/k``).

    A relative path is refused (:func:`refuse_relative`); ``what`` names it in the error.
    """
    from airflow.sdk import ObjectStoragePath

    if isinstance(path, ObjectStoragePath):
        return path
    refuse_relative(path, what)
    return ObjectStoragePath(path)


def refuse_relative(path: object, what: str) -> None:
    """Refuse a relative local path: it would land in the worker's current folder, which differs from run to run.

    A path holding a template is left for after rendering.
    """
    text = str(path)
    if "{{" not in text and "://" not in text and not text.startswith("/"):
        raise ValueError(
            f"{what} {text!r} is a relative path: it would be read or written in whatever folder the worker "
            "runs in. Give a URL or an absolute path: file:///data/x.csv, /data/x.csv, s3://conn@bucket/x.csv"
        )


def staging_path(path: ObjectStoragePath, started: datetime | None = None) -> ObjectStoragePath:
    """A fresh hidden name beside ``path``, stamped with the moment its writer started (UTC)."""
    moment = started or datetime.now(UTC)
    return path.parent / f".{path.name}{_STAGING_MARK}{moment.strftime(_STARTED_FORMAT)}-{uuid.uuid4().hex}"


def stale_staging_files(path: ObjectStoragePath, now: datetime | None = None) -> list[ObjectStoragePath]:
    """The staging files of ``path`` whose writers started more than :data:`STALE_STAGING_AGE` before ``now``.

    A staging file whose name carries no start (another tool's, or an older release's) is never
    counted: it cannot be told from a live writer's.
    """
    cutoff = (now or datetime.now(UTC)) - STALE_STAGING_AGE
    stale = []
    for candidate in path.parent.glob(f".{glob_escape(path.name)}{_STAGING_MARK}*"):
        started = _STARTED.fullmatch(candidate.name.rpartition(_STAGING_MARK)[2])
        if started and datetime.strptime(started[1], _STARTED_FORMAT).replace(tzinfo=UTC) < cutoff:
            stale.append(candidate)
    return stale


class WriteStopped(BaseException):
    """SIGTERM arrived while a file was being written: the write stopped and its staging file is gone.

    A ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` swallows it. Airflow fails
    the task with it and retries it if the task has retries left (a worker shutting down is no
    reason to give up); ``AirflowTaskTerminated`` would fail it for good.
    """


@contextmanager
def staged(path: ObjectStoragePath, *, lineage: bool = True) -> Iterator[ObjectStoragePath]:
    """A staging path beside ``path`` to write to; moved onto ``path`` when the block ends without error.

    With ``lineage``, the published ``path`` is reported to Airflow's hook lineage collector, as a
    write through ``ObjectStoragePath`` would be. An operator that reports its own lineage to
    OpenLineage passes False: OpenLineage reads the collector only for tasks that report nothing,
    and creating it imports every installed provider's asset handlers.

    On any error, and when the task is stopped while writing (SIGTERM: :class:`WriteStopped`), the
    staging file is removed and ``path`` keeps what it had. Stale staging files of the same target
    (:func:`stale_staging_files`) are removed first.
    """
    if path.is_dir():  # a move onto a folder would land inside it
        raise IsADirectoryError(f"{path} is a folder, not a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"cannot write {path}: a part of its folder is a file, not a folder") from None
    if stale := stale_staging_files(path):
        log.info("Removing %d staging file(s) of %s left by writers that died over a day ago", len(stale), path)
        for file in stale:
            file.unlink(missing_ok=True)  # another run may be removing it too
    staging = staging_path(path)
    try:
        with _stopped_by_sigterm():
            yield staging
        # Once written, published even if SIGTERM comes now: the task then stops as Airflow stops it.
        # The staging file is beside path, so in the same store: a rename, or a copy then delete.
        # (ObjectStoragePath.move would report the staging file to lineage as an input.)
        staging.fs.mv(staging.path, path.path)
        if lineage:
            _report_written(path)
    except OSError as error:
        if staging.name not in str(getattr(error, "filename", "")):
            raise
        # The hidden staging file is the library's business: the error names the path the user gave.
        raise type(error)(error.errno, f"cannot write {path}: {error.strerror or error}") from None
    finally:
        if staging.exists():
            staging.unlink()


def _report_written(path: ObjectStoragePath) -> None:
    from airflow.sdk.lineage import get_hook_lineage_collector

    get_hook_lineage_collector().add_output_asset(context=path, uri=str(path))


def open_without_lineage(
    path: ObjectStoragePath, mode: str = "wb", *, encoding: str | None = None, newline: str | None = None
) -> IO[Any]:
    """Open ``path`` through its filesystem, not ``ObjectStoragePath.open``: for staging files and the
    package's own state, which are nobody's dataset.

    ``ObjectStoragePath.open`` reports each ``read`` and ``write`` to Airflow's hook lineage collector,
    so lineage would name the hidden staging file, a new one every run (and each call costs a few µs).
    :func:`staged` reports the final path once it is published.
    """
    text_options = {"encoding": encoding, "newline": newline} if "b" not in mode else {}
    return path.fs.open(path.path, mode=mode, **text_options)  # type: ignore[no-any-return]


@contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`WriteStopped`.

    Airflow 3's task runner answers SIGTERM (a state changed from outside, a worker shutting down)
    by calling the operator's ``on_kill()`` and carrying on; its supervisor sends SIGKILL seconds
    later, and nothing cleans up after that. Raising here unwinds the writer at once, so the
    ``finally`` above removes the staging file. The previous handler still runs first, and comes
    back when the block ends. Signal handlers belong to the main thread: elsewhere this does nothing.
    """
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or previous in (signal.SIG_IGN, None):
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        if callable(previous):
            previous(signum, frame)
        raise WriteStopped("stopped by SIGTERM while writing; the staging file is removed")

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
