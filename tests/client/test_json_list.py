from __future__ import annotations

import json

import pytest

from airflow_provider_mailpartner.client.envelope import DocumentError
from airflow_provider_mailpartner.client.json_list import json_events

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


def events_of(chunks: list[bytes], stream_field: str | None = "data") -> list[tuple[str, str, object]]:
    """The events with batches of elements ("items") spread into one "item" each."""
    flat = []
    for kind, name, value in json_events(chunks, stream_field):
        if kind == "items":
            flat += [("item", name, element) for element in value]
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
        *[("item", "data", record) for record in ANSWER["data"]],
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


def test_without_a_stream_field_data_is_one_value():
    assert events_of([b'{"data": [1, 2]}'], None) == [("field", "data", [1, 2])]


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
