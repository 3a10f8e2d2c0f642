"""The values the hook returns, and the checks that turn raw API fields into them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TypedDict
from zoneinfo import ZoneInfo

# ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits.
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_API_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


class UnsubscribeRecord(TypedDict):
    """The stable shape of an unsubscribe in XCom and files: ISO 8601 date with offset."""

    id: int
    email: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """One entry of the MailPartner unsubscribe list.

    ``email`` is the address as MailPartner sent it, stripped of surrounding white space only;
    ``created_at`` is aware, in the connection's time zone.
    """

    id: int
    email: str
    created_at: datetime

    def as_record(self) -> UnsubscribeRecord:
        return {"id": self.id, "email": self.email, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True, slots=True)
class Credits:
    """What ``GET /v1/me`` says about the account's remaining credit."""

    credit_mail: int
    currency: str
    balance: Decimal
    username: str | None = None


class Counted:
    """Passes entries through, counting them: how many were fetched, or written."""

    def __init__(self, entries: Iterable[Unsubscribe]) -> None:
        self._entries = entries
        self.count = 0

    def __iter__(self) -> Iterator[Unsubscribe]:
        for entry in self._entries:
            self.count += 1
            yield entry


class RecordError(ValueError):
    """A field of an answer is missing or malformed; the hook turns it into a response error."""


def parse_unsubscribe(raw: object, zone: ZoneInfo) -> Unsubscribe:
    """Check one raw list entry (from JSON or positional XML) and build the value."""
    if not isinstance(raw, dict):
        raise RecordError(f"an entry is not an object: {_short(raw)}")
    entry_id = parse_int(raw.get("id"), "id")
    if entry_id < 1:
        raise RecordError(f"id is not a positive integer: {entry_id}")
    return Unsubscribe(
        id=entry_id,
        email=_email(raw.get("email")),
        created_at=parse_api_datetime(raw.get("createdAt"), zone),
    )


def strict_int(value: object) -> int | None:
    """The one reading of an integer field: a JSON integer, or ASCII digits (XML carries text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def parse_int(value: object, name: str) -> int:
    number = strict_int(value)
    if number is None:
        raise RecordError(f"{name} is not an integer: {_short(value)}")
    return number


def parse_api_datetime(value: object, zone: ZoneInfo) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` with no zone, read as local time in ``zone``."""
    if isinstance(value, str):
        text = value.strip()
        if _API_DATE.fullmatch(text):
            try:
                return datetime.fromisoformat(text).replace(tzinfo=zone)
            except ValueError:  # a well-shaped impossible date, such as 2015-02-30
                pass
    raise RecordError(f"createdAt is not a 'YYYY-MM-DD HH:MM:SS' date: {_short(value)}")


def parse_decimal(value: object, name: str) -> Decimal:
    if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return number
    raise RecordError(f"{name} is not a decimal number: {_short(value)}")


def parse_text(value: object, name: str) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise RecordError(f"{name} is missing or empty: {_short(value)}")


def _email(value: object) -> str:
    email = parse_text(value, "email")
    if "@" not in email:
        raise RecordError(f"email has no '@': {_short(email)}")
    return email


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
