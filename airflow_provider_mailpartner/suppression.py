"""The one definition of "the same address", and the streaming suppression of contact files built on it."""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import logging
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from heapq import merge
from itertools import chain, compress, islice, tee
from operator import and_, gt, itemgetter, not_
from typing import IO, TYPE_CHECKING, NamedTuple, cast

import idna

from airflow_provider_mailpartner.contact_files import (
    HEAD_BYTES,
    ContactFileError,
    CsvDialect,
    check_options,
    find_email_column,
    sniff_dialect,
    unreadable,
)
from airflow_provider_mailpartner.record_files import manifest_records
from airflow_provider_mailpartner.storage import open_without_lineage, staged, storage_path

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mailpartner.hashed_lists import AddressHasher, HashAlgorithm, HashedList

log = logging.getLogger(__name__)

MAX_LOCAL_PART = 64
MAX_ADDRESS = 254
_SPECIALS = frozenset('<>()[],;:"\\')
# An address (already stripped and lower-cased) that the full normalisation would return unchanged:
# a local part of characters NFC, case folding and the checks leave alone; a domain of plain LDH labels
# of 1-63 characters (no hyphen at either end, none with "--" in positions 3-4 such as "xn--", which
# IDNA must decode); no trailing dot (the full path drops it). Anything else takes the full path: this
# only saves time. (It runs once per contact row, so it is written not to backtrack on what it accepts.)
_PLAIN_LABEL = r"(?!-|[a-z0-9-]{2}--)[a-z0-9-]{1,63}(?<!-)"
_PLAIN_LOCAL_PART = rf"[a-z0-9!#$%&'*+/=?^_`{{|}}~.-]{{1,{MAX_LOCAL_PART}}}"
_PLAIN_ADDRESS = re.compile(rf"(?!.{{{MAX_ADDRESS + 1}}}){_PLAIN_LOCAL_PART}@{_PLAIN_LABEL}(?:\.{_PLAIN_LABEL})+")
# Contact rows judged together: the per-row work runs in C maps over a block. Small, so that a block's
# rows die young: blocks of 1,000 rows and more outlive the young GC generations, and the full
# collections they then trigger rescan every object of the task process (Airflow's too).
_BLOCK_ROWS = 500
REPORT_HEADER = ("row", "email", "reason", "unsubscribe_id")
UNSUBSCRIBED = "unsubscribed"
INVALID_EMAIL = "invalid_email"
_LOGGED_IDS = 100

ReportRow = tuple[int, str, str, int | None]  # csv writes None as an empty cell


class InvalidEmailError(ValueError):
    """The text is not an address that can be compared (or sent); the message says why."""


def normalize_email(text: str) -> str:
    """The comparison key of an address: trimmed, NFC, case-folded, domain in IDNA ASCII form.

    ``" Zoë@Exämple.FR "`` and ``"zoë@xn--exmple-cua.fr"`` give the same key. Anything that is
    not one local part, one ``@`` and a dotted domain raises :class:`InvalidEmailError`.
    """
    if not isinstance(text, str):
        raise InvalidEmailError(f"not text: {type(text).__name__}")
    key = text.strip().lower()
    if _PLAIN_ADDRESS.fullmatch(key):
        return key
    return _normalize_in_full(text)


