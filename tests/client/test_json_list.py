from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from airflow_provider_mailpartner.client.envelope import DocumentError
from airflow_provider_mailpartner.client.json_fields import json_fields
from airflow_provider_mailpartner.client.json_list import json_events
from airflow_provider_mailpartner.records import Entry

ANSWER = {
    "success": True,
    "code": 200,
    "nbData": 3,
    "data": [
        {"id": 1, "email": "a@x.fr", "createdAt": "2015-07-20 10:19:45"},
        {"id": 22, "email": "é@x.fr", "createdAt": "2016-01-01 00:00:00"},
        {"id": 333, "email": "c@x.fr", "createdAt": "2017-12-31 23:59:59"},
    ],
}


def events_of(chunks: list[bytes]) -> list[tuple[str, str, object]]:
    """The events with batches of entries ("items") spread into one "item" each."""
    flat = []
    for kind, name, value in json_events(chunks):
        if kind == "items":
            flat += [("item", name, entry) for entry in value]  # type: ignore[attr-defined]
        else:
            flat.append((kind, name, value))
    return flat


def chunked(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
@pytest.mark.parametrize("indent", [None, 2])
def test_events_do_not_depend_on_where_chunks_split(size, indent):
    body = json.dumps(ANSWER, indent=indent, ensure_ascii=False).encode()
    events = events_of(chunked(body, size))
    assert events == [
        ("field", "success", True),
        ("field", "code", 200),
        ("field", "nbData", 3),
        ("data", "data", None),
        *[("item", "data", Entry(**record)) for record in ANSWER["data"]],
    ]


def test_a_number_split_across_chunks_is_read_whole():
    events = events_of([b'{"nbData": 12', b'345, "data": []}'])
    assert ("field", "nbData", 12345) in events


def test_fields_after_the_data_are_still_delivered():
    body = b'{"data": [{"id": 1}], "success": true, "code": 200}'
    assert [e[:2] for e in events_of([body])] == [
        ("data", "data"),
        ("item", "data"),
        ("field", "success"),
        ("field", "code"),
    ]


def test_empty_data_and_empty_object():
    assert events_of([b'{"data": []}']) == [("data", "data", None)]
    assert events_of([b"{}"]) == []


def test_a_small_answer_is_read_whole_with_decimals_and_nested_objects():
    body = b'\xef\xbb\xbf{"success": true, "credits": {"creditMail": 3, "balance": 10225.119}}'
    assert json_fields(body) == {"success": True, "credits": {"creditMail": 3, "balance": Decimal("10225.119")}}


def test_an_entry_msgspec_cannot_type_is_handed_on_as_decoded_for_the_record_checks():
    body = b'{"data": [{"id": 1.5, "email": "a@x.fr", "createdAt": "x"}, {"id": 2, "email": "b@x.fr"}]}'
    assert [value for kind, _, value in events_of([body]) if kind == "item"] == [
        {"id": Decimal("1.5"), "email": "a@x.fr", "createdAt": "x"},
        {"id": 2, "email": "b@x.fr"},
    ]


def test_a_key_given_twice_and_a_list_that_is_not_one_are_reported():
    with pytest.raises(DocumentError, match="the answer gives 'code' twice"):
        events_of([b'{"code": 200, "code": 500, "data": []}'])
    assert events_of([b'{"data": null}']) == [("field", "data", None)]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b"<html></html>",
        b'{"success": true',
        b'{"success": true,}',
        b'{"data": [1, 2',
        b'{"data": [1 2]}',
        b'{"a": 1} trailing',
        b"{1: 2}",
        b'{"a" 1}',
        b'{"s": "\xff\xfe"}',
        b'{"n": ' + b"9" * 5000 + b"}",
        b'{"deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_malformed_json_raises_document_error_only(body):
    with pytest.raises(DocumentError):
        events_of(chunked(body, 4096) or [b""])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ((b'"id": 30000, ', b'"id": 30000 '), "invalid JSON: Expecting ',' delimiter"),
        ((b"u30000@x.fr", b"u30000\xff@x.fr"), "not valid UTF-8"),
    ],
    ids=["missing-comma", "invalid-utf8"],
)
def test_a_broken_entry_deep_in_a_long_list_is_refused_at_once_with_the_decoders_reason(damage, message):
    entries = [{"id": i, "email": f"u{i}@x.fr", "createdAt": "2020-01-01 00:00:00"} for i in range(1, 60_001)]
    body = json.dumps({"success": True, "code": 200, "nbData": len(entries), "data": entries}).encode()
    with pytest.raises(DocumentError, match=message):
        events_of(chunked(body.replace(*damage), 65_536))


def long_list(count: int, between: bytes = b",", entry_extra: bytes = b"") -> bytes:
    entries = between.join(
        b'{"id": %d, "email": "u%d@x.fr", "createdAt": "2020-01-01 00:00:00"%s}'
        % (i, i, entry_extra if i == count // 2 else b"")
        for i in range(1, count + 1)
    )
    return b'{"success": true, "code": 200, "nbData": %d, "data": [%s]}' % (count, entries)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (long_list(3000, entry_extra=b', "x": ' + b"[" * 5000 + b"]" * 5000), "nested too deeply"),
        (long_list(3000, entry_extra=b', "note": "\xff"'), "not valid UTF-8"),
        (long_list(3000).replace(b'},{"id": 1500', b'},\x1f{"id": 1500'), "invalid JSON"),
        (long_list(3000).replace(b'},{"id": 1500', '},\u00a0{"id": 1500'.encode()), "invalid JSON"),
    ],
    ids=["deep-nesting-in-an-entry", "bad-utf8-in-a-field-entry-leaves-out", "control-char-between", "nbsp-between"],
)
def test_what_the_standard_library_refuses_in_a_long_list_is_refused(body, message):
    with pytest.raises(DocumentError, match=message):
        events_of(chunked(body, 65_536))


def test_a_key_that_only_ends_like_the_lists_is_not_taken_for_it():
    body = long_list(3).replace(b'"data": [', b'"a\\"data": [1], "data": [')
    assert [value.id for kind, _, value in events_of([body]) if kind == "item"] == [1, 2, 3]


def test_a_head_full_of_lookalike_keys_is_refused_quickly():
    head = b", ".join(b'"k%d": {"data": [0]}' % i for i in range(10_000))
    started = time.monotonic()
    with pytest.raises(DocumentError, match="no top-level 'data' list"):
        events_of([b"{" + head + b', "data": []}'])
    assert time.monotonic() - started < 2
