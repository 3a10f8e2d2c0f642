"""Fuzzing the list answer's reading: any bytes give the records a reference reading finds, or a refusal.

A suppression job trusts what the hook returns as "everyone who unsubscribed". So an answer the
hook accepts must hold exactly the records a plain, whole-document reading of the same bytes
finds under the documented rules (``reference``), and anything else must fail with a documented
error: never another exception, never a hang. The bytes go through the hook's public methods and
its real transport (spooling, status and envelope checks, the streaming JSON or positional XML
parser, the record checks, ``nbData``); only the socket is replaced, by an adapter mounted on the
hook's ``requests`` session. A smaller run goes over real HTTP through the sandbox.

``tests/test_parser_properties.py`` pins the parsers alone (events or ``DocumentError``); this
file checks the records that come out, against an independent reading.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.parsers import expat
from zoneinfo import ZoneInfo

import pytest
import requests
import urllib3
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_mailpartner.client import exchange
from airflow_provider_mailpartner.client.xml_list import MAX_DEPTH, MAX_SMALL_ELEMENTS
from airflow_provider_mailpartner.exceptions import (
    MailPartnerApiError,
    MailPartnerAuthError,
    MailPartnerError,
    MailPartnerResponseError,
)
from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook
from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox

PARIS = ZoneInfo("Europe/Paris")
# A reading's bound: CPU time linear in the body's size (a pathology is quadratic or worse: minutes for
# a megabyte), and wall-clock time, looser, since this 2-core machine runs other suites alongside.
CPU_SECONDS = 0.5
CPU_SECONDS_PER_MB = 2.0
WALL_SECONDS = 10.0
SOAK = bool(os.environ.get("MAILPARTNER_SOAK"))
FORMATS = ("json", "xml")


def fuzz_settings(examples: int) -> settings:
    """``examples`` per test in the default run (reproducible), 20 times more and random under MAILPARTNER_SOAK."""
    return settings(
        max_examples=examples * 20 if SOAK else examples,
        deadline=timedelta(seconds=30),  # a backstop for the reference too: each reading has its own bounds
        derandomize=not SOAK,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --- the reference: a whole-document reading under the documented rules ----------------------------

Record = tuple[int | None, str, str | None] | tuple[int | None, str, str | None, str]  # (the last: odd, its reasons)
Records = tuple[Record, ...]
RECORD_NAMES = ("id", "email", "createdAt")
LIST_NAMES = ("success", "code", "nbData", "data")
ERROR_NAMES = ("success", "code", "message", "error")
INTEGER = re.compile(r"-?[0-9]{1,18}")
API_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
SURROGATE = re.compile("[\ud800-\udfff]")
TRUTH = {"true": True, "1": True, "false": False, "0": False, "": False}


@dataclass(frozen=True)
class Refusal:
    """The answer must not be trusted: a response error, or an API error with one of ``codes``.

    :param codes: envelope codes an API error may carry; None for any (a broken document whose
        error header comes before the damage may be reported as that error: it fails closed too).
    :param api_error: a well-formed error envelope: the API error is required, not just allowed.
    """

    codes: frozenset[int] | None = frozenset()
    api_error: bool = False


Expected = Records | Refusal


def int_of(value: object) -> int | None:
    """An integer field: a JSON integer or ASCII digits (XML has only text), at most 18 digits."""
    if isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
        return value
    return None


def bool_of(value: object) -> bool | None:
    """``success``: a JSON boolean, PHP's 1/0, or the text XML carries."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return TRUTH.get(value.strip().lower()) if isinstance(value, str) else None


def error_code(fields: dict[str, object]) -> int | None:
    """The code of a well-formed error envelope (``success`` false, a code other than 200)."""
    code = int_of(fields.get("code"))
    return code if bool_of(fields.get("success")) is False and code is not None and code != 200 else None


SKIPPED = "skipped"  # an entry with no address to keep