def _normalize_in_full(text: str) -> str:
    """:func:`normalize_email` without its plain-ASCII shortcut: the reference the shortcut must agree with."""
    address = unicodedata.normalize("NFC", text.strip())
    if address.count("@") != 1:
        raise InvalidEmailError("an address has exactly one '@'")
    local, domain = address.split("@")
    if not local or not domain:
        raise InvalidEmailError("empty local part or domain")
    # Not printable: categories Cc, Cf, Cs, Co, Cn and all white space but " " (a test checks every code point).
    if not address.isprintable() or " " in address:
        raise InvalidEmailError("white space or control characters inside the address")
    if not _SPECIALS.isdisjoint(address):  # "mailto:x@y.fr", "Dupont;x@y.fr", "<x@y.fr>"
        raise InvalidEmailError('a character e-mail reserves for syntax (<>()[],;:"\\) in the address')
    # Canonical caseless form (Unicode's NFD, case fold, then NFC): case folding can leave marks in
    # another order than NFC's ("ǰ̣" and "J̣̌" fold to different orders of the same two marks).
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFD", local).casefold())
    key = f"{folded}@{_ascii_domain(domain)}"
    # The limits (in UTF-8 octets, as SMTP counts) apply to the key, so that every key is a key:
    # "ß" folds to "ss", and a local part that only fits before folding would not fit after.
    if len(folded.encode()) > MAX_LOCAL_PART or len(key.encode()) > MAX_ADDRESS:
        raise InvalidEmailError("the address is longer than e-mail allows")
    return key


@functools.lru_cache(maxsize=4096)  # a contact list has few distinct domains, and IDNA is the slow part
def _ascii_domain(domain: str) -> str:
    try:
        # "x.fr." is "x.fr"; so is "x.fr\u3002", whose ideographic full stop IDNA maps to a dot.
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii").rstrip(".")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidEmailError("the domain is not a valid host name") from None
    if "." not in ascii_domain:
        raise InvalidEmailError("the domain has no dot")
    return ascii_domain.lower()


class Listed(NamedTuple):
    """What :meth:`SuppressionSet.match` finds for a listed address (``None`` means not listed).

    ``unsubscribe_id`` is the lowest id of the entries listing it, or ``None`` when none had a usable
    one (a hashed list carries no ids; MailPartner may send an entry with an unusable id). Either way
    the address is listed: a ``Listed`` is true even when its id is ``None``.
    """

    unsubscribe_id: int | None


