"""The values the hook returns, and the checks that turn raw API fields into them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Generic, NamedTuple, TypedDict, TypeVar
from zoneinfo import ZoneInfo

import msgspec

# ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits.
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_INTEGER_LIMIT = 10**18  # what 18 digits hold: a JSON integer gets the bound XML's text has
_Item = TypeVar("_Item")
_OFFSET_CACHE_DAYS = 4096
# Where a day's offset is read: each hour's start, and the day's last second.
_DAY_STEPS = (*(timedelta(hours=hour) for hour in range(24)), timedelta(hours=23, minutes=59, seconds=59))
_API_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
# Every valid " HH" and ":MM:SS" of an API date's time: two set lookups check a time of day.
_HOURS = frozenset(f" {hour:02}" for hour in range(24))
_MINUTES_SECONDS = frozenset(f":{minute:02}:{second:02}" for minute in range(60) for second in range(60))
# JSON's "\ud800" escapes decode to lone surrogates: not text, and no file or log can hold them.
_SURROGATE = re.compile("[\ud800-\udfff]")


class Entry(msgspec.Struct, gc=False):
    """A raw list entry as both readers give it: fields of the right types, values not yet checked.

    The JSON reader has msgspec build it in C; an entry msgspec cannot type (an id that is a
    float, say) comes as the decoded value instead, for :func:`parse_unsubscribe` and
    :class:`RecordParser` to say what is wrong with it. Positional XML carries only text, so
    the id may be text; the checks accept ASCII digits.
    """

    id: int | str
    email: str
    createdAt: str  # (the API's name)


class UnsubscribeRecord(TypedDict):
    """The stable shape of an unsubscribe in XCom and files: ISO 8601 date with offset."""

    id: int
    email: str
    created_at: str


class Unsubscribe(NamedTuple):
    """One entry of the MailPartner unsubscribe list.

    ``email`` is the address as MailPartner sent it, stripped of surrounding white space only;
    ``created_at`` is aware, in the connection's time zone. (A named tuple: immutable, and
    cheap to build a million times.)
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


class Counted(Generic[_Item]):
    """Passes entries through, counting them (how many were fetched, or read): read ``count`` at the end."""

    def __init__(self, entries: Iterable[_Item]) -> None:
        self._entries = entries
        self.count = 0

    def __iter__(self) -> Iterator[_Item]:
        for entry in self._entries:
            self.count += 1
            yield entry


class RecordError(ValueError):
    """A field of an answer is missing or malformed; the hook turns it into a response error."""


def parse_unsubscribe(raw: object, zone: ZoneInfo) -> Unsubscribe:
    """Check one raw list entry (from JSON or positional XML) and build the value."""
    entry_id, email, _, naive = _checked_entry(raw)
    moment = datetime(naive.year, naive.month, naive.day, naive.hour, naive.minute, naive.second, tzinfo=zone)
    return Unsubscribe(entry_id, email, moment)  # (the constructor is twice as fast as naive.replace)


def _checked_entry(raw: object) -> tuple[int, str, str, datetime]:
    """Id, address, date text and naive date of one entry, or RecordError: the reference checks."""
    entry_id, email, created = _raw_fields(raw)
    number = parse_int(entry_id, "id")
    if number < 1:
        raise RecordError(f"id is not a positive integer: {number}")
    if type(email) is not str or not (email := email.strip()):
        raise RecordError(f"email is missing or empty: {_short(email)}")
    if "@" not in email:
        raise RecordError("email has no '@'")  # the text itself stays out of logs: it is personal data
    if not email.isascii() and _SURROGATE.search(email):
        raise RecordError("email holds a lone surrogate (a \\ud800-\\udfff escape): it is not text")
    text, naive = _naive_api_datetime(created)
    return number, email, text, naive


def _raw_fields(raw: object) -> tuple[object, object, object]:
    if type(raw) is Entry:
        return raw.id, raw.email, raw.createdAt
    if not isinstance(raw, dict):
        raise RecordError(f"an entry is not an object: {_short(raw)}")
    return raw.get("id"), raw.get("email"), raw.get("createdAt")


