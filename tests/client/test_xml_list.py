from __future__ import annotations

import time
import tracemalloc

import pytest

from airflow_provider_mailpartner.client.commands import ADD, LIST, ME
from airflow_provider_mailpartner.client.envelope import DocumentError
from airflow_provider_mailpartner.client.xml_list import xml_events, xml_fields
from airflow_provider_mailpartner.records import Entry


def record(id_: int, email: str, created: str = "2015-07-20 10:19:45", cdata: bool = True) -> str:
    text = f"<![CDATA[{email}]]>" if cdata else email
    return f"<entry><entry>{id_}</entry><entry>{text}</entry><entry>{created}</entry></entry>"


def list_answer(*records: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<result><entry>true</entry><entry>200</entry>'
        f"<entry>{len(records)}</entry><entry>{''.join(records)}</entry></result>"
    ).encode()


def items(body: bytes, size: int = 1 << 20) -> list[object]:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return [entry for kind, _, batch in xml_events(chunks, LIST.fields, "data") if kind == "items" for entry in batch]


@pytest.mark.parametrize("count", [0, 1, 2, 25])
@pytest.mark.parametrize("size", [1, 5, 1 << 20])
def test_zero_one_and_many_records_have_the_same_shape(count, size):
    body = list_answer(*(record(i, f"u{i}@x.fr", cdata=bool(i % 2)) for i in range(count)))
    assert items(body, size) == [Entry(str(i), f"u{i}@x.fr", "2015-07-20 10:19:45") for i in range(count)]


def test_an_entry_with_fewer_fields_is_handed_on_for_the_record_checks_and_extra_fields_are_left_out():
    short = "<entry><entry>1</entry><entry>a@x.fr</entry></entry>"
    wide = "<entry><entry>2</entry><entry>b@x.fr</entry><entry>2015-07-20 10:19:45</entry><entry>new</entry></entry>"
    assert items(list_answer(short, wide)) == [
        {"id": "1", "email": "a@x.fr"},
        Entry("2", "b@x.fr", "2015-07-20 10:19:45"),
    ]


def test_a_doctype_after_a_long_prolog_is_still_refused():
    comment = b"<!--" + b"x" * 100_000 + b"-->"
    body = comment + b'<!DOCTYPE r [<!ENTITY e "hi">]><result><entry>&e;</entry></result>'
    with pytest.raises(DocumentError, match="DOCTYPE"):
        list(xml_events([body], LIST.fields, "data"))


def test_empty_data_as_self_closing_entry():
    body = b"<result><entry>true</entry><entry>200</entry><entry>0</entry><entry/></result>"
    events = list(xml_events([body], LIST.fields, "data"))
    assert events == [
        ("field", "success", "true"),
        ("field", "code", "200"),
        ("field", "nbData", "0"),
        ("data", "data", None),
    ]


def test_three_entry_error_form_is_named_as_an_error():
    body = b"<result><entry>false</entry><entry>10</entry><entry><![CDATA[Mauvaise cl\xc3\xa9]]></entry></result>"
    expected = {"success": "false", "code": "10", "message": "Mauvaise clé"}
    assert xml_fields(body, ADD.fields) == expected
    assert {n: v for k, n, v in xml_events([body], LIST.fields, "data") if k == "field"} == expected


def test_nested_credits_are_named():
    body = (
        b"<result><entry>true</entry><entry>200</entry><entry><entry>me@x.fr</entry></entry>"
        b"<entry><entry>269082</entry><entry>EUR</entry><entry>10225.119</entry></entry></result>"
    )
    assert xml_fields(body, ME.fields)["credits"] == {"creditMail": "269082", "currency": "EUR", "balance": "10225.119"}


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'.encode() for i in range(1, 10))
    + b"]><result><entry>&lol9;</entry></result>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<result><entry>&xxe;</entry></result>"
)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_entity_attacks_are_refused_fast_with_bounded_memory(body):
    for parse in (lambda: xml_fields(body, ADD.fields), lambda: list(xml_events([body], LIST.fields, "data"))):
        tracemalloc.start()
        started = time.monotonic()
        with pytest.raises(DocumentError, match="DOCTYPE"):
            parse()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert time.monotonic() - started < 0.5
        assert peak < 5_000_000


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<result><entry>true</entry>",
        b"<result><entry>true</entry><item>200</item></result>",
        b"<result>text<entry>true</entry></result>",
        b"<result><entry>x<entry>y</entry></entry></result>",
        b"<a>" * 20 + b"</a>" * 20,
        b"<result><entry>\xff</entry></result>",
    ],
)
def test_malformed_xml_raises_document_error_only(body):
    with pytest.raises(DocumentError):
        xml_fields(body, ADD.fields)
    with pytest.raises(DocumentError):
        list(xml_events([body], LIST.fields, "data"))
