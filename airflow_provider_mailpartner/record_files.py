"""Unsubscribe records written to object storage (streamed, hashed, published whole) and read back.

Publishing goes through :func:`~airflow_provider_mailpartner.storage.staged`: nothing appears at the
final path unless every record was written, and a failure leaves whatever was there untouched.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import IO, TYPE_CHECKING, Literal, NamedTuple, NotRequired, TypedDict, TypeVar

import msgspec

from airflow_provider_mailpartner.records import UnsubscribeRecord
from airflow_provider_mailpartner.storage import open_without_lineage, staged

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

OutputFormat = Literal["jsonl", "csv", "json"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("jsonl", "csv", "json")
CSV_HEADER = ("id", "email", "created_at", "odd")
"""A record's fields; ``odd`` is empty (absent in JSON) unless the entry was odd (``records.ODD_REASONS``)."""
_REQUIRED = CSV_HEADER[:3]  # (files written before odd entries were kept have only these columns)
_BLOCK_RECORDS = 250  # records per write (~20 KB): few enough calls to encode, hash and write (docs/benchmarks.md)
_ENCODER = msgspec.json.Encoder()  # UTF-8, keys in the dict's order, no spaces
_R = TypeVar("_R")


class Manifest(TypedDict):
    """What :func:`write_records` returns: the file, its format, its records' count and its SHA-256."""

    path: str
    format: str
    count: int
    sha256: str


class ListManifest(Manifest):
    """What the list operator returns as XCom: the file's manifest, how many entries the whole list had,
    and how many odd entries it held, by reason (``records.ODD_REASONS``)."""

    fetched: int
    odd_entries: dict[str, int]
    hashed_list: NotRequired[dict[str, object]]  # with hashed_path: the hashed list's manifest


Record = Mapping[str, object]  # an UnsubscribeRecord, or one with more fields (a change has "change")


class _Renderer(NamedTuple):
    """A record format as bytes: what opens the file (given the fields), a block of records, what closes it."""

    start: Callable[[Sequence[str]], bytes]
    block: Callable[[Sequence[Record], bool, Sequence[str]], bytes]  # (records, whether they are the first, fields)
    end: Callable[[int], bytes]  # (the count)


def _jsonl_block(records: Sequence[Record], first: bool, fields: Sequence[str]) -> bytes:
    return _ENCODER.encode_lines(records)


def _json_block(records: Sequence[Record], first: bool, fields: Sequence[str]) -> bytes:
    # A raw line break cannot occur inside an encoded record (JSON escapes it): each one ends a record.
    return (b"[\n" if first else b",\n") + _ENCODER.encode_lines(records)[:-1].replace(b"\n", b",\n")


