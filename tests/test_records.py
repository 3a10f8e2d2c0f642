"""The fast record path agrees with the datetime path, wherever and whenever an entry was made."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailpartner.records import Entry, RecordError, RecordParser, parse_unsubscribe

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
def test_both_paths_refuse_the_same_entries_when_strict(raw):
    parser = RecordParser(ZoneInfo("Europe/Paris"), strict=True)
    parser.parse({"id": 2, "email": "x@y.fr", "createdAt": "2015-07-20 09:00:00"})  # the day is now cached
    with pytest.raises(RecordError):
        parse_unsubscribe(raw, ZoneInfo("Europe/Paris"), strict=True)
    with pytest.raises(RecordError):
        parser.parse(raw)


PARIS = ZoneInfo("Europe/Paris")
GOOD_DATE = "2015-07-20 10:19:45"
# Each odd entry, what the tolerant parser makes of it (None: skipped), and the reasons it counts.
ODD_ENTRIES = [
    (
        {"id": 0, "email": "a@b.fr", "createdAt": GOOD_DATE},
        (None, "a@b.fr", "2015-07-20T10:19:45+02:00"),
        ["id_not_usable"],
    ),
    (
        {"id": "x7", "email": "a@b.fr", "createdAt": GOOD_DATE},
        (None, "a@b.fr", "2015-07-20T10:19:45+02:00"),
        ["id_not_usable"],
    ),
    ({"email": "a@b.fr", "createdAt": GOOD_DATE}, (None, "a@b.fr", "2015-07-20T10:19:45+02:00"), ["id_not_usable"]),
    ({"id": 3, "email": "a@b.fr", "createdAt": "2015-07-20T10:19:45"}, (3, "a@b.fr", None), ["date_not_readable"]),
    ({"id": 3, "email": "a@b.fr"}, (3, "a@b.fr", None), ["date_not_readable"]),
    (
        {"id": 3, "email": " +33612345678 ", "createdAt": GOOD_DATE},
        (3, "+33612345678", "2015-07-20T10:19:45+02:00"),
        ["not_an_email"],
    ),
    (
        {"id": 3, "email": 33612345678, "createdAt": GOOD_DATE},
        (3, "33612345678", "2015-07-20T10:19:45+02:00"),
        ["not_an_email"],
    ),
    (
        {"id": 0, "email": "phone", "createdAt": "x"},
        (None, "phone", None),
        ["id_not_usable", "not_an_email", "date_not_readable"],
    ),
    ({"id": 3, "email": "", "createdAt": GOOD_DATE}, None, ["no_address"]),
    ({"id": 3, "createdAt": GOOD_DATE}, None, ["no_address"]),
    ({"id": 3, "email": ["a@b.fr"], "createdAt": GOOD_DATE}, None, ["no_address"]),
    ("a@b.fr", (None, "a@b.fr", None), ["id_not_usable", "date_not_readable"]),  # the address alone: kept
    (["a@b.fr"], None, ["no_address"]),
    ({"id": 0, "email": "", "createdAt": "x"}, None, ["no_address"]),  # counted only by why it was skipped
    ({"id": 3, "email": "a\ud800@b.fr", "createdAt": GOOD_DATE}, None, ["address_not_text"]),
]


@pytest.mark.parametrize(("raw", "expected", "reasons"), ODD_ENTRIES)
def test_an_odd_entry_is_kept_flagged_or_skipped_and_counted_by_both_paths(raw, expected, reasons):
    parser = RecordParser(PARIS)
    record = parser.parse(raw)
    value = parse_unsubscribe(raw, PARIS, strict=False)
    if expected is None:
        assert record is None
        assert value is None
    else:
        assert (record["id"], record["email"], record["created_at"]) == expected
        assert record["odd"] == ",".join(reasons)
        assert value is not None
        assert value.as_record() == record
    assert parser.odd_entries == dict.fromkeys(reasons, 1)


def test_a_typed_entry_with_an_odd_field_takes_the_checked_path():
    # msgspec types these (an int id of 0, a str date with T): the fast path must not pass them.
    parser = RecordParser(PARIS)
    parser.parse(Entry(id=1, email="a@b.fr", createdAt=GOOD_DATE))  # caches the day
    assert parser.parse(Entry(id=0, email="a@b.fr", createdAt=GOOD_DATE))["odd"] == "id_not_usable"
    assert parser.parse(Entry(id=2, email="a@b.fr", createdAt="2015-07-20T10:19:45"))["odd"] == "date_not_readable"
    assert parser.parse(Entry(id="0", email="a@b.fr", createdAt=GOOD_DATE))["odd"] == "id_not_usable"
    assert parser.odd_entries == {"id_not_usable": 2, "date_not_readable": 1}


def test_good_entries_carry_no_odd_field_and_count_nothing():
    parser = RecordParser(PARIS)
    assert parser.parse({"id": 1, "email": "a@b.fr", "createdAt": GOOD_DATE}) == {
        "id": 1,
        "email": "a@b.fr",
        "created_at": "2015-07-20T10:19:45+02:00",
    }
    assert not parser.odd_entries


def test_refusal_texts_never_quote_an_address():
    for raw in ({"id": 1, "email": "jean.phone", "createdAt": GOOD_DATE}, {"id": 1, "email": 33612345678}):
        with pytest.raises(RecordError) as info:
            parse_unsubscribe(raw, PARIS, strict=True)
        assert "jean" not in str(info.value)
        assert "336" not in str(info.value)
