"""The two wire formats: which reader reads a list answer, and which reads a small one.

The XML readers (ElementTree, expat, xmltodict) load only when an XML answer is read: a task that
asks for JSON never carries them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from airflow_provider_mailpartner.client.commands import Command, FieldSpec, ResponseFormat
from airflow_provider_mailpartner.client.envelope import Event
from airflow_provider_mailpartner.client.json_fields import json_fields
from airflow_provider_mailpartner.client.json_list import json_events


def list_events(chunks: Iterable[bytes], command: Command, response_format: ResponseFormat) -> Iterator[Event]:
    """Events for a list answer: its top-level fields whole, the list's entries as they come."""
    if response_format == "xml":
        from airflow_provider_mailpartner.client.xml_list import xml_events

        return xml_events(chunks, command.fields, command.stream_field)
    return json_events(chunks, command.stream_field or "data")


def small_fields(body: bytes, fields: Sequence[FieldSpec], response_format: ResponseFormat) -> dict[str, object]:
    """The top-level fields of a small answer (envelope, credits, an error), named."""
    if response_format == "xml":
        from airflow_provider_mailpartner.client.xml_list import xml_fields

        return xml_fields(body, fields)
    return json_fields(body)