class SuppressionSet:
    """Normalised address -> unsubscribe id (the lowest id when an address is listed twice; ``None`` if unknown).

    A hashed set (built with a ``hasher``, or from a hashed list) holds the digests of the
    normalised addresses instead, and hashes an address the same way before looking it up.
    ``unmatchable`` counts the entries whose address is not an e-mail (a phone number, say): they
    can never match a contact. ``invalid_ids`` holds the ids of those that had one, for a caller to
    look at.
    """

    def __init__(self, hasher: AddressHasher | None = None) -> None:
        self.hasher = hasher
        self._entries: dict[str, int | None] = {}
        self.invalid_ids: list[int] = []
        self.unmatchable = 0

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, object]]) -> SuppressionSet:
        """A set from unsubscribe records (``{"id", "email", ...}``, as in XCom or a record file); an id may be None."""
        suppression = cls()
        for record in records:
            unsubscribe_id = record["id"]
            if unsubscribe_id is not None and not isinstance(unsubscribe_id, int):
                raise TypeError(f"an unsubscribe id is an int or None, not {type(unsubscribe_id).__name__}")
            try:
                suppression.add(cast(str, record["email"]), unsubscribe_id)  # normalize_email refuses non-text
            except InvalidEmailError:
                suppression.unmatchable += 1
                if unsubscribe_id is not None:
                    suppression.invalid_ids.append(unsubscribe_id)
        if suppression.unmatchable:
            log.warning(
                "%d unsubscribe entries are not e-mail addresses and cannot match any contact; "
                "ids of those that have one (first %d): %s",
                suppression.unmatchable,
                _LOGGED_IDS,
                suppression.invalid_ids[:_LOGGED_IDS],
            )
        return suppression

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, object]) -> SuppressionSet:
        """A set from the record file an ``UnsubscribeListOperator`` manifest (its XCom) describes.

        Fails closed: a file whose bytes or record count differ from the manifest raises
        :class:`~airflow_provider_mailpartner.record_files.RecordFileError` (a ``ValueError``).
        """
        # Streamed: a list of a million records would outlive the young GC.
        return cls.from_records(manifest_records(manifest))

    @classmethod
    def from_hashed_list(
        cls,
        path: ObjectStoragePath | str,
        hasher: AddressHasher | HashAlgorithm | None = None,
        *,
        sha256: str | None = None,
        count: int | None = None,
    ) -> SuppressionSet:
        """A hashed set from a hashed list file, its algorithm declared or told by the digests' length.

        See :func:`~airflow_provider_mailpartner.hashed_lists.load_hashed_list`; ids are unknown.
        """
        from airflow_provider_mailpartner.hashed_lists import load_hashed_list

        return cls._of_hashed(load_hashed_list(path, hasher, sha256=sha256, count=count))

    @classmethod
    def from_hashed_manifest(
        cls, manifest: Mapping[str, object] | ObjectStoragePath | str, hasher: AddressHasher | None = None
    ) -> SuppressionSet:
        """A hashed set from the list a hashed-list manifest describes (the dict, or its file), checked against it.

        See :func:`~airflow_provider_mailpartner.hashed_lists.load_hashed_manifest`.
        """
        from airflow_provider_mailpartner.hashed_lists import load_hashed_manifest

        return cls._of_hashed(load_hashed_manifest(manifest, hasher))

    @classmethod
    def _of_hashed(cls, hashed: HashedList) -> SuppressionSet:
        suppression = cls(hashed.hasher)
        suppression._entries = dict.fromkeys(hashed.digests)
        return suppression

    def add(self, email: str, unsubscribe_id: int | None) -> None:
        """List ``email``; raises :class:`InvalidEmailError` when it cannot be normalised."""
        self._add_entry(self._entry_keys([normalize_email(email)])[0], unsubscribe_id)

    def update(self, other: SuppressionSet) -> None:
        """Merge ``other`` in (the lowest id wins), its ``invalid_ids`` and ``unmatchable`` included."""
        if other.hasher != self.hasher:
            raise ValueError(f"cannot merge a set keyed by {other._kind()} into one keyed by {self._kind()}")
        for entry, unsubscribe_id in other.items():
            self._add_entry(entry, unsubscribe_id)
        self.invalid_ids.extend(other.invalid_ids)
        self.unmatchable += other.unmatchable

    def match(self, email: str) -> Listed | None:
        """How ``email`` is listed, or ``None`` when it is not; raises :class:`InvalidEmailError` for invalid input."""
        return self._listing(normalize_email(email))

    def items(self) -> Iterator[tuple[str, int | None]]:
        """``(entry, id)`` pairs, e.g. to write a merged set: the normalised address (its digest in a hashed set)."""
        return iter(self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, email: object) -> bool:
        if not isinstance(email, str):
            return False
        try:
            return self.match(email) is not None
        except InvalidEmailError:
            return False

    def _entry_keys(self, keys: list[str]) -> list[str]:
        """What the set holds for each normalised address key: the key itself, or its digest in a hashed set."""
        return keys if self.hasher is None else self.hasher.hexdigests(keys)

    def _listing(self, key: str) -> Listed | None:
        """How the normalised address ``key`` is listed, or ``None``."""
        entry = self._entry_keys([key])[0]
        return Listed(self._entries[entry]) if entry in self._entries else None

    def _add_entry(self, entry: str, unsubscribe_id: int | None) -> None:
        if entry not in self._entries:
            self._entries[entry] = unsubscribe_id
            return
        listed = self._entries[entry]
        if unsubscribe_id is not None and (listed is None or unsubscribe_id < listed):
            self._entries[entry] = unsubscribe_id

    def _kind(self) -> str:
        return "addresses" if self.hasher is None else f"{self.hasher.algorithm} digests"


@dataclasses.dataclass(frozen=True)
class SuppressionSummary:
    """What :func:`suppress_csv` did: row counts, where the outputs are, how long it took."""

    rows_in: int
    rows_out: int
    suppressed: int
    invalid: int
    clean_path: str
    report_path: str
    seconds: float

    def as_dict(self) -> dict[str, object]:
        """Plain JSON for XCom."""
        return dataclasses.asdict(self)


