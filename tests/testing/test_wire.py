"""Rendering: positional XML, CDATA, the chunked list body and its cache."""

from __future__ import annotations

import json

import pytest
import xmltodict

from airflow_provider_mailpartner.testing import SandboxBackend, wire
from airflow_provider_mailpartner.testing.wire import ListBodyCache, cdata, parse_format, render_envelope

from .client import xml_entries


@pytest.mark.parametrize("text", ["plain", "a]]>b", "]]>", "x]]>]]>y", "<tag>&amp;", "é@exemple.fr"])
def test_cdata_round_trips_any_text_including_its_terminator(text: str) -> None:
    document = f"<r>{cdata(text)}</r>"

    assert xmltodict.parse(document)["r"] == text


def test_error_envelope_in_xml_has_exactly_three_entries() -> None:
    response = wire.error_response(10, None, "xml")

    assert xml_entries(b"".join(response.chunks)) == ["false", "10", "Wrong API key"]
    assert response.code == 10
    assert response.status == 200


def test_envelope_renders_nested_objects_and_lists_as_nested_entries() -> None:
    body = render_envelope({"success": True, "code": 200, "a": {"x": 1, "y": "s"}, "b": [True, "t"]}, "xml")

    assert xml_entries(body) == ["true", "200", {"entry": ["1", "s"]}, {"entry": ["true", "t"]}]


def test_json_envelope_is_compact_and_keeps_key_order() -> None:
    body = render_envelope({"success": False, "code": 3, "message": "x"}, "json")

    assert body == b'{"success":false,"code":3,"message":"x"}'


@pytest.mark.parametrize(
    ("value", "expected"), [("xml", "xml"), ("XML", "json"), ("json", "json"), (None, "json"), (1, "json")]
)
def test_parse_format_reads_exactly_xml_and_defaults_to_json(value: object, expected: str) -> None:
    assert parse_format(value) == expected


def test_list_body_across_batches_with_deleted_entries_is_valid_and_counts_live_records() -> None:
    backend = SandboxBackend()
    backend.generate(wire.LIST_BATCH * 2 + 3)
    for entry_id in (1, wire.LIST_BATCH, wire.LIST_BATCH + 1, 2 * wire.LIST_BATCH + 3):
        backend.delete(entry_id)
    response = ListBodyCache().response(backend, "json")

    body = json.loads(b"".join(response.chunks))

    assert len(response.chunks) > 3
    assert response.length == sum(len(chunk) for chunk in response.chunks)
    assert body["nbData"] == len(body["data"]) == wire.LIST_BATCH * 2 - 1
    assert [entry["id"] for entry in body["data"]] == [entry["id"] for entry in backend.entries()]


def test_list_body_in_xml_matches_the_entries() -> None:
    backend = SandboxBackend()
    backend.generate(wire.LIST_BATCH + 10)
    response = ListBodyCache().response(backend, "xml")

    success, code, nb_data, data = xml_entries(b"".join(response.chunks))

    assert (success, code, nb_data) == ("true", "200", str(wire.LIST_BATCH + 10))
    assert [record["entry"] for record in data["entry"]] == [
        [str(e["id"]), e["email"], e["createdAt"]] for e in backend.entries()
    ]


def test_list_cache_reuses_the_render_until_the_list_changes() -> None:
    backend = SandboxBackend()
    backend.generate(10)
    cache = ListBodyCache()

    first = cache.response(backend, "json")
    again = cache.response(backend, "json")
    xml = cache.response(backend, "xml")
    backend.add("new@example.fr")
    changed = cache.response(backend, "json")

    assert again is first
    assert xml is not first
    assert changed is not first
    assert json.loads(b"".join(changed.chunks))["nbData"] == 11


def test_body_prefix_spans_chunks() -> None:
    response = wire.WireResponse(200, "x", (b"abc", b"def", b"gh"), 8)

    assert response.body_prefix(5) == b"abcde"
    assert response.body_prefix(0) == b""
    assert response.body_prefix(100) == b"abcdefgh"
