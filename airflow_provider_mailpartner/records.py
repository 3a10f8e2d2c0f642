"""The values the hook returns, and the checks that turn raw API fields into them."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import Generic, NamedTuple, NotRequired, TypedDict, TypeVar, cast
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


# Why an entry is odd. An odd entry that has an address is kept, flagged with its reasons; one without
# an address is counted and skipped (nothing to suppress). Whole-answer checks are not affected.
ID_NOT_USABLE = "id_not_usable"
"""The id is missing, not an integer of at most 18 digits, or below 1: ``id`` is null."""
DATE_NOT_READABLE = "date_not_readable"
"""``createdAt`` is missing or not ``YYYY-MM-DD HH:MM:SS`` (an ISO date with ``T``, say): ``created_at`` is null."""
NOT_AN_EMAIL = "not_an_email"
"""The address has no ``@`` (a phone number, say): kept as sent; no contact can match it."""
NO_ADDRESS = "no_address"
"""No address at all (missing, empty, not text, or the entry is neither an object nor text): the entry is skipped."""
ADDRESS_NOT_TEXT = "address_not_text"
"""The address holds a lone surrogate (a ``\\ud800`` escape): no file can hold it, the entry is skipped."""
ODD_REASONS = {
    ID_NOT_USABLE: "id missing, not an integer or below 1: kept with a null id",
    DATE_NOT_READABLE: "createdAt missing or not 'YYYY-MM-DD HH:MM:SS': kept with a null created_at",
    NOT_AN_EMAIL: "address without '@' (a phone number?): kept as sent, no contact can match it",
    NO_ADDRESS: "no address (missing, empty, not text, or an entry that is neither an object nor text): skipped",
    ADDRESS_NOT_TEXT: "address holding a lone surrogate: skipped",
}
"""Every reason an entry is odd, with what becomes of such an entry (the WARNING line says it)."""
SKIPPED_REASONS = frozenset({NO_ADDRESS, ADDRESS_NOT_TEXT})


class UnsubscribeRecord(TypedDict):
    """The stable shape of an unsubscribe in XCom and files: ISO 8601 date with offset.

    An odd entry (see :data:`ODD_REASONS`) carries ``odd``, its reasons joined by ``,``; its ``id``
    or ``created_at`` is null when that field was the odd one.
    """

    id: int | None
    email: str
    created_at: str | None
    odd: NotRequired[str]


class Unsubscribe(NamedTuple):
    """One entry of the MailPartner unsubscribe list.

    ``email`` is the address as MailPartner sent it, stripped of surrounding white space only;
    ``created_at`` is aware, in the connection's time zone. An odd entry has ``odd`` (its reasons,
    joined by ``,``) and a null ``id`` or ``created_at`` when those could not be read. (A named
    tuple: immutable, and cheap to build a million times.)
    """

    id: int | None
    email: str
    created_at: datetime | None
    odd: str | None = None

    def as_record(self) -> UnsubscribeRecord:
        created = None if self.created_at is None else self.created_at.isoformat()
        record: UnsubscribeRecord = {"id": self.id, "email": self.email, "created_at": created}
        if self.odd:
            record["odd"] = self.odd
        return record


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


class ListEntries(Iterator[_Item]):
    """A list's entries, streamed; ``odd_entries`` counts the odd ones read so far, by reason.

    The counts are final once the iterator is exhausted. Iterating it is the C loop of
    ``itertools.chain`` over the reader's batches: no Python call per entry.
    """

    def __init__(self, batches: Iterable[list[_Item]], odd_entries: Counter[str]) -> None:
        self._entries = chain.from_iterable(batches)
        self.odd_entries = odd_entries

    def __iter__(self) -> Iterator[_Item]:
        return self._entries

    def __next__(self) -> _Item:
        return next(self._entries)


class RecordError(ValueError):
    """A field of an answer is missing or malformed; the hook turns it into a response error."""


class CheckedEntry(NamedTuple):
    """One raw entry after the checks: the fields that could be read, and what was odd about it.

    ``problems`` maps each reason to the text a strict reader refuses the answer with (no
    address in it: that is personal data).
    """

    id: int | None
    email: str | None  # None: nothing to keep
    date_text: str | None
    naive: datetime | None
    problems: dict[str, str]

    def refused(self) -> RecordError:
        return RecordError(next(iter(self.problems.values())))

    @property
    def odd(self) -> str | None:
        return ",".join(self.problems) or None


def check_entry(raw: object) -> CheckedEntry:
    """The reference checks of one raw list entry (from JSON or positional XML); never raises."""
    entry_id: object
    email: object
    created: object
    if type(raw) is Entry:
        entry_id, email, created = raw.id, raw.email, raw.createdAt
    elif isinstance(raw, dict):
        entry_id, email, created = raw.get("id"), raw.get("email"), raw.get("createdAt")
    elif isinstance(raw, str):  # the address alone, not in an object: kept, it may be someone's opt-out
        entry_id, email, created = None, raw, None
    else:
        return CheckedEntry(None, None, None, None, {NO_ADDRESS: f"an entry is not an object: {_short(raw)}"})
    problems: dict[str, str] = {}
    number = strict_int(entry_id)
    if isinstance(raw, str):
        problems[ID_NOT_USABLE] = "an entry is not an object: text"  # (never the text: personal data)
    elif number is None:
        problems[ID_NOT_USABLE] = f"id is not an integer of at most 18 digits: {_short(entry_id)}"
    elif number < 1:
        problems[ID_NOT_USABLE], number = f"id is not a positive integer: {number}", None
    address = _address(email, problems)
    text, naive = _naive_api_datetime(created, problems)
    return CheckedEntry(number, address, text, naive, problems)


def _address(email: object, problems: dict[str, str]) -> str | None:
    """The address as sent, stripped; None (with the reason) when there is none to keep."""
    if isinstance(email, (int, float)) and not isinstance(email, bool):
        email = str(email)  # a phone number sent as a JSON number
    if type(email) is not str or not (email := email.strip()):
        shown = repr(email) if email in ("", None) else type(email).__name__  # (never the text: personal data)
        problems[NO_ADDRESS] = f"email is missing or empty: {shown}"
        return None
    if not email.isascii() and _SURROGATE.search(email):
        problems[ADDRESS_NOT_TEXT] = "email holds a lone surrogate (a \\ud800-\\udfff escape): it is not text"
        return None
    if "@" not in email:
        problems[NOT_AN_EMAIL] = "email has no '@'"
    return email


def parse_unsubscribe(raw: object, zone: ZoneInfo, *, strict: bool = False) -> Unsubscribe | None:
    """One raw list entry as the value (the reference the fast :meth:`RecordParser.parse` agrees with)."""
    return RecordParser(zone, strict=strict).unsubscribe(raw)


def strict_int(value: object) -> int | None:
    """The one reading of an integer field: a JSON integer, or ASCII digits (XML carries text), of at most 18 digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -_INTEGER_LIMIT < value < _INTEGER_LIMIT else None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def usable_id(value: object) -> int | None:
    """An entry's id when it can be one: a positive :func:`strict_int`."""
    number = strict_int(value)
    return number if number is not None and number > 0 else None


