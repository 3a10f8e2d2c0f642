"""Property tests: the parsers return events or raise DocumentError, for any input whatsoever.

Issue-level fuzzing lives with the reliability suite; these keep the contract pinned on every run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_mailpartner.client.commands import LIST
from airflow_provider_mailpartner.client.envelope import DocumentError, Event
from airflow_provider_mailpartner.client.json_list import json_events
from airflow_provider_mailpartner.client.xml_list import xml_events, xml_fields

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
    records = []
    for kind, _, value in json_events(chunks_of(body, size)):
        if kind == "items":
            records += value
        elif kind == "item":
            records.append(value)
    assert records == json.loads(body)["data"]


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