def suppress_csv(
    contacts: ObjectStoragePath | str,
    suppression: SuppressionSet,
    clean_path: ObjectStoragePath | str,
    report_path: ObjectStoragePath | str,
    *,
    email_column: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    output_encoding: str | None = None,
) -> SuppressionSummary:
    """Copy the contact CSV to ``clean_path`` without the rows ``suppression`` lists; report them at ``report_path``.

    The file is read as spreadsheets write it (:mod:`~airflow_provider_mailpartner.contact_files`):
    its encoding (UTF-8, UTF-8 with a BOM, cp1252), separator (``,`` ``;`` tab ``|``) and address
    column are found unless given. Every kept row is copied byte for byte, in order: header, other
    columns, quoting, separator, line endings, encoding and BOM stay as they were. A row whose
    address is empty, missing or invalid is left out too (nothing proves it is not unsubscribed)
    and reported as ``invalid_email``. The report is a CSV ``row,email,reason,unsubscribe_id``
    (``row`` counts data rows from 1; the id is empty when unknown, as with a hashed list) in the
    input's dialect, so a spreadsheet opens it as it opened the contacts. Both files are published
    only once both are complete (report first); on any failure the previous files stay as they were.

    :param contacts: the contact CSV, with a header row.
    :param suppression: the addresses to leave out (or their digests: a hashed set).
    :param clean_path: where the contacts that may be mailed go.
    :param report_path: where the left-out rows are listed, with the reason and unsubscribe id.
    :param email_column: the name of the address column (case, accents and spacing ignored); by
        default the one column named like an address (``email``, ``E-mail Address``,
        ``Adresse e-mail``, ``courriel``...).
    :param delimiter: the separator; by default the one that splits the header line into the most cells.
    :param encoding: ``utf-8``, ``utf-8-sig`` or ``cp1252``; by default found from the file's start.
    :param output_encoding: the encoding of the clean file and the report, when it must differ from the
        contact file's (a cp1252 export for a tool that reads UTF-8: ``utf-8`` or ``utf-8-sig``). The
        rows keep every character; a character the chosen encoding cannot hold fails the run.
    :return: the counts and paths, see :class:`SuppressionSummary`.
    """
    started = time.perf_counter()
    source, clean = storage_path(contacts, "contacts"), storage_path(clean_path, "clean_path")
    report = storage_path(report_path, "report_path")
    if clean == report:
        raise ValueError(f"clean_path and report_path are the same file: {clean}")
    check_options(output_encoding)
    dialect = sniff_dialect(_head(source), str(source), encoding=encoding, delimiter=delimiter)
    # Leaving the block moves the report into place, then the clean file; an error removes both staging files.
    with staged(clean) as clean_staging, staged(report) as report_staging:
        rows_in, rows_out, suppressed = _write_staged(
            source, suppression, (clean_staging, report_staging), email_column, dialect, output_encoding
        )
    summary = SuppressionSummary(
        rows_in=rows_in,
        rows_out=rows_out,
        suppressed=suppressed,
        invalid=rows_in - rows_out - suppressed,
        clean_path=str(clean),
        report_path=str(report),
        seconds=time.perf_counter() - started,
    )
    log.info(
        "Suppression: %d contacts in (%s, separator %r), %d out, %d unsubscribed, %d invalid addresses, in %.2f s",
        summary.rows_in,
        dialect.encoding,
        dialect.delimiter,
        summary.rows_out,
        summary.suppressed,
        summary.invalid,
        summary.seconds,
    )
    return summary


def _head(source: ObjectStoragePath) -> bytes:
    """The file's first bytes, which decide its dialect."""
    try:
        with source.open("rb") as handle:  # type: ignore[no-untyped-call]
            return bytes(handle.read(HEAD_BYTES))
    except FileNotFoundError:
        raise ContactFileError(f"{source}: no such contact file") from None


