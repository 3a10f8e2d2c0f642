"""``createdAt`` values: ``YYYY-MM-DD HH:MM:SS`` Paris wall-clock strings, stored as integer seconds.

A million entries keep their dates in an ``array('q')`` (8 bytes each) instead of a million strings;
formatting back goes through a per-day cache and a table of the 86,400 times of day, so rendering a
million records stays fast.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PARIS: tzinfo
try:
    PARIS = ZoneInfo("Europe/Paris")
except ZoneInfoNotFoundError:  # no time-zone database (Windows without tzdata): winter time all year
    PARIS = timezone(timedelta(hours=1), "CET")
SECONDS_PER_DAY = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_day_strings: dict[int, str] = {}


def to_seconds(value: str | datetime) -> int:
    """Wall-clock seconds since 1970-01-01 00:00:00 (no zone) for a ``createdAt`` value.

    Accepts ``YYYY-MM-DD HH:MM:SS`` or any ISO 8601 form :meth:`datetime.fromisoformat` reads. An
    aware value (a string with an offset or an aware datetime) is converted to Europe/Paris wall
    time first, since that is how the service writes ``createdAt``; a naive one is taken as is.
    Fractions of a second are dropped.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a 'YYYY-MM-DD HH:MM:SS' or ISO 8601 date-time") from None
    else:
        raise TypeError(f"createdAt must be a str or a datetime, not {type(value).__name__}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(PARIS)
    day = moment.toordinal() - _EPOCH_ORDINAL
    return day * SECONDS_PER_DAY + moment.hour * 3600 + moment.minute * 60 + moment.second


def now_seconds() -> int:
    """The current Europe/Paris wall-clock time, as stored seconds."""
    return to_seconds(datetime.now(PARIS))


@functools.cache
def _times_of_day() -> tuple[str, ...]:
    return tuple(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))


def format_seconds(seconds: int) -> str:
    """The ``YYYY-MM-DD HH:MM:SS`` string for stored seconds."""
    day, second = divmod(seconds, SECONDS_PER_DAY)
    text = _day_strings.get(day)
    if text is None:
        text = date.fromordinal(day + _EPOCH_ORDINAL).isoformat()
        _day_strings[day] = text
    return f"{text} {_times_of_day()[second]}"