def record_of(raw: object) -> Record | str:
    """One list entry as the documented record, its odd fields null and its reasons last; or SKIPPED."""
    if isinstance(raw, str):  # the address alone, not in an object
        raw = {"email": raw}
    if not isinstance(raw, dict):
        return SKIPPED
    entry_id, email, created = int_of(raw.get("id")), raw.get("email"), raw.get("createdAt")
    if isinstance(email, (int, float)) and not isinstance(email, bool):
        email = str(email)  # a phone number sent as a JSON number
    if not isinstance(email, str) or not email.strip() or SURROGATE.search(email):
        return SKIPPED  # (a JSON "\\ud800" escape decodes to a lone surrogate: no text, no address)
    reasons = []
    if entry_id is None or entry_id < 1:
        entry_id = None
        reasons.append("id_not_usable")
    if "@" not in email:
        reasons.append("not_an_email")
    moment = None
    if isinstance(created, str) and API_DATE.fullmatch(created.strip()):
        with contextlib.suppress(ValueError):
            moment = datetime.strptime(created.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=PARIS).isoformat()
    if moment is None:
        reasons.append("date_not_readable")
    if reasons:
        return entry_id, email.strip(), moment, ",".join(reasons)
    return entry_id, email.strip(), moment


def records_of(entries: list[object], count: object, *, strict: bool) -> Expected:
    """The list, if no usable id repeats and ``nbData`` counts the entries; strict: if every entry is sound."""
    records = [record_of(entry) for entry in entries]
    # Every usable id counts, an entry without an address included: a repeated id means a corrupt answer.
    ids = [entry_id for entry in entries if isinstance(entry, dict) and (entry_id := int_of(entry.get("id")))]
    ids = [entry_id for entry_id in ids if entry_id > 0]
    if len(set(ids)) != len(ids) or int_of(count) != len(records):
        return Refusal()
    if strict and any(record == SKIPPED or len(record) == 4 for record in records):
        return Refusal()
    return tuple(record for record in records if not isinstance(record, str))


def json_document(body: bytes) -> tuple[object, bool] | None:
    """The body as one JSON value, and whether its top-level object repeats a key; None if not JSON."""
    repeated = False

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        nonlocal repeated  # the top-level object is the last one closed
        repeated = len({key for key, _ in items}) != len(items)
        return dict(items)

    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    try:
        document = json.loads(body.decode("utf-8-sig"), object_pairs_hook=pairs, parse_constant=refuse)
    except (ValueError, RecursionError):
        return None
    return document, repeated and isinstance(document, dict)


class NotPositional(Exception):
    """The body is not MailPartner's positional XML."""


def xml_values(body: bytes, max_depth: int | None = MAX_DEPTH) -> list[object] | None:
    """The root's children as nested lists of text, or None: not well-formed, a DOCTYPE (no entity
    is ever expanded), an element other than <entry> below the root, text beside elements, or
    nesting deeper than ``max_depth``."""
    parser = expat.ParserCreate()
    frames: list[tuple[list[object], list[str]]] = [([], [])]  # the document, then one per open element

    def refuse(*_: object) -> None:
        raise NotPositional

    def start(name: str, _attributes: object) -> None:
        if (len(frames) > 1 and name != "entry") or (max_depth is not None and len(frames) > max_depth):
            raise NotPositional
        frames.append(([], []))

    def end(_name: str) -> None:
        children, texts = frames.pop()
        text = "".join(texts)
        if children and text.strip():
            raise NotPositional
        frames[-1][0].append(children or text)

    parser.StartDoctypeDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = lambda text: frames[-1][1].append(text)
    try:
        parser.Parse(body, True)
    except (expat.ExpatError, NotPositional, LookupError, ValueError):  # (the last two: a declared encoding)
        return None
    root = frames[0][0][0]
    return root if isinstance(root, list) else []


def reference_json(body: bytes, *, strict: bool = False) -> Expected:
    parsed = json_document(body)
    if parsed is None:
        code = small_xml_error_code(body)  # an error may come in the other format
        if code is not None:
            return Refusal(frozenset({code}), api_error=xml_values(body) is not None)
        starts_as_json = body.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"{")
        return Refusal(None if starts_as_json else frozenset())
    document, repeated = parsed
    if not isinstance(document, dict):
        return Refusal()
    if repeated:  # which of two values counts is not for a reader to guess: any refusal will do
        return Refusal(None)
    code = error_code(document)
    if code is not None:
        return Refusal(frozenset({code}), api_error=True)
    if bool_of(document.get("success")) is not True or int_of(document.get("code")) != 200:
        return Refusal()
    data = document.get("data")
    return records_of(data, document.get("nbData"), strict=strict) if isinstance(data, list) else Refusal()


