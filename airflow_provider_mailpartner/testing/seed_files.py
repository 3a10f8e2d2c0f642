"""Reading seed entries from a file: JSON Lines, a JSON array, or CSV with an ``email`` column.

The provider's own exports (``id``, ``email``, ``created_at`` with an offset) read back as they are,
so a captured list can be replayed. Rows are yielded one by one, never held all at once.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

_JSON_LINES_SUFFIXES = frozenset({".jsonl", ".ndjson"})


def read_seed_file(path: str | os.PathLike[str]) -> Iterator[dict[str, object]]:
    """Yield one dict per entry of ``path``.

    The format is chosen by suffix (``.jsonl``/``.ndjson``, ``.json``, ``.csv``), else by the first
    non-blank character (``{`` JSON Lines, ``[`` JSON array, anything else CSV). Blank CSV cells and
    blank JSON lines are skipped.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix in _JSON_LINES_SUFFIXES:
        yield from _read_json_lines(file)
    elif suffix == ".csv":
        yield from _read_csv(file)
    else:
        first = _first_character(file)
        if first == "[":
            yield from _read_json_array(file)
        elif first == "{":
            yield from _read_json_lines(file)
        else:
            yield from _read_csv(file)


def _first_character(file: Path) -> str:
    with file.open(encoding="utf-8-sig") as handle:
        for line in handle:
            if line.strip():
                return line.lstrip()[0]
    return ""


def _read_json_lines(file: Path) -> Iterator[dict[str, object]]:
    with file.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"{file.name} line {number}: expected a JSON object")
            yield row


def _read_json_array(file: Path) -> Iterator[dict[str, object]]:
    with file.open(encoding="utf-8-sig") as handle:
        rows = json.load(handle)
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError(f"{file.name}: expected a JSON array of objects")
    yield from rows


def _read_csv(file: Path) -> Iterator[dict[str, object]]:
    with file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "email" not in reader.fieldnames:
            raise ValueError(f"{file.name}: a CSV seed file needs an 'email' column")
        for row in reader:
            yield {key: value for key, value in row.items() if key and value not in (None, "")}