def parse_int(value: object, name: str) -> int:
    number = strict_int(value)
    if number is None:
        raise RecordError(f"{name} is not an integer of at most 18 digits: {_short(value)}")
    return number


def _naive_api_datetime(value: object, problems: dict[str, str]) -> tuple[str | None, datetime | None]:
    """``YYYY-MM-DD HH:MM:SS`` (no zone): the trimmed text and the naive datetime it names, or (None, None)."""
    if isinstance(value, str):
        text = value.strip()
        if _API_DATE.fullmatch(text):
            try:
                return text, datetime.fromisoformat(text)
            except ValueError:  # a well-shaped impossible date, such as 2015-02-30
                pass
    problems[DATE_NOT_READABLE] = f"createdAt is not a 'YYYY-MM-DD HH:MM:SS' date: {_short(value)}"
    return None, None


class RecordParser:
    """Builds the XCom/file shape of list entries directly, with no datetime kept per entry.

    The same checks as :func:`parse_unsubscribe`, and the same instant: ``created_at`` is what
    ``parse_unsubscribe(raw, zone).created_at.isoformat()`` gives, at a fraction of the cost. The
    UTC offset is worked out once per local day: a day whose every hour starts at the same offset,
    and ends at it, has that offset throughout (zones change offset at most once an hour). Days
    that hold a change are worked out per entry.

    Odd entries are kept, flagged, and counted by reason in ``odd_entries`` (``strict``: refused);
    :meth:`parse` gives None for one without an address, counted too.
    """

    def __init__(self, zone: ZoneInfo, *, strict: bool = False) -> None:
        self.zone = zone
        self.strict = strict
        self.odd_entries: Counter[str] = Counter()
        self._suffixes: dict[str, str | None] = {}

    def parse(self, raw: object) -> UnsubscribeRecord | None:
        """One raw entry (an :class:`Entry`, or anything a reader decoded) as a record; see the class."""
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
        return self._checked(check_entry(raw))

    def unsubscribe(self, raw: object) -> Unsubscribe | None:
        """The same entry as an :class:`Unsubscribe` (a datetime each: the hook's ``iter_unsubscribes``)."""
        checked = check_entry(raw)
        if not self._kept(checked):
            return None
        naive, moment = checked.naive, None
        if naive is not None:  # (the constructor is twice as fast as naive.replace)
            moment = datetime(
                naive.year, naive.month, naive.day, naive.hour, naive.minute, naive.second, tzinfo=self.zone
            )
        return Unsubscribe(checked.id, cast(str, checked.email), moment, checked.odd)

    def _checked(self, checked: CheckedEntry) -> UnsubscribeRecord | None:
        if not self._kept(checked):
            return None
        created = None
        if checked.date_text is not None and checked.naive is not None:
            created = self.isoformat(checked.date_text, checked.naive)
        record: UnsubscribeRecord = {"id": checked.id, "email": cast(str, checked.email), "created_at": created}
        if checked.odd:
            record["odd"] = checked.odd
        return record

    def _kept(self, checked: CheckedEntry) -> bool:
        """Whether the entry is kept: counted when odd (a skipped one by why it was skipped), refused when odd
        and ``strict``."""
        kept = checked.email is not None
        if checked.problems:
            if self.strict:
                raise checked.refused()
            self.odd_entries.update(checked.problems.keys() if kept else checked.problems.keys() & SKIPPED_REASONS)
        return kept

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
