"""The addresses to put on the unsubscribe list: read from a templated value or a file, checked, de-duplicated.

A file is one address per line, or a CSV (any separator) whose header names the address column,
read as spreadsheets write it (UTF-8, UTF-8 with a BOM or cp1252, found from the file's start).
"""

from __future__ import annotations

import ast
import csv
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from airflow_provider_mailpartner.contact_files import (
    HEAD_BYTES,
    ContactFileError,
    detect_delimiter,
    find_email_column,
    is_email_column_name,
    sniff_dialect,
    unreadable,
)
from airflow_provider_mailpartner.suppression import InvalidEmailError, normalize_email

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


def address_values(emails: Iterable[str] | str | None) -> Iterator[str]:
    """The addresses in ``emails``: a list, or text (a rendered list, or addresses separated by
    commas, semicolons or white space: a templated XCom value arrives as text)."""
    if emails is None:
        return
    if not isinstance(emails, str):
        yield from emails
        return
    text = emails.strip()
    if text.startswith("["):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, (list, tuple)):
            yield from map(str, value)
            return
    yield from (part for part in re.split(r"[,;\s]+", text) if part)


def addresses_in_file(
    path: ObjectStoragePath, encoding: str | None = None, email_column: str | None = None
) -> list[str]:
    """The file's addresses (see :func:`addresses_in_text`); a file with none is refused, not read as "none"."""
    addresses = list(addresses_in_text(file_text(path, encoding), str(path), email_column))
    if not any(address.strip() for address in addresses):
        raise ValueError(f"{path} holds no address: an empty file is a mistake, not a success")
    return addresses


def file_text(path: ObjectStoragePath, encoding: str | None = None) -> str:
    """The file's text, in the encoding found from its start (UTF-8, UTF-8 with a BOM, cp1252) unless given."""
    data = path.read_bytes()
    found = sniff_dialect(data[:HEAD_BYTES], str(path), encoding=encoding).encoding
    try:
        return data.decode(found)
    except UnicodeDecodeError as error:
        raise ContactFileError(unreadable(str(path), error, found, f"at offset {error.start}")) from None


def addresses_in_text(text: str, source: str = "the input", email_column: str | None = None) -> Iterator[str]:
    """One address per line, or a CSV whose header names the address column (any separator, as in suppression).

    A one-cell first line that is not a column name is an address; ``email_column`` says it is a CSV.
    """
    lines = text.splitlines()
    start = next((number for number, line in enumerate(lines) if line.strip()), len(lines))
    header_line = lines[start] if start < len(lines) else ""
    delimiter = detect_delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter), [])
    if email_column is None and len(header) < 2 and not any(map(is_email_column_name, header)):
        yield from lines
        return
    column = find_email_column(header, source, email_column)
    for row in csv.reader(lines[start + 1 :], delimiter=delimiter):
        yield row[column] if column < len(row) else ""


def unique_addresses(candidates: Iterable[object]) -> tuple[list[str], list[str]]:
    """Trimmed addresses, the first spelling of each (by :func:`normalize_email`), and the invalid inputs.

    Both lists keep the input's order.
    """
    seen: set[str] = set()
    unique: list[str] = []
    invalid: list[str] = []
    for candidate in candidates:
        text = str(candidate).strip() if candidate is not None else ""
        if not text:
            continue
        try:
            key = normalize_email(text)
        except InvalidEmailError:
            invalid.append(text)
            continue
        if key not in seen:
            seen.add(key)
            unique.append(text)
    return unique, invalid
