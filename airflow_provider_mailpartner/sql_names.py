"""The names the SQL mirror builds its statements from, checked: light enough for DAG-parse time."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,62}"
_TABLE, _COLUMN = re.compile(rf"{_NAME}(\.{_NAME})?"), re.compile(_NAME)


def checked_identifier(name: str, what: str) -> str:
    """``name`` when it is a plain SQL name (``table`` or ``schema.table``); the statements are built from it."""
    if not _TABLE.fullmatch(name):
        raise ValueError(f"{what} {name!r} is not a plain SQL name (letters, digits, _; schema.table at most)")
    return name


def checked_column(name: str, what: str) -> str:
    """``name`` when it is a plain SQL column name."""
    if not _COLUMN.fullmatch(name):
        raise ValueError(f"{what} {name!r} is not a plain SQL name (letters, digits, _)")
    return name


@dataclass(frozen=True)
class ContactMarking:
    """A contacts table whose ``mark_column`` holds when the contact's address was listed (NULL when it is not).

    The column is the mirror's: it sets it for every contact whose address is listed (to the
    earliest ``created_at`` of that address) and clears it for every other.
    """

    table: str
    key_column: str = "id"
    email_column: str = "email"
    mark_column: str = "unsubscribed_at"

    def __post_init__(self) -> None:
        checked_identifier(self.table, "contacts_table")
        for what, name in (
            ("contacts_key_column", self.key_column),
            ("contacts_email_column", self.email_column),
            ("contacts_mark_column", self.mark_column),
        ):
            checked_column(name, what)
