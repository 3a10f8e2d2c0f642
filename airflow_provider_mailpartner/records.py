"""The values the hook returns, and the checks that turn raw API fields into them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TypedDict
from zoneinfo import ZoneInfo

API_DATE_LENGTH = len("2015-07-20 10:19:45")


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


class RecordError(ValueError):
    """A field of an answer is missing or malformed; the hook turns it into a response error."""


def parse_unsubscribe(raw: object, zone: ZoneInfo) -> Unsubscribe:
    """Check one raw list entry (from JSON or positional XML) and build the value."""
    if not isinstance(raw, dict):
        raise RecordError(f"an entry is not an object: {_short(raw)}")
    return Unsubscribe(
        id=parse_int(raw.get("id"), "id"),
        email=_email(raw.get("email")),
        created_at=parse_api_datetime(raw.get("createdAt"), zone),
    )


def parse_int(value: object, name: str) -> int:
    """An integer field; XML carries numbers as text, so digit strings are accepted too."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.lstrip("-").isdigit() and len(text) <= 19:
            return int(text)
    raise RecordError(f"{name} is not an integer: {_short(value)}")


def parse_api_datetime(value: object, zone: ZoneInfo) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` with no zone, read as local time in ``zone``."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) == API_DATE_LENGTH and text[10] == " ":
            try:
                return datetime.fromisoformat(text).replace(tzinfo=zone)
            except ValueError:
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