def reference_xml(body: bytes, *, strict: bool = False) -> Expected:
    values = xml_values(body)
    if values is None:  # not positional XML; an error envelope may still be read from it
        parsed = json_document(body)
        if parsed is not None and isinstance(parsed[0], dict) and "success" in parsed[0]:
            code = error_code(parsed[0])  # an error in the other format
            return Refusal(frozenset({code}), api_error=True) if code is not None else Refusal()
        code = small_xml_error_code(body)  # too deep for the list reader, maybe not for the small-answer one
        return Refusal(frozenset({code}) if code is not None else frozenset())
    success = bool_of(values[0]) if values else None
    fields = dict(zip(LIST_NAMES if success is True else ERROR_NAMES, values, strict=False))
    code = error_code(fields)
    if code is not None:
        return Refusal(frozenset({code}), api_error=True)
    if success is not True or int_of(fields.get("code")) != 200 or "data" not in fields:
        return Refusal()
    data = fields["data"]
    if isinstance(data, str):
        data = [] if not data.strip() else None  # an empty list is an empty <entry>
    if data is None or not all(isinstance(entry, list) and all(isinstance(f, str) for f in entry) for entry in data):
        return Refusal()
    entries = [dict(zip(RECORD_NAMES, entry, strict=False)) for entry in data]
    return records_of(entries, fields["nbData"], strict=strict)


def small_xml_error_code(body: bytes) -> int | None:
    """The code of an XML error envelope as the small-answer reader may see it: any depth, few elements."""
    values = xml_values(body, max_depth=None) if body.count(b"<") <= MAX_SMALL_ELEMENTS else None
    return error_code(dict(zip(ERROR_NAMES, values, strict=False))) if values else None


REFERENCES: dict[str, Callable[..., Expected]] = {"json": reference_json, "xml": reference_xml}


# --- the package: the hook's two list readers, over a canned answer -----------------------------


class CannedAnswer(requests.adapters.HTTPAdapter):
    """Answers every request with ``body`` at HTTP 200: the socket, replaced by bytes."""

    body = b""

    def send(self, request: requests.PreparedRequest, *args: object, **kwargs: object) -> requests.Response:
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(self.body), headers={"Content-Type": "text/plain"}, status=200, preload_content=False
        )
        return self.build_response(request, raw)


