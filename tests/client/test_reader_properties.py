"""Property tests: the parsers return events or raise DocumentError, for any input whatsoever.

Issue-level fuzzing lives with the reliability suite; these keep the contract pinned on every run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from unittest.mock import patch

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_mailpartner.client import json_list
from airflow_provider_mailpartner.client.commands import LIST
from airflow_provider_mailpartner.client.envelope import DocumentError, Event
from airflow_provider_mailpartner.client.json_list import json_events
from airflow_provider_mailpartner.client.xml_list import xml_events, xml_fields
from airflow_provider_mailpartner.records import Entry

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

RECORD = st.fixed_dictionaries(
    {"id": st.integers(1, 10**9), "email": st.emails(), "createdAt": st.just("2020-01-01 00:00:00")}
)
VALID_JSON = st.lists(RECORD, max_size=5).map(
    lambda records: json.dumps({"success": True, "code": 200, "nbData": len(records), "data": records}).encode()
)


def mutated(body: bytes, data: st.DataObject) -> bytes:
    position = data.draw(st.integers(0, len(body)))
    operation = data.draw(st.sampled_from(["cut", "insert", "replace"]))
    noise = data.draw(st.binary(min_size=1, max_size=8))
    if operation == "cut":
        return body[:position]
    if operation == "insert":
        return body[:position] + noise + body[position:]
    return body[:position] + noise + body[position + len(noise) :]


def chunks_of(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)] or [b""]


def consume(events: Iterator[Event]) -> None:
    with contextlib.suppress(DocumentError):
        list(events)


@SETTINGS
@given(body=st.binary(max_size=300), size=st.integers(1, 64))
def test_json_parser_on_arbitrary_bytes(body, size):
    consume(json_events(chunks_of(body, size)))


@SETTINGS
@given(body=VALID_JSON, data=st.data(), size=st.integers(1, 64))
def test_json_parser_on_mutated_answers(body, data, size):
    consume(json_events(chunks_of(mutated(body, data), size)))


@SETTINGS
@given(body=VALID_JSON, size=st.integers(1, 64))
def test_json_parser_reads_valid_answers_whatever_the_chunking(body, size):
    assert entries_of(json_events(chunks_of(body, size))) == json.loads(body)["data"]


# Addresses that hold what the JSON reader cuts windows at ("}," and "},{"), quotes and escapes.
AWKWARD_EMAIL = st.text(alphabet=st.sampled_from(["}", ",", "{", '"', "\\", "]", "a", "@", " ", "é"]), max_size=12)
AWKWARD_JSON = st.tuples(
    st.lists(st.fixed_dictionaries({"id": st.integers(1, 10**9), "email": AWKWARD_EMAIL, "createdAt": st.just("x")})),
    st.sampled_from([None, 1, 2]),
).map(
    lambda pair: json.dumps(
        {"success": True, "code": 200, "nbData": len(pair[0]), "data": pair[0], "after": "},{"}, indent=pair[1]
    ).encode()
)


@SETTINGS
@given(body=AWKWARD_JSON, size=st.integers(1, 64), window=st.sampled_from([16, 64, 1 << 16]))
def test_windows_cut_where_addresses_hold_separators_give_what_the_standard_library_reads(body, size, window):
    with patch.object(json_list, "WINDOW", window):
        events = list(json_events(chunks_of(body, size)))
    assert entries_of(iter(events)) == json.loads(body)["data"]
    assert ("field", "after", "},{") in events


def entries_of(events: Iterator[Event]) -> list[object]:
    """The list's entries as the standard library would decode them (an Entry as its dict)."""
    return [
        msgspec.structs.asdict(entry) if isinstance(entry, Entry) else entry
        for kind, _, batch in events
        if kind == "items"
        for entry in batch  # type: ignore[attr-defined]
    ]


XML_ANSWER = st.lists(st.tuples(st.integers(1, 10**6), st.emails()), max_size=4).map(
    lambda records: (
        "<result><entry>true</entry><entry>200</entry>"
        f"<entry>{len(records)}</entry><entry>"
        + "".join(
            f"<entry><entry>{i}</entry><entry><![CDATA[{e}]]></entry><entry>2020-01-01 00:00:00</entry></entry>"
            for i, e in records
        )
        + "</entry></result>"
    ).encode()
)


@SETTINGS
@given(body=st.one_of(st.binary(max_size=300), XML_ANSWER), data=st.data(), size=st.integers(1, 64))
def test_xml_parsers_on_arbitrary_and_mutated_bytes(body, data, size):
    body = mutated(body, data) if data.draw(st.booleans()) else body
    consume(xml_events(chunks_of(body, size), LIST.fields, "data"))
    with contextlib.suppress(DocumentError):
        xml_fields(body, LIST.fields)