def strict_int(value: object) -> int | None:
    """The one reading of an integer field: a JSON integer, or ASCII digits (XML carries text), of at most 18 digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -_INTEGER_LIMIT < value < _INTEGER_LIMIT else None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def parse_int(value: object, name: str) -> int:
    number = strict_int(value)
    if number is None:
        raise RecordError(f"{name} is not an integer of at most 18 digits: {_short(value)}")
    return number


def _naive_api_datetime(value: object) -> tuple[str, datetime]:
    """``YYYY-MM-DD HH:MM:SS`` (no zone): the trimmed text and the naive datetime it names."""
    if isinstance(value, str):
        text = value.strip()
        if _API_DATE.fullmatch(text):
            try:
                return text, datetime.fromisoformat(text)
            except ValueError:  # a well-shaped impossible date, such as 2015-02-30
                pass
    raise RecordError(f"createdAt is not a 'YYYY-MM-DD HH:MM:SS' date: {_short(value)}")


class RecordParser:
    """Builds the XCom/file shape of list entries directly, with no datetime kept per entry.

    The same checks as :func:`parse_unsubscribe`, and the same instant: ``created_at`` is what
    ``parse_unsubscribe(raw, zone).created_at.isoformat()`` gives, at a fraction of the cost. The
    UTC offset is worked out once per local day: a day whose every hour starts at the same offset,
    and ends at it, has that offset throughout (zones change offset at most once an hour). Days
    that hold a change are worked out per entry.
    """

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._suffixes: dict[str, str | None] = {}

    def parse(self, raw: object) -> UnsubscribeRecord:
        """One raw entry (an :class:`Entry`, or anything a reader decoded) as a record, or :class:`RecordError`."""
        if type(raw) is Entry:  # the usual case, checked here: this runs a million times a list
            entry_id, email, text = raw.id, raw.email.strip(), raw.createdAt
            if type(entry_id) is str and entry_id.isascii() and entry_id.isdigit() and len(entry_id) <= 18:
                entry_id = int(entry_id)  # positional XML's ids are text
            suffix = self._suffixes.get(text[:10])  # (only days already read whole are there)
            if (
                suffix
                and text[10:13] in _HOURS
                and text[13:] in _MINUTES_SECONDS
                and type(entry_id) is int
                and 0 < entry_id < _INTEGER_LIMIT
                and "@" in email
                and (email.isascii() or not _SURROGATE.search(email))
            ):
                return {"id": entry_id, "email": email, "created_at": f"{text[:10]}T{text[11:]}{suffix}"}
        entry_id, email, text, naive = _checked_entry(raw)
        return {"id": entry_id, "email": email, "created_at": self.isoformat(text, naive)}

    def isoformat(self, text: str, naive: datetime) -> str:
        """The ISO form of ``naive`` read in the zone (``text`` is its ``YYYY-MM-DD HH:MM:SS``)."""
        day = text[:10]
        try:
            suffix = self._suffixes[day]
        except KeyError:
            if len(self._suffixes) >= _OFFSET_CACHE_DAYS:  # lists come in date order: recent days suffice
                self._suffixes.clear()
            suffix = self._suffixes[day] = self._day_suffix(naive)
        if suffix is None:
            return naive.replace(tzinfo=self.zone).isoformat()
        return f"{day}T{text[11:]}{suffix}"

    def _day_suffix(self, naive: datetime) -> str | None:
        """The day's ``+HH:MM``, or None when its offset changes (read at each hour and at the day's last second)."""
        start = datetime(naive.year, naive.month, naive.day)
        # (utcoffset reads a naive moment as wall time in the zone)
        if len({self.zone.utcoffset(start + step) for step in _DAY_STEPS}) != 1:
            return None
        return start.replace(tzinfo=self.zone).isoformat()[len("YYYY-MM-DDTHH:MM:SS") :]


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


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