@dataclass
class Reader:
    """A hook whose session answers with canned bytes, and a check of its readings against the reference."""

    hook: MailPartnerHook
    strict_hook: MailPartnerHook  # (the same session)
    canned: CannedAnswer

    def read(
        self, body: bytes, response_format: str, chunk: int | None = None
    ) -> list[tuple[Records | MailPartnerError, bool]]:
        """What the list methods make of ``body``: the records, or the error they raised, and whether strict.

        :param chunk: the size of the chunks the parsers get, for chunk boundaries anywhere (a real
            answer is read in 1 MB chunks); at most ~512 chunks, since each costs a Python loop.
        """
        self.canned.body = body
        hook, strict, chosen = self.hook, self.strict_hook, {"response_format": response_format}
        readers: tuple[tuple[Callable[[], Iterable[tuple[object, ...]]], bool], ...] = (
            (lambda: (tuple(record.values()) for record in hook.iter_unsubscribe_records(**chosen)), False),
            (lambda: (tuple(entry.as_record().values()) for entry in hook.iter_unsubscribes(**chosen)), False),
            (lambda: (tuple(record.values()) for record in strict.iter_unsubscribe_records(**chosen)), True),
        )
        with pytest.MonkeyPatch.context() as patch:
            if chunk is not None:
                patch.setattr(exchange, "CHUNK_SIZE", max(chunk, len(body) // 512))
            return [(timed_reading(reader, len(body)), is_strict) for reader, is_strict in readers]

    def check(self, body: bytes, response_format: str, chunk: int | None = None) -> None:
        for got, strict in self.read(body, response_format, chunk):
            assert_as_expected(got, REFERENCES[response_format](body, strict=strict), body)


def timed_reading(read: Callable[[], Iterable[tuple[object, ...]]], size: int) -> Records | MailPartnerError:
    """The records ``read`` gives for a body of ``size`` bytes, or the MailPartnerError it raised, in bounded time.

    The garbage collector is held off meanwhile: a full collection of what earlier examples left
    behind takes most of a second in a process this size, and is no part of the reading.
    """
    gc.disable()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        result: Records | MailPartnerError = tuple(read())  # type: ignore[arg-type]
    except MailPartnerError as error:
        result = error
    finally:
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        gc.enable()
    assert cpu < CPU_SECONDS + CPU_SECONDS_PER_MB * size / 1e6, f"one reading of {size} bytes took {cpu:.2f} s of CPU"
    assert wall < WALL_SECONDS, f"one reading of {size} bytes took {wall:.2f} s"
    return result


def assert_as_expected(got: Records | MailPartnerError, expected: Expected, body: bytes) -> None:
    shown = f"body {body[:300]!r}{'...' if len(body) > 300 else ''}"
    if not isinstance(expected, Refusal):
        assert got == expected, f"{shown}: read as {got!r}, the reference reads {expected!r}"
        return
    assert isinstance(got, MailPartnerError), f"{shown}: trusted as {got!r}, the reference refuses it ({expected})"
    if isinstance(got, MailPartnerResponseError):
        assert not expected.api_error, f"{shown}: {got!r} for a well-formed error envelope ({expected})"
    else:
        assert isinstance(got, (MailPartnerApiError, MailPartnerAuthError)), f"{shown}: undocumented {got!r}"
        assert expected.codes is None or got.code in expected.codes, f"{shown}: {got!r}, expected {expected}"


@pytest.fixture(scope="module")
def reader() -> Iterator[Reader]:
    """One hook for the module (hypothesis runs many examples per test), no retries, canned answers."""
    connection = {
        "conn_type": "mailpartner",
        "host": "http://127.0.0.1:9",
        "password": "k",
        "extra": {"max_retries": 0},
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_MAILPARTNER_FUZZ", json.dumps(connection))
        hook, strict = MailPartnerHook("mailpartner_fuzz"), MailPartnerHook("mailpartner_fuzz", strict=True)
        canned = CannedAnswer()
        hook.get_conn().mount("http://", canned)
        strict.get_conn().mount("http://", canned)
        yield Reader(hook, strict, canned)


# --- answers: a model rendered as JSON or positional XML, then mutated -------------------------


@dataclass(frozen=True)
class Obj:
    """A JSON object as written: pairs in order, a key possibly twice. In XML, entries in that order."""

    pairs: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Raw:
    """Text written as is: what no encoder produces (NaN, a 5000-digit number, deep nesting)."""

    json: str
    xml: str


def deep(levels: int) -> Raw:
    return Raw("[" * levels + "]" * levels, "<entry>" * levels + "</entry>" * levels)


def to_json(value: object, ascii_only: bool, spacing: str) -> str:
    if isinstance(value, Obj):
        items = (f"{json.dumps(k, ensure_ascii=ascii_only)}:{to_json(v, ascii_only, spacing)}" for k, v in value.pairs)
        return "{" + spacing + ("," + spacing).join(items) + spacing + "}"
    if isinstance(value, list):
        return "[" + ("," + spacing).join(to_json(v, ascii_only, spacing) for v in value) + "]"
    return value.json if isinstance(value, Raw) else json.dumps(value, ensure_ascii=ascii_only)


def to_xml(value: object, cdata: bool, spacing: str) -> str:
    if isinstance(value, (Obj, list)):
        children = [v for _, v in value.pairs] if isinstance(value, Obj) else value
        return "".join(f"{spacing}<entry>{to_xml(v, cdata, spacing)}</entry>" for v in children) + spacing
    if isinstance(value, Raw):
        return value.xml
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    if cdata and isinstance(value, str):
        return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


ADDRESSES = st.one_of(
    st.emails(),
    st.sampled_from([" Padded@Example.com\t", "zoë@exämple.fr", 'q"d,c@x.fr', "a]]>b@x.fr", "<a@x.fr>", "a&b@x.fr"]),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8).map(lambda text: f"{text}@x.fr"),
)
DATES = st.one_of(
    st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31)).map(lambda d: f"{d.year:04d}-{d:%m-%d %H:%M:%S}"),
    st.sampled_from(["2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-10-27 03:00:00"]),  # Paris DST changes
)
RECORD = st.builds(
    lambda entry_id, email, created: Obj((("id", entry_id), ("email", email), ("createdAt", created))),
    st.integers(1, 10**18 - 1),
    ADDRESSES,
    DATES,
)
# Values a mutation puts where another was: wrong types, edge numbers, odd text, and what JSON or
# XML itself cannot say plainly (NaN, Infinity, a 5000-digit number, deep nesting, a lone surrogate).
ODD_NUMBERS = (0, 1, -1, 2, 200, 500, 429, 10, 1.0, 1.5, 10**18 - 1, 10**18, 10**30)
ODD_TEXTS = ("", " ", "200", " 7 ", "true", "1", "false", "0", "x", "a@b", "nobody", "--5", "\u0663", "\u00b2")
ODD_ADDRESSES = ("\u0000@x.fr", "\ud800@x.fr", "x" * 100_000 + "@x.fr")
ODD_DATES = ("2020-01-01T00:00:00", "2020-02-30 00:00:00", "2020-01-01 24:00:00", " 2020-01-01 10:00:00\n", "2020-1-1")
ODD_SHAPES = (None, True, False, [], [1], Obj(()), Obj((("a", 1),)), deep(50), deep(10_000))
UNSAYABLE = (
    Raw("NaN", "NaN"),
    Raw("-Infinity", "-Infinity"),
    Raw("1e999", "1e999"),
    Raw("9" * 5000, "9" * 5000),
    Raw("-0", "-0"),
    Raw('"\\u00e9@x.fr"', "&#233;@x.fr"),
    Raw('"\\ud83d\\ude00@x.fr"', "&#x1F600;@x.fr"),
    Raw('"\\udfff@x.fr"', "&#xDFFF;@x.fr"),
)
ODD_VALUES = st.sampled_from(ODD_NUMBERS + ODD_TEXTS + ODD_ADDRESSES + ODD_DATES + ODD_SHAPES + UNSAYABLE)


