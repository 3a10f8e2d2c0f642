"""The names the SQL mirror builds its statements from, checked: light enough for DAG-parse time."""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")


def checked_identifier(name: str, what: str) -> str:
    """``name`` when it is a plain SQL name (``table`` or ``schema.table``); the statements are built from it."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{what} {name!r} is not a plain SQL name (letters, digits, _; schema.table at most)")
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
        for what, name in (("contacts_table", self.table), ("a contacts column", self.key_column)):
            checked_identifier(name, what)
        checked_identifier(self.email_column, "a contacts column")
        checked_identifier(self.mark_column, "a contacts column")
