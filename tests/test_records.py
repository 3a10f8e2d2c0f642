"""The fast record path agrees with the datetime path, wherever and whenever an entry was made."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailpartner.records import RecordError, RecordParser, parse_unsubscribe

ZONES = ["Europe/Paris", "UTC", "Australia/Lord_Howe", "America/St_Johns", "Asia/Kathmandu", "Africa/Casablanca"]
TRANSITIONS = [
    "2021-03-28 01:59:59",
    "2021-03-28 02:30:00",  # does not exist in Paris (clocks jump from 02:00 to 03:00)
    "2021-03-28 03:00:00",
    "2021-10-31 01:59:59",
    "2021-10-31 02:30:00",  # happens twice in Paris (read as the first, fold=0)
    "2021-10-31 03:00:00",
    "2021-04-04 01:45:00",  # Lord Howe moves by 30 minutes at 02:00
    "2021-10-03 02:15:00",
]


def entry(created: str) -> dict[str, object]:
    return {"id": 7, "email": " someone@example.com ", "createdAt": created}


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("created", TRANSITIONS)
def test_fast_records_equal_the_datetime_path_around_offset_changes(zone_name, created):
    zone = ZoneInfo(zone_name)
    parser = RecordParser(zone)
    for text in (created, created):  # the second time, from the cache
        assert parser.parse(entry(text)) == parse_unsubscribe(entry(text), zone).as_record()


@settings(max_examples=400, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    neighbours=st.lists(st.integers(-7200, 7200), max_size=5),
)
def test_fast_records_equal_the_datetime_path_at_any_moment(zone_name, moment, neighbours):
    zone = ZoneInfo(zone_name)
    parser = RecordParser(zone)
    for offset in [0, *neighbours]:
        text = (moment + timedelta(seconds=offset)).replace(microsecond=0).isoformat(sep=" ")
        assert parser.parse(entry(text)) == parse_unsubscribe(entry(text), zone).as_record()


@pytest.mark.parametrize(
    "raw",
    [
        {"id": 1, "email": "a@b.c", "createdAt": "2015-02-30 10:00:00"},
        {"id": 1, "email": "a@b.c", "createdAt": "2015-07-20T10:00:00"},
        {"id": 0, "email": "a@b.c", "createdAt": "2015-07-20 10:00:00"},
        {"id": 1, "email": "nobody", "createdAt": "2015-07-20 10:00:00"},
        {"id": 1, "email": "a@b.c", "createdAt": "2015-07-20 24:00:00"},
        {"id": 1, "email": "a@b.c", "createdAt": "2015-07-20 10:60:00"},
        {"id": 1, "email": "a@b.c", "createdAt": "2015-07-20 10:00:60"},
        {"id": 1, "email": "  ", "createdAt": "2015-07-20 10:00:00"},
        {"id": True, "email": "a@b.c", "createdAt": "2015-07-20 10:00:00"},
    ],
)
def test_both_paths_refuse_the_same_entries(raw):
    parser = RecordParser(ZoneInfo("Europe/Paris"))
    parser.parse({"id": 2, "email": "x@y.fr", "createdAt": "2015-07-20 09:00:00"})  # the day is now cached
    with pytest.raises(RecordError):
        parse_unsubscribe(raw, ZoneInfo("Europe/Paris"))
    with pytest.raises(RecordError):
        parser.parse(raw)