def answer(records: list[Obj]) -> Obj:
    return Obj((("success", True), ("code", 200), ("nbData", len(records)), ("data", records)))


def replaced(pairs: tuple[tuple[str, object], ...], index: int, pair: tuple[str, object] | None) -> Obj:
    """``pairs`` with the one at ``index`` replaced by ``pair``, or dropped."""
    return Obj(pairs[:index] + ((pair,) if pair else ()) + pairs[index + 1 :])


@st.composite
def mutated_object(draw: st.DrawFn, obj: Obj) -> Obj:
    """``obj`` with one field changed, dropped, given twice, moved, or one added."""
    pairs = obj.pairs
    index = draw(st.integers(0, max(len(pairs) - 1, 0)))
    key, value = pairs[index] if pairs else ("id", None)
    operation = draw(st.sampled_from(["value", "drop", "twice", "move", "extra"]))
    if operation == "value":
        return replaced(pairs, index, (key, draw(ODD_VALUES)))
    if operation == "drop":
        return replaced(pairs, index, None)
    if operation == "twice":
        again = draw(st.one_of(st.just(value), ODD_VALUES))
        return Obj((*pairs[: index + 1], (key, again), *pairs[index + 1 :]))
    if operation == "move":
        rest = pairs[:index] + pairs[index + 1 :]
        at = draw(st.integers(0, len(rest)))
        return Obj((*rest[:at], (key, value), *rest[at:]))
    return Obj((*pairs, (draw(st.sampled_from(["extra", "data", "id", "email"])), draw(ODD_VALUES))))


ERROR_ANSWERS = st.builds(
    lambda code, message: Obj((("success", False), ("code", code), ("message", message))),
    st.sampled_from([1, 3, 4, 9, 10, 20, 30, 40, 96, 429, 500]),
    st.text(max_size=20),
)