def _write_staged(
    source: ObjectStoragePath,
    suppression: SuppressionSet,
    stagings: tuple[ObjectStoragePath, ObjectStoragePath],
    email_column: str | None,
    dialect: CsvDialect,
    output_encoding: str | None,
) -> tuple[int, int, int]:
    """Write the clean file and the report to their staging paths; return rows in, rows out, rows suppressed.

    The reader parses one copy of the lines; the other copy is what the clean file gets, as it was
    read: no field, quote, delimiter or line terminator is rewritten (the BOM and the encoding
    change only with ``output_encoding``).
    """
    output = dataclasses.replace(dialect, encoding=output_encoding or dialect.encoding)
    bom = "\ufeff" if output.encoding == "utf-8-sig" else ""
    with source.open("r", encoding=dialect.text_encoding, newline="") as contacts:  # type: ignore[no-untyped-call]
        rows, texts, header = _read_header(contacts, source, dialect)
        column = find_email_column(header, str(source), email_column)
        clean_staging, report_staging = stagings
        with (
            open_without_lineage(clean_staging, "w", encoding=output.text_encoding, newline="") as clean_file,
            open_without_lineage(report_staging, "w", encoding=output.text_encoding, newline="") as report_file,
        ):
            try:
                header_text = "".join(islice(texts, rows.line_num))
                if output_encoding is not None:  # re-encoded: the BOM is the output encoding's
                    header_text = bom + header_text.removeprefix("\ufeff")
                clean_file.write(header_text)
                report_file.write(bom + _csv_text([REPORT_HEADER], output))
                blocks = _blocks(rows, texts, source, dialect)
                return _filter_rows(blocks, column, suppression, clean_file, report_file, output)
            except UnicodeEncodeError as error:
                raise ContactFileError(
                    f"{source}: holds {error.object[error.start]!r} (U+{ord(error.object[error.start]):04X}), which "
                    f"{output.encoding} cannot hold: choose output_encoding='utf-8'; nothing was published"
                ) from None


def _read_header(
    contacts: IO[str], source: ObjectStoragePath, dialect: CsvDialect
) -> tuple[_CsvReader, Iterator[str], list[str]]:
    """The reader, past the header; the lines as read (BOM included); the header row (BOM removed)."""
    parsed, texts = tee(contacts)
    try:
        first_line = next(parsed, None)
        if first_line is None:
            raise ContactFileError(f"{source}: the file is empty; a header row is required")
        rows = csv.reader(chain([first_line.removeprefix("\ufeff")], parsed), delimiter=dialect.delimiter)
        header = next(rows)
    except UnicodeDecodeError as error:
        raise ContactFileError(unreadable(str(source), error, dialect.encoding, "in the header row")) from None
    except csv.Error as error:
        raise ContactFileError(f"{source}: the header row is unreadable: {error}") from None
    return rows, texts, header


def _blocks(
    rows: _CsvReader, texts: Iterator[str], source: ObjectStoragePath, dialect: CsvDialect
) -> Iterator[tuple[list[list[str]], list[str]]]:
    """The data rows a block at a time, with the text each was read from; unreadable input -> ContactFileError."""
    rows_read = 0
    while True:
        lines_read = rows.line_num
        try:
            block = list(islice(rows, _BLOCK_ROWS))
        except UnicodeDecodeError as error:
            where = f"after data row {rows_read}"
            raise ContactFileError(unreadable(str(source), error, dialect.encoding, where)) from None
        except csv.Error as error:
            raise ContactFileError(f"{source}: unreadable after data row {rows_read}: {error}") from None
        if not block:
            return
        lines = list(islice(texts, rows.line_num - lines_read))
        yield block, lines if len(lines) == len(block) else _record_texts(lines, dialect.delimiter)
        rows_read += len(block)


def _record_texts(lines: list[str], delimiter: str) -> list[str]:
    """The text of each record in ``lines``, where some quoted field spans lines (so records are not lines)."""
    rows = csv.reader(lines, delimiter=delimiter)
    texts = []
    start = 0
    for _ in rows:
        texts.append("".join(lines[start : rows.line_num]))
        start = rows.line_num
    return texts


