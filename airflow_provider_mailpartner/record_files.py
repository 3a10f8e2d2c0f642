"""Unsubscribe records written to object storage: streamed, hashed, and published atomically.

The records go to a hidden staging file next to the final path, which is moved into place only
once every record is written (a rename on local disks; a copy then delete on object stores, where
an object is only ever visible whole). A failure removes the staging file and leaves whatever
was at the final path untouched.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Literal, TypedDict

from airflow_provider_mailpartner.records import Counted, Unsubscribe

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

OutputFormat = Literal["jsonl", "csv", "json"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("jsonl", "csv", "json")
CSV_HEADER = ("id", "email", "created_at")
_BATCH_CHARS = 1 << 20  # write in ~1 MB blocks: each write through ObjectStoragePath records lineage
# The C encoder json.dumps uses for strings, without building a dict per record.
_json_string = json.encoder.encode_basestring


class Manifest(TypedDict):
    """What the list operator returns as XCom when it writes to storage."""

    path: str
    format: str
    count: int
    sha256: str


def jsonl_line(entry: Unsubscribe) -> str:
    """One record as a JSON object line, the same shape as the XCom records."""
    return f'{{"id": {entry.id}, "email": {_json_string(entry.email)}, "created_at": "{entry.created_at.isoformat()}"}}'


def _jsonl(entries: Iterable[Unsubscribe]) -> Iterator[str]:
    for entry in entries:
        yield jsonl_line(entry) + "\n"


def _json(entries: Iterable[Unsubscribe]) -> Iterator[str]:
    separator = "[\n"
    for entry in entries:
        yield separator + jsonl_line(entry)
        separator = ",\n"
    yield "[]\n" if separator == "[\n" else "\n]\n"


def _csv(entries: Iterable[Unsubscribe]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for entry in entries:
        writer.writerow((entry.id, entry.email, entry.created_at.isoformat()))
        if buffer.tell() >= _BATCH_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


_RENDERERS = {"jsonl": _jsonl, "json": _json, "csv": _csv}


def _write_batched(pieces: Iterable[str], handle: IO[bytes]) -> str:
    """Write the text in ~1 MB blocks of UTF-8; return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    batch: list[str] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= _BATCH_CHARS:
            block = "".join(batch).encode()
            digest.update(block)
            handle.write(block)
            batch, size = [], 0
    block = "".join(batch).encode()
    digest.update(block)
    handle.write(block)
    return digest.hexdigest()


def write_records(entries: Iterable[Unsubscribe], path: ObjectStoragePath, output_format: OutputFormat) -> Manifest:
    """Write ``entries`` to ``path`` in ``output_format``; nothing appears at ``path`` unless all did."""
    counted = Counted(entries)
    staging = path.parent / f".{path.name}.partial-{uuid.uuid4().hex}"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with staging.open("wb") as handle:  # type: ignore[no-untyped-call]  # (Airflow's open() is unannotated)
            sha256 = _write_batched(_RENDERERS[output_format](counted), handle)
        staging.move(path)
    except BaseException:
        if staging.exists():
            staging.unlink()
        raise
    return {"path": str(path), "format": output_format, "count": counted.count, "sha256": sha256}