@st.composite
def answers(draw: st.DrawFn) -> Obj:
    """A list answer (one time in five an error envelope), then up to three changes to its envelope,
    its list or its records."""
    document = draw(ERROR_ANSWERS) if draw(st.integers(0, 4)) == 0 else answer(draw(st.lists(RECORD, max_size=6)))
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(["envelope", "record", "list"]))
        records = dict(document.pairs).get("data")
        if target == "envelope" or not isinstance(records, list):
            document = draw(mutated_object(document))
        elif target == "record" and records:
            at = draw(st.integers(0, len(records) - 1))
            record = records[at]
            changed = draw(mutated_object(record)) if isinstance(record, Obj) else draw(ODD_VALUES)
            document = with_data(document, [*records[:at], changed, *records[at + 1 :]])
        else:
            grown = [*records, *records[:1]] if draw(st.booleans()) else [draw(ODD_VALUES), *records]
            document = with_data(document, grown)  # a repeated entry, or one that is no record
    return document


def with_data(document: Obj, records: list[object]) -> Obj:
    return Obj(tuple((key, records if key == "data" else value) for key, value in document.pairs))


# Pieces a byte-level mutation inserts: JSON and XML syntax, escapes of lone surrogates, numbers JSON
# cannot hold, byte-order marks, bytes that are no UTF-8, deep nesting, entities, and envelope fields.
JSON_TOKENS = (b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b" ", b"\n", b"true", b"null", b"[" * 100_000)
ESCAPES = (b"\\u0000", b"\\ud800", b"\\udfff", b"\\u00e9", b"NaN", b"Infinity", b"-Infinity", b"1e999", b"9" * 5000)
RAW_BYTES = (b"\xef\xbb\xbf", b"\xfe\xff", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00")
XML_TOKENS = (b"<entry>", b"</entry>", b"<![CDATA[", b"]]>", b"&amp;", b"&#0;", b"&#x1F600;", b"&ext;", b"<x>")
XML_EXTRAS = (b"<!--x-->", b"<?pi x?>", b"</result>", b"<entry>" * 20, b'<!DOCTYPE result [<!ENTITY e "x">]>')
ENVELOPE_FIELDS = (b'"success":false,', b'"data":[],', b'"nbData":1,')
BYTE_TOKENS = JSON_TOKENS + ESCAPES + RAW_BYTES + XML_TOKENS + XML_EXTRAS + ENVELOPE_FIELDS


@st.composite
def mutated_bytes(draw: st.DrawFn, body: bytes) -> bytes:
    """``body`` after up to three byte-level changes: flips, cuts, insertions, repeats, deletions."""
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(body)))
        end = draw(st.integers(at, min(len(body), at + 64)))
        operation = draw(st.sampled_from(["flip", "truncate", "insert", "token", "repeat", "delete"]))
        if operation == "flip" and at < len(body):
            body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
        elif operation == "truncate":
            body = body[:at]
        elif operation in ("insert", "token"):
            piece = (
                draw(st.binary(min_size=1, max_size=8)) if operation == "insert" else draw(st.sampled_from(BYTE_TOKENS))
            )
            body = body[:at] + piece + body[at:]
        elif operation == "repeat":
            body = body[:end] + body[at:end] + body[end:]  # a field, a record or a tag given twice
        elif operation == "delete":
            body = body[:at] + body[end:]
    return body


@st.composite
def json_answers(draw: st.DrawFn) -> bytes:
    document = draw(answers())
    text = to_json(document, draw(st.booleans()), draw(st.sampled_from(["", " ", "\n  ", "\t"])))
    bom = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf"]))
    return draw(mutated_bytes(bom + text.encode("utf-8", "surrogatepass")))


@st.composite
def xml_answers(draw: st.DrawFn) -> bytes:
    document = draw(answers())
    root = draw(st.sampled_from(["result", "result", "reponse"]))
    inner = to_xml(document, draw(st.booleans()), draw(st.sampled_from(["", "\n", "\n  "])))
    declaration = draw(st.sampled_from(["", '<?xml version="1.0" encoding="UTF-8"?>\n', '<?xml version="1.0"?>']))
    text = f"{declaration}<{root}>{inner}</{root}>"
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16"]))
    if encoding == "utf-16":
        text = text.replace(' encoding="UTF-8"', "")
    return draw(mutated_bytes(text.encode(encoding, "surrogatepass")))