def _csv_text(rows: Iterable[Iterable[object]], dialect: CsvDialect) -> str:
    """Rows as CSV text in ``dialect``, to be written in one call."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=dialect.delimiter, lineterminator=dialect.line_terminator).writerows(rows)
    return buffer.getvalue()


def _filter_rows(
    blocks: Iterable[tuple[list[list[str]], list[str]]],
    column: int,
    suppression: SuppressionSet,
    clean_file: IO[str],
    report_file: IO[str],
    dialect: CsvDialect,
) -> tuple[int, int, int]:
    """Write each block's kept rows and report rows; return rows in, rows out, rows suppressed."""
    rows_in = rows_out = suppressed = 0
    for block, row_texts in blocks:
        keep, unsubscribed, invalid = _judge_block(block, column, suppression, first_row=rows_in + 1)
        clean_file.write("".join(compress(row_texts, keep)))
        report_file.write(_csv_text(merge(unsubscribed, invalid), dialect))
        rows_in += len(block)
        rows_out += keep.count(True)
        suppressed += len(unsubscribed)
    return rows_in, rows_out, suppressed


def _judge_block(
    block: list[list[str]], column: int, suppression: SuppressionSet, first_row: int
) -> tuple[list[bool], list[ReportRow], list[ReportRow]]:
    """Which rows to keep, and the report rows (in row order) of those left out as unsubscribed or invalid.

    Plain ASCII addresses, nearly all of them, are decided by C-level maps over the block (hashed,
    in a hashed set, by C-level maps too); only the other rows go through the full normalisation
    one by one.
    """
    emails = _emails(block, column)
    keys = _lowered_keys(emails)
    plain = list(map(bool, map(_PLAIN_ADDRESS.fullmatch, keys)))
    entries = suppression._entry_keys(keys)  # a non-plain row's entry is never looked at
    ids = suppression._entries
    listed = list(map(ids.__contains__, entries))
    keep = list(map(gt, plain, listed))  # plain and not listed
    positions = range(len(block))
    unsubscribed: list[ReportRow] = [
        (first_row + index, emails[index], UNSUBSCRIBED, ids[entries[index]])
        for index in compress(positions, map(and_, plain, listed))
    ]
    kept, more_unsubscribed, invalid = _judge_in_full(
        compress(positions, map(not_, plain)), emails, suppression, first_row
    )
    for index in kept:
        keep[index] = True
    unsubscribed = sorted(unsubscribed + more_unsubscribed)
    return keep, unsubscribed, invalid


def _judge_in_full(
    indices: Iterable[int], emails: list[str], suppression: SuppressionSet, first_row: int
) -> tuple[list[int], list[ReportRow], list[ReportRow]]:
    """The rows at ``indices`` through the full normalisation: those to keep, and the report rows of the others."""
    kept: list[int] = []
    unsubscribed: list[ReportRow] = []
    invalid: list[ReportRow] = []
    for index in indices:
        try:
            listing = suppression._listing(_normalize_in_full(emails[index]))
        except InvalidEmailError:
            invalid.append((first_row + index, emails[index], INVALID_EMAIL, None))
            continue
        if listing is None:
            kept.append(index)
        else:
            unsubscribed.append((first_row + index, emails[index], UNSUBSCRIBED, listing.unsubscribe_id))
    return kept, unsubscribed, invalid


def _lowered_keys(emails: list[str]) -> list[str]:
    """``email.strip().lower()`` of each; one ``lower()`` call for the block unless a field holds a line break.

    Lower-casing the joined text gives each address what its own ``lower()`` would: the one rule
    that looks at neighbours (a final sigma) stops at the ``"\\n"``, which has no case.
    """
    keys = "\n".join(emails).lower().split("\n")
    if len(keys) != len(emails):
        keys = list(map(str.lower, emails))
    return list(map(str.strip, keys))


def _emails(block: list[list[str]], column: int) -> list[str]:
    """The address field of each row; ``""`` for a row too short to have one."""
    if min(map(len, block)) > column:
        return list(map(itemgetter(column), block))
    return [row[column] if len(row) > column else "" for row in block]
