"""Staged writes: whole files only, concurrent writers of one target, stale staging files, SIGTERM."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_mailpartner.storage import (
    STALE_STAGING_AGE,
    WriteStopped,
    refuse_relative,
    staged,
    staging_path,
    stale_staging_files,
    storage_path,
)


def url(path: Path) -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{path}")


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_a_block_that_ends_well_publishes_its_file(tmp_path):
    with staged(url(tmp_path / "out/list.csv")) as staging:
        staging.write_text("whole")
    assert (tmp_path / "out/list.csv").read_text() == "whole"
    assert names(tmp_path / "out") == ["list.csv"]


def write_half_then(target: ObjectStoragePath, stop: Callable[[], None]) -> None:
    with staged(target) as staging:
        staging.write_text("half")
        stop()
        staging.write_text("never reached")


def fail() -> None:
    raise RuntimeError("midway")


def test_a_block_that_fails_leaves_the_previous_file_and_no_staging_file(tmp_path):
    (tmp_path / "list.csv").write_text("previous")
    with pytest.raises(RuntimeError, match="midway"):
        write_half_then(url(tmp_path / "list.csv"), fail)
    assert names(tmp_path) == ["list.csv"]
    assert (tmp_path / "list.csv").read_text() == "previous"


def test_a_folder_is_not_a_target(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"), staged(url(tmp_path)):
        pass


def test_staging_names_are_hidden_unique_and_stamped_with_their_start():
    target = storage_path("file:///data/list.csv")
    started = datetime(2026, 12, 3, 15, 4, 5, tzinfo=UTC)
    first, second = staging_path(target, started), staging_path(target, started)
    assert first != second
    assert first.name.startswith(".list.csv.partial-20261203T150405Z-")
    assert first.parent == target.parent


def test_only_staging_files_older_than_a_day_are_stale(tmp_path):
    target = url(tmp_path / "list.csv")
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    dead = staging_path(target, now - STALE_STAGING_AGE - timedelta(seconds=1))
    live = staging_path(target, now - STALE_STAGING_AGE + timedelta(minutes=1))
    for path in (dead, live):
        path.write_text("x")
    (tmp_path / ".list.csv.partial-0123abcd").write_text("no start in its name: cannot be told from a live one")
    (tmp_path / ".other.csv.partial-20200101T000000Z-89ab").write_text("another target's")
    assert stale_staging_files(target, now) == [dead]


def test_staged_removes_stale_staging_files_and_never_a_live_writers(tmp_path):
    target = url(tmp_path / "list.csv")
    dead = staging_path(target, datetime.now(UTC) - STALE_STAGING_AGE - timedelta(hours=1))
    dead.write_text("left by a writer killed two days ago")
    with staged(target) as live:
        live.write_text("being written")
        with staged(target) as other:  # a second writer of the same target starts meanwhile
            other.write_text("the other run's version")
        assert live.exists(), "a second writer removed the first one's live staging file"
    assert names(tmp_path) == ["list.csv"]
    assert (tmp_path / "list.csv").read_text() == "being written"  # the last to finish wins, whole


VERSIONS = 40
BODY_LINES = 20_000


def _version(writer: int, number: int) -> str:
    """A file that is recognisably whole: its first line says what its last line must be."""
    tag = f"writer {writer} version {number}"
    return f"{tag}\n" + f"{tag} body line\n" * BODY_LINES + f"end of {tag}\n"


def _publish_versions(target: str, writer: int, errors: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        for number in range(VERSIONS):
            with staged(storage_path(target)) as staging:
                staging.write_text(_version(writer, number))
    except BaseException as error:  # reported to the test, which fails on it
        errors.put(f"writer {writer}: {error!r}")


def test_two_processes_publishing_one_path_both_succeed_and_readers_only_see_whole_files(tmp_path):
    target = tmp_path / "published/contacts.clean.csv"
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    writers = [context.Process(target=_publish_versions, args=(f"file://{target}", n, errors)) for n in (1, 2)]
    for writer in writers:
        writer.start()
    reads, torn = 0, []
    while any(writer.is_alive() for writer in writers):
        try:
            text = target.read_text()
        except FileNotFoundError:
            continue
        reads += 1
        _, writer, _, number = text.partition("\n")[0].split()
        if text != _version(int(writer), int(number)):
            torn.append(text[:40])
    for writer in writers:
        writer.join(60)
    assert [writer.exitcode for writer in writers] == [0, 0]
    assert errors.empty(), errors.get()
    assert torn == [], f"{len(torn)} of {reads} reads saw a file that was not one whole version"
    assert reads > 0
    assert names(target.parent) == ["contacts.clean.csv"]
    assert target.read_text() in (_version(1, VERSIONS - 1), _version(2, VERSIONS - 1))


def test_sigterm_while_writing_removes_the_staging_file_and_stops_the_writer(tmp_path):
    (tmp_path / "list.csv").write_text("previous")
    called = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: called.append(signum))  # Airflow's on_kill
    try:
        with pytest.raises(WriteStopped, match="SIGTERM"):
            write_half_then(url(tmp_path / "list.csv"), lambda: os.kill(os.getpid(), signal.SIGTERM))
        assert called == [signal.SIGTERM], "the handler that was there first (the task runner's) did not run"
        assert names(tmp_path) == ["list.csv"]
        assert (tmp_path / "list.csv").read_text() == "previous"
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        assert handler.__name__ == "<lambda>", "the previous SIGTERM handler is not back after the block"
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_main_thread_the_sigterm_handler_is_left_alone(tmp_path):
    seen = []

    def write() -> None:
        with staged(url(tmp_path / "list.csv")) as staging:
            seen.append(signal.getsignal(signal.SIGTERM))
            staging.write_text("from a thread")

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert seen == [before]
    assert (tmp_path / "list.csv").read_text() == "from a thread"


def test_a_folder_part_that_is_a_file_fails_naming_the_target(tmp_path):
    (tmp_path / "data").write_text("a file where a folder should be")
    for target in ("data/list.csv", "data/sub/list.csv"):
        with pytest.raises(NotADirectoryError, match=f"cannot write file://{tmp_path}/{target}: a part of its folder"):
            write_half_then(url(tmp_path / target), lambda: None)


def test_an_unwritable_target_is_named_in_the_error_not_its_hidden_staging_file():
    with pytest.raises(PermissionError) as raised:  # /sys refuses new files even to root
        write_half_then(storage_path("file:///sys/list.csv"), lambda: None)
    assert str(raised.value) == "[Errno 13] cannot write file:///sys/list.csv: Permission denied"


@pytest.mark.parametrize("path", ["contacts.csv", "data/contacts.csv", "./contacts.csv", "~/contacts.csv"])
def test_a_relative_path_is_refused_naming_what_it_is_for(path):
    with pytest.raises(ValueError, match=f"clean_path '{re.escape(path)}' is a relative path: .* file:///data/x.csv"):
        storage_path(path, "clean_path")


@pytest.mark.parametrize("path", ["/data/contacts.csv", "file:///data/contacts.csv", "s3://conn@b/contacts.csv"])
def test_absolute_paths_and_urls_are_taken(path):
    refuse_relative(path, "clean_path")