# --- XML that attacks the parser rather than the reader --------------------------------------------

LIST_XML = (
    "<result><entry>true</entry><entry>200</entry><entry>1</entry><entry><entry><entry>1</entry>"
    "<entry>{email}</entry><entry>2020-01-01 00:00:00</entry></entry></entry></result>"
)
LAUGHS = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
XML_ATTACKS = {
    "billion-laughs": f'<?xml version="1.0"?><!DOCTYPE result [<!ENTITY l0 "lol">{LAUGHS}]>'
    + LIST_XML.format(email="&l9;@x.fr"),
    "quadratic-blowup": f'<!DOCTYPE result [<!ENTITY a "{"x" * 100_000}">]>'
    + LIST_XML.format(email="&a;" * 1000 + "@x.fr"),
    "external-entity": '<!DOCTYPE result [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + LIST_XML.format(email="&e;"),
    "external-dtd": '<!DOCTYPE result SYSTEM "http://127.0.0.1:9/evil.dtd">' + LIST_XML.format(email="a@x.fr"),
    "parameter-entity": '<!DOCTYPE result [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'
    + LIST_XML.format(email="a@x.fr"),
    "undeclared-entity": LIST_XML.format(email="&passwd;@x.fr"),
    "xinclude": LIST_XML.format(
        email='<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/>'
    ),
    "deep-nesting": LIST_XML.format(email="<entry>" * 100_000 + "</entry>" * 100_000),
    "unknown-encoding": '<?xml version="1.0" encoding="TTF-8"?>' + LIST_XML.format(email="a@x.fr"),
    "multi-byte-encoding": '<?xml version="1.0" encoding="utf-32"?>' + LIST_XML.format(email="a@x.fr"),
}
EMPTY_LIST = '"success": true, "code": 200, "nbData": 0, "data": []'
RECORD_TEXT = '{{"id": {id}, "email": "a{id}@x.fr", "createdAt": "2020-01-01 00:00:00"}}'
ONE_RECORD = '"success": true, "code": 200, "nbData": 1, "data": [' + RECORD_TEXT + "]"
# Answers that are huge, deep or at the edge of a rule: each is read as the reference reads it, in bounded time.
HOSTILE_ANSWERS = {
    "xml-wide-record": LIST_XML.replace("00:00:00</entry>", "00:00:00</entry>" + "<entry>x</entry>" * 20_000),
    "xml-huge-text": LIST_XML.format(email="a" * 1_000_000 + "@x.fr"),
    "deep-nesting": f'{{{EMPTY_LIST}, "x": {"[" * 100_000}{"]" * 100_000}}}',
    "deep-record": f'{{"success": true, "code": 200, "nbData": 1, "data": [{"[" * 100_000}{"]" * 100_000}]}}',
    "huge-number": f'{{"success": true, "code": 200, "nbData": {"9" * 100_000}, "data": []}}',
    "huge-exponent": '{"success": true, "code": 200, "nbData": 1e999999999, "data": []}',
    "nan-count": '{"success": true, "code": 200, "nbData": NaN, "data": []}',
    "huge-id": "{" + ONE_RECORD.format(id=10**30) + "}",
    "id-of-19-digits": "{" + ONE_RECORD.format(id=10**18) + "}",
    "lone-surrogate": "{" + ONE_RECORD.format(id=1).replace("a1@", "\\ud800@") + "}",
    "huge-string": f'{{{EMPTY_LIST}, "x": "{"a" * 1_000_000}"}}',
    "many-keys": "{" + EMPTY_LIST + "".join(f', "k{n}": {n}' for n in range(20_000)) + "}",
    "many-records": '{"success": true, "code": 200, "nbData": 5000, "data": ['
    + ",".join(RECORD_TEXT.format(id=n) for n in range(1, 5001))
    + "]}",
}


# --- the tests ------------------------------------------------------------------------------------


@fuzz_settings(400)
@given(body=st.binary(max_size=400), response_format=st.sampled_from(FORMATS))
def test_arbitrary_bytes_are_refused_or_read_as_the_reference_reads_them(reader, body, response_format):
    reader.check(body, response_format)