def _csv_block(records: Sequence[Record], first: bool, fields: Sequence[str]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([record.get(field) for field in fields] for record in records)
    return text.getvalue().encode()


_RENDERERS = {
    "jsonl": _Renderer(lambda fields: b"", _jsonl_block, lambda count: b""),
    "json": _Renderer(lambda fields: b"", _json_block, lambda count: b"\n]\n" if count else b"[]\n"),
    "csv": _Renderer(lambda fields: (",".join(fields) + "\n").encode(), _csv_block, lambda count: b""),
}


class RecordWriter:
    """Records rendered in one format to an open binary file, a block at a time, counted and hashed.

    Records are dicts in the order of ``fields`` (as the hook and :func:`read_records` give them):
    JSON records are encoded as they are, in compact form; CSV takes ``fields`` as its header.
    """

    def __init__(self, handle: IO[bytes], output_format: OutputFormat, fields: Sequence[str] = CSV_HEADER) -> None:
        self._handle = handle
        self._renderer = _RENDERERS[output_format]
        self._fields = fields
        self._digest = hashlib.sha256()
        self.count = 0
        self._write(self._renderer.start(fields))

    def write(self, records: Sequence[Record]) -> None:
        if records:
            self._write(self._renderer.block(records, self.count == 0, self._fields))
            self.count += len(records)

    def close(self) -> str:
        """Write the format's end; the SHA-256 of every byte written."""
        self._write(self._renderer.end(self.count))
        return self._digest.hexdigest()

    def _write(self, data: bytes) -> None:
        self._digest.update(data)
        self._handle.write(data)


def blocks(records: Iterable[_R]) -> Iterator[list[_R]]:
    """``records`` a block at a time: what a :class:`RecordWriter` takes in one call."""
    records = iter(records)
    while block := list(islice(records, _BLOCK_RECORDS)):
        yield block


def write_records(
    records: Iterable[UnsubscribeRecord],
    path: ObjectStoragePath,
    output_format: OutputFormat,
    *,
    lineage: bool = True,
) -> Manifest:
    """Write ``records`` to ``path`` in ``output_format``; nothing appears at ``path`` unless all did.

    Memory stays flat (a block at a time), and the SHA-256 is of the bytes written. ``lineage`` is
    :func:`~airflow_provider_mailpartner.storage.staged`'s.
    """
    with staged(path, lineage=lineage) as target, open_without_lineage(target) as handle:
        writer = RecordWriter(handle, output_format)
        for block in blocks(records):
            writer.write(block)
        sha256 = writer.close()
    return {"path": str(path), "format": output_format, "count": writer.count, "sha256": sha256}


class RecordFileError(ValueError):
    """A record file cannot be trusted: wrong shape, or not the bytes its manifest describes."""


def read_records(
    path: ObjectStoragePath, output_format: OutputFormat | None = None, *, sha256: str | None = None
) -> Iterator[UnsubscribeRecord]:
    """The records of a file :func:`write_records` wrote, streamed (``json`` is read whole).

    ``output_format`` defaults to the file's suffix. With ``sha256`` (the manifest's), the
    iterator raises :class:`RecordFileError` at its end when the bytes differ: like the hook's
    lists, the records are provisional until the iterator is exhausted.
    """
    file_format = output_format or path.suffix.lstrip(".")
    if file_format not in OUTPUT_FORMATS:
        raise RecordFileError(f"{path}: cannot tell the format from the suffix; give one of {OUTPUT_FORMATS}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:  # type: ignore[no-untyped-call]
        lines = _hashed_lines(handle, digest)
        if file_format == "jsonl":
            for number, line in enumerate(lines, 1):
                yield _checked_record(_json_line(line, path, number), path, number)
        elif file_format == "csv":
            rows = csv.reader(lines)
            header = tuple(next(rows, ()))
            if header not in (CSV_HEADER, _REQUIRED):
                raise RecordFileError(f"{path}: the header is not {','.join(CSV_HEADER)}")
            for number, row in enumerate(rows, 1):
                yield _csv_record(row, len(header), path, number)
        else:
            document = _json_line("".join(lines), path, 1)
            if not isinstance(document, list):
                raise RecordFileError(f"{path}: a json record file holds one array")
            for number, raw in enumerate(document, 1):
                yield _checked_record(raw, path, number)
    if sha256 is not None and digest.hexdigest() != sha256:
        raise RecordFileError(
            f"{path}: SHA-256 is {digest.hexdigest()}, its manifest says {sha256}: "
            "the file changed after it was written"
        )


def manifest_records(manifest: Mapping[str, object]) -> Iterator[UnsubscribeRecord]:
    """The records of the file a list operator's manifest (its XCom) describes, streamed.

    Fails closed, at the end of the iterator: a file whose bytes or record count differ from the
    manifest raises :class:`RecordFileError`.
    """
    from airflow.sdk import ObjectStoragePath

    path, output_format, sha256, count = _manifest_fields(manifest)
    read = 0
    for record in read_records(ObjectStoragePath(path), output_format, sha256=sha256):
        read += 1
        yield record
    if read != count:
        raise RecordFileError(f"{path}: holds {read} records, its manifest says {count}")


def _manifest_fields(manifest: Mapping[str, object]) -> tuple[str, OutputFormat, str, int]:
    """Path, format, SHA-256 and count of a manifest, refused unless each has its documented type."""
    path, output_format = manifest.get("path"), manifest.get("format")
    sha256, count = manifest.get("sha256"), manifest.get("count")
    if (
        not isinstance(path, str)
        or output_format not in OUTPUT_FORMATS
        or not isinstance(sha256, str)
        or not isinstance(count, int)
    ):
        raise RecordFileError(f"not a record-file manifest (path, format, count, sha256): {sorted(manifest)}")
    return path, output_format, sha256, count


def _hashed_lines(handle: IO[bytes], digest: hashlib._Hash) -> Iterator[str]:
    for line in handle:
        digest.update(line)
        try:
            yield line.decode()
        except UnicodeDecodeError:
            raise RecordFileError("a record file is not UTF-8") from None


def _json_line(text: str, path: ObjectStoragePath, number: int) -> object:
    try:
        return json.loads(text)
    except ValueError:
        raise RecordFileError(f"{path}: record {number} is not JSON") from None


def _csv_record(row: list[str], columns: int, path: ObjectStoragePath, number: int) -> UnsubscribeRecord:
    entry_id = row[0] if row else ""
    if len(row) != columns or (entry_id and not (entry_id.isascii() and entry_id.isdigit())):
        raise RecordFileError(f"{path}: record {number} is not an id, an email and a date")
    record: UnsubscribeRecord = {
        "id": int(entry_id) if entry_id else None,
        "email": row[1],
        "created_at": row[2] or None,
    }
    if columns > len(_REQUIRED) and row[3]:
        record["odd"] = row[3]
    return record


def _checked_record(raw: object, path: ObjectStoragePath, number: int) -> UnsubscribeRecord:
    if (
        not isinstance(raw, dict)
        or not set(_REQUIRED) <= raw.keys() <= set(CSV_HEADER)
        or not (raw["id"] is None or type(raw["id"]) is int)
        or not isinstance(raw["email"], str)
        or not (raw["created_at"] is None or isinstance(raw["created_at"], str))
        or not isinstance(raw.get("odd", ""), str)
    ):
        raise RecordFileError(f"{path}: record {number} is not {{id, email, created_at[, odd]}}")
    record: UnsubscribeRecord = {"id": raw["id"], "email": raw["email"], "created_at": raw["created_at"]}
    if raw.get("odd"):
        record["odd"] = raw["odd"]
    return record