@fuzz_settings(1000)
@given(body=json_answers(), chunk=st.sampled_from([1 << 20, 1, 2, 3, 7, 64, 4096]))
@example(body=b'{"success":true,"code":200,"nbData":0,"data":[],"extra":1.0}', chunk=1)  # "1." then "0"
def test_mutated_json_answers_give_the_reference_records_or_a_refusal(reader, body, chunk):
    reader.check(body, "json", chunk)


@fuzz_settings(1000)
@given(body=xml_answers(), chunk=st.sampled_from([1 << 20, 1, 2, 3, 7, 64, 4096]))
def test_mutated_xml_answers_give_the_reference_records_or_a_refusal(reader, body, chunk):
    reader.check(body, "xml", chunk)


@pytest.mark.parametrize("attack", XML_ATTACKS, ids=list(XML_ATTACKS))
@pytest.mark.parametrize("response_format", FORMATS)
def test_xml_attacks_are_refused_fast_as_untrustworthy(reader, attack, response_format):
    """No entity is expanded or fetched, no nesting exhausts the stack: a response error, in bounded time."""
    body = XML_ATTACKS[attack].encode()
    assert REFERENCES[response_format](body) == Refusal()
    reader.check(body, response_format)


@pytest.mark.parametrize("name", HOSTILE_ANSWERS, ids=list(HOSTILE_ANSWERS))
@pytest.mark.parametrize("response_format", FORMATS)
def test_hostile_answers_are_read_as_the_reference_reads_them_in_bounded_time(reader, name, response_format):
    reader.check(HOSTILE_ANSWERS[name].encode(), response_format)


@pytest.fixture(scope="module")
def http_hook() -> Iterator[tuple[MailPartnerSandbox, MailPartnerHook]]:
    """A hook over real HTTP to a sandbox, for the whole module: one answer scripted per example."""
    with MailPartnerSandbox(rate_limit_per_minute=None) as sandbox, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_MAILPARTNER_FUZZ_HTTP", sandbox.connection_json(extra={"max_retries": 0}))
        yield sandbox, MailPartnerHook("mailpartner_fuzz_http")
        assert sandbox.errors == []


@fuzz_settings(120)
@given(
    response_format=st.sampled_from(FORMATS),
    body=st.one_of(json_answers(), xml_answers(), st.sampled_from([*XML_ATTACKS.values(), *HOSTILE_ANSWERS.values()])),
    content_type=st.sampled_from(["application/json; charset=utf-8", "application/xml", "text/html", "text/plain"]),
)
def test_over_real_http_answers_give_the_reference_records_or_a_refusal(http_hook, response_format, body, content_type):
    sandbox, hook = http_hook
    payload = body if isinstance(body, str) else body.decode("utf-8", "replace")  # what a raw fault can carry
    sandbox.faults.script(Fault.raw(payload, content_type=content_type), command="unsubscribe/list")
    sent, read = payload.encode(), hook.iter_unsubscribe_records
    got = timed_reading(lambda: (tuple(r.values()) for r in read(response_format=response_format)), len(sent))
    assert_as_expected(got, REFERENCES[response_format](sent), sent)


def test_the_reference_reads_the_api_page_example_as_the_documented_record():
    """The reference itself, checked once by hand: both formats, and an error envelope."""
    record = (19, "xxx@www.com", "2015-07-20T10:19:45+02:00")
    entry = {"id": 19, "email": "xxx@www.com", "createdAt": "2015-07-20 10:19:45"}
    body = json.dumps({"success": True, "code": 200, "nbData": 1, "data": [entry]}).encode()
    assert reference_json(body) == (record,)
    xml = LIST_XML.replace("<entry>1</entry><entry>{email}", "<entry>19</entry><entry><![CDATA[ xxx@www.com]]>")
    assert reference_xml(xml.replace("2020-01-01 00:00:00", "2015-07-20 10:19:45").encode()) == (record,)
    error = b"<result><entry>false</entry><entry>10</entry><entry>Wrong key</entry></result>"
    assert reference_xml(error) == Refusal(frozenset({10}), api_error=True)
