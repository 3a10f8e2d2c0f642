"""The fault matrix: every fault of the network or of MailPartner, against every hook call and operator.

``CASES`` is the table: one row per fault, with what the package does about it. A row is
``served`` (the answer is sound: one request, the right result; for a list with odd entries, the
entries kept and flagged as the row says, or skipped), ``retried`` (transient: run once
with as many faults as the retries absorb, where it must recover, and once with one more, where it
must raise the row's error after ``MAX_RETRIES`` retries) or ``refused`` (raised at once, never
retried). Every row runs against the four hook calls (or those it concerns) and the list, add and
remove operators, in both response formats where the format makes a difference, and in every run:

- the request log shows exactly the attempts the row promises;
- a failure is the row's error type with its ``http_status``, ``code`` and a message naming the
  problem, with no ``requests`` exception chained under it;
- an add or delete took effect exactly when the fault let the request through;
- the list operator's output folder holds the previous run's file, byte for byte, and nothing
  else, unless the run succeeded, in which case it holds exactly the served list;
- the API key appears, in no encoding, in any log line, output, error text or written file;
- no subscriber address (nor the phone number of the odd rows) appears in any log line or error text.

Each example DAG then meets three rows (one it recovers from, one that outlasts its retries, one
answer it must not trust) after a good run: a failed run leaves every output of the good one byte
for byte, database included, and nothing downstream of the fetch runs on a list it did not get.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import traceback
from collections.abc import Callable, Collection
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import pendulum
import pytest
import requests
import urllib3

from airflow_provider_mailpartner.connection_settings import DEFAULT_MAX_RETRIES
from airflow_provider_mailpartner.exceptions import (
    MailPartnerAddError,
    MailPartnerApiError,
    MailPartnerError,
    MailPartnerRateLimitError,
    MailPartnerRemoveError,
    MailPartnerResponseError,
    MailPartnerTransportError,
)
from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook
from airflow_provider_mailpartner.operators.remove_unsubscribes import RemoveUnsubscribesOperator
from airflow_provider_mailpartner.operators.unsubscribe import AddUnsubscribesOperator, UnsubscribeListOperator
from airflow_provider_mailpartner.personal_data import mask_address
from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox
from airflow_provider_mailpartner.testing.wire import XML_DECLARATION, render_envelope
from tests.nasty_key import NASTY_KEY

if TYPE_CHECKING:
    from tests.dag_runs import DagRunResult
    from tests.example_dags.conftest import RunExample
    from tests.reliability.conftest import LeakCheck, RawHTTPServer

Target = Literal["list", "add", "delete", "credits"]
Format = Literal["json", "xml"]
Outcome = Literal["served", "retried", "refused"]

TARGETS: tuple[Target, ...] = ("list", "add", "delete", "credits")
COMMANDS: dict[Target, str] = {
    "list": "unsubscribe/list",
    "add": "unsubscribe/add",
    "delete": "unsubscribe/delete",
    "credits": "me",
}
BOTH: tuple[Format, ...] = ("json", "xml")
JSON: tuple[Format, ...] = ("json",)  # for faults below the format: timing and sockets
XML: tuple[Format, ...] = ("xml",)
LIST_ONLY: tuple[Target, ...] = ("list",)

TIMEOUT = 0.5  # seconds: short, so that waiting past it costs little
MAX_RETRIES = 1  # enough to tell "retried" from "not retried", and to count both
EXTRA = {"timeout": TIMEOUT, "max_retries": MAX_RETRIES, "retry_backoff": 0.01}
CONN_ID = "mp_matrix"
PARIS = ZoneInfo("Europe/Paris")
SEED = [
    {"email": "anne.martin@example.fr", "created_at": "2015-07-20 10:19:45"},
    {"email": " Zoë@Exämple.fr\t", "created_at": "2024-03-31 03:30:00"},  # the day Paris moves to summer time
    {"email": 'quote"d,comma@example.com', "created_at": "2024-10-27 02:30:00"},  # the hour that happens twice
]
NEW_ADDRESSES = ("new.person@example.com", "other.person@example.org")


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """The sound answer a faulted request stands for, in the format asked for; faults are made from it."""

    target: Target
    fmt: Format
    envelope: dict[str, Any]

    @property
    def content_type(self) -> str:
        return f"application/{self.fmt}"

    def body(self, **changes: object) -> bytes:
        """The envelope as MailPartner sends it, with fields changed (``None`` drops one, at any depth)."""
        return render_envelope(_dropping_none({**self.envelope, **changes}), self.fmt)

    def raw(self, *, headers: dict[str, str] | None = None, **changes: object) -> Fault:
        return Fault.raw(self.body(**changes).decode(), content_type=self.content_type, headers=headers)

    def records(self, **changes: object) -> list[dict[str, Any]]:
        """The list's entries, each with fields changed."""
        return [{**entry, **changes} for entry in self.envelope["data"]]


def _dropping_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _dropping_none(item) for name, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_dropping_none(item) for item in value]
    return value


@dataclass(frozen=True)
class Scripted:
    """A sandbox fault on the target's command, made from the sound answer."""

    make: Callable[[Answer], Fault]


@dataclass(frozen=True)
class RawBytes:
    """Exact bytes from ``raw_http``, for what the sandbox cannot send."""

    make: Callable[[Answer, RawHTTPServer], bytes]


@dataclass(frozen=True)
class NothingListens:
    """The connection's port is closed: every attempt is refused."""


Source = Scripted | RawBytes | NothingListens


@dataclass(frozen=True)
class Case:
    """One fault and what the package does about it; ``message`` may say ``{FORMAT}`` (JSON or XML)."""

    name: str
    source: Source
    outcome: Outcome
    error: type[MailPartnerError] | None = None
    message: str = ""
    http_status: int | None = None
    code: int | None = None
    targets: tuple[Target, ...] = TARGETS
    formats: tuple[Format, ...] = BOTH
    waits: float = 0.0  # the least time the retry waits (Retry-After)
    strict: bool = False  # the hook and operators built with strict=True
    # A list served with odd entries: what becomes of each sound record (None: skipped), and the reason.
    tolerated: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    odd_reason: str | None = None

    @property
    def variants(self) -> tuple[str, ...]:
        if self.outcome != "retried":
            return ("once",)
        return ("exhausts",) if isinstance(self.source, NothingListens) else ("recovers", "exhausts")


def each(fault: Fault) -> Scripted:
    return Scripted(lambda _: fault)


def served(name: str, source: Source, **details: Any) -> Case:
    return Case(name, source, "served", **details)


def retried(name: str, source: Source, error: type[MailPartnerError], message: str, **details: Any) -> Case:
    return Case(name, source, "retried", error, message, **details)


def refused(name: str, source: Source, error: type[MailPartnerError], message: str, **details: Any) -> Case:
    return Case(name, source, "refused", error, message, **details)


def untrustworthy(name: str, source: Source, message: str, **details: Any) -> Case:
    """An answer that cannot be trusted: a response error at HTTP 200, never retried."""
    return refused(name, source, MailPartnerResponseError, message, http_status=200, **details)


def odd_entries(
    name: str,
    change: Callable[[Answer], list[dict[str, Any]]],
    reason: str,
    tolerated: Callable[[dict[str, Any]], dict[str, Any] | None],
    message: str,
) -> tuple[Case, Case]:
    """A list answer whose entries ``change`` makes odd: by default served, each record becoming what
    ``tolerated`` says (None: skipped) and counted under ``reason``; refused with ``strict=True``."""
    source = Scripted(lambda answer: answer.raw(data=change(answer)))
    kept = Case(f"{name}: kept", source, "served", targets=LIST_ONLY, tolerated=tolerated, odd_reason=reason)
    strict = untrustworthy(f"{name} (strict=True)", source, message, targets=LIST_ONLY, strict=True)
    return kept, strict


def _flagged(reason: str, **fields: object) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda record: {**record, **fields, "odd": reason}


def _first_without_address(answer: Answer) -> list[dict[str, Any]]:
    first, *rest = answer.records()
    return [{**first, "email": ""}, *rest]


def _http_429(
    name: str,
    retry_after: int | None,
    outcome: Callable[..., Case] = retried,
    message: str = "rate limited",
    **details: Any,
) -> Case:
    fault = each(Fault.rate_limited(retry_after=retry_after))
    return outcome(name, fault, MailPartnerRateLimitError, message, http_status=429, code=429, **details)


def _reset_mid_body(answer: Answer) -> Fault:
    # The sandbox's head is ~160 bytes; past it, the reset cuts the body (never its last byte).
    return Fault.reset(after_bytes=200 + len(answer.body()) // 2)


def _duplicate_id(answer: Answer) -> Fault:
    first, second, *rest = answer.records()
    return answer.raw(data=[first, {**second, "id": first["id"]}, *rest])


def _smuggled(answer: Answer, raw: RawHTTPServer) -> bytes:
    """A sound answer, then a second whole answer glued behind it that no request asked for."""
    forged = answer.body(nbData=0, data=[]) if answer.target == "list" else answer.body(success=False, code=10)
    return b"".join(raw.answer(body, content_type=answer.content_type) for body in (answer.body(), forged))


def _cut(answer: Answer, raw: RawHTTPServer) -> bytes:
    body = answer.body()
    return raw.answer(body, content_type=answer.content_type, content_length=len(body) // 2)


def _latin1(answer: Answer, *, declare_latin1: bool = False) -> bytes:
    """The sound answer in Latin-1 bytes: Zoë's address in the list, an extra message field elsewhere."""
    envelope = answer.envelope if answer.target == "list" else {**answer.envelope, "message": "opération réussie"}
    if answer.fmt == "json":
        return json.dumps(envelope, ensure_ascii=False).encode("latin-1")
    text = render_envelope(envelope, "xml").decode()
    if declare_latin1:
        text = text.replace(XML_DECLARATION, '<?xml version="1.0" encoding="ISO-8859-1"?>\n')
    return text.encode("latin-1")


CASES: tuple[Case, ...] = (
    served("latency just under the timeout", each(Fault.latency(TIMEOUT * 0.6)), formats=JSON),
    retried(
        "latency just over the timeout",
        each(Fault.latency(TIMEOUT * 1.4)),
        MailPartnerTransportError,
        f"no answer within {TIMEOUT:g} s",
        formats=JSON,
    ),
    *(
        retried(
            f"HTTP {status}", each(Fault.http_error(status)), MailPartnerApiError, f"HTTP {status}", http_status=status
        )
        for status in (500, 502, 503, 504)
    ),
    _http_429("HTTP 429 without Retry-After", None),
    _http_429("HTTP 429 with Retry-After: 1", 1, formats=JSON, waits=1.0),
    _http_429(
        "HTTP 429 with Retry-After: 3600 (past the 120 s a task waits)",
        3600,
        outcome=refused,
        message="asked to wait 3600 s (Retry-After), longer than the 120 s a task waits",
    ),
    retried(
        "envelope code 429",
        each(Fault.envelope_error(429)),
        MailPartnerRateLimitError,
        "code 429",
        http_status=200,
        code=429,
    ),
    retried(
        "envelope code 500", each(Fault.envelope_error(500)), MailPartnerApiError, "code 500", http_status=200, code=500
    ),
    retried("connection refused", NothingListens(), MailPartnerTransportError, "Connection refused", formats=JSON),
    retried("connection reset before the answer", each(Fault.reset()), MailPartnerTransportError, "Connection aborted"),
    retried(
        "connection reset mid-body",
        Scripted(_reset_mid_body),
        MailPartnerTransportError,
        "broke before the whole answer",
    ),
    retried(
        "truncated body (Content-Length not reached)",
        each(Fault.truncated(0.5)),
        MailPartnerTransportError,
        "broke before the whole answer",
    ),
    retried(
        "two Content-Length headers that disagree",
        Scripted(lambda answer: answer.raw(headers={"Content-Length": "10"})),
        MailPartnerTransportError,
        "Content-Length contained multiple unmatching values",
    ),
    untrustworthy(
        "body longer than its Content-Length (the declared length cuts the document)",
        RawBytes(_cut),
        "invalid {FORMAT}",
    ),
    served("a second answer glued after the declared body (never read as the next answer)", RawBytes(_smuggled)),
    untrustworthy("malformed JSON", each(Fault.malformed()), "invalid JSON", formats=JSON),
    untrustworthy("malformed XML", each(Fault.malformed()), "invalid XML", formats=XML),
    untrustworthy("HTML error page at HTTP 200", each(Fault.html_page()), "HTML page"),
    untrustworthy(
        "empty body", Scripted(lambda answer: Fault.raw("", content_type=answer.content_type)), "body starts ''"
    ),
    untrustworthy(
        "success: true with code 201",
        Scripted(lambda answer: answer.raw(code=201)),
        "success=true contradicts code=201",
    ),
    untrustworthy(
        "nbData one too high",
        Scripted(lambda answer: answer.raw(nbData=answer.envelope["nbData"] + 1)),
        "truncated or corrupt",
        targets=LIST_ONLY,
    ),
    untrustworthy(
        "nbData one too low",
        Scripted(lambda answer: answer.raw(nbData=answer.envelope["nbData"] - 1)),
        "truncated or corrupt",
        targets=LIST_ONLY,
    ),
    untrustworthy(
        "duplicate ids in the list",
        Scripted(_duplicate_id),
        "id 1 is given 2 times (entries must have distinct ids)",
        targets=LIST_ONLY,
    ),
    *odd_entries(
        "list entries without createdAt",
        lambda answer: answer.records(createdAt=None),
        "date_not_readable",
        _flagged("date_not_readable", created_at=None),
        "entry 1: createdAt is not a 'YYYY-MM-DD HH:MM:SS' date",
    ),
    *odd_entries(
        "list dates in another format (ISO 8601 with T and offset)",
        lambda answer: answer.records(createdAt="2015-07-20T10:19:45+02:00"),
        "date_not_readable",
        _flagged("date_not_readable", created_at=None),
        "entry 1: createdAt is not a 'YYYY-MM-DD HH:MM:SS' date",
    ),
    *odd_entries(
        "list entries with id 0",
        lambda answer: answer.records(id=0),
        "id_not_usable",
        _flagged("id_not_usable", id=None),
        "entry 1: id is not a positive integer: 0",
    ),
    *odd_entries(
        "a phone number where the list's address goes",
        lambda answer: answer.records(email="+33612345678"),
        "not_an_email",
        _flagged("not_an_email", email="+33612345678"),
        "entry 1: email has no '@'",
    ),
    *odd_entries(
        "a list entry with an empty address",
        _first_without_address,
        "no_address",
        lambda record: None if record["id"] == 1 else record,
        "entry 1: email is missing or empty",
    ),
    untrustworthy(
        "add answer without stopId",
        Scripted(lambda answer: answer.raw(stopId=None)),
        "stopId is not an integer",
        targets=("add",),
    ),
    untrustworthy(
        "delete answer without code",
        Scripted(lambda answer: answer.raw(code=None)),
        "'code' is missing",
        targets=("delete",),
    ),
    untrustworthy(
        "credits without balance",
        Scripted(lambda answer: answer.raw(credits={**answer.envelope["credits"], "balance": None})),
        "balance is not a decimal number",
        targets=("credits",),
    ),
    untrustworthy(
        "non-UTF-8 bytes in JSON",
        RawBytes(lambda answer, raw: raw.answer(_latin1(answer))),
        "not valid UTF-8",
        formats=JSON,
    ),
    untrustworthy(
        "non-UTF-8 bytes in XML declared as UTF-8",
        RawBytes(lambda answer, raw: raw.answer(_latin1(answer), content_type=answer.content_type)),
        "not well-formed (invalid token)",
        formats=XML,
    ),
    served(
        "Latin-1 XML that declares its encoding",
        RawBytes(
            lambda answer, raw: raw.answer(_latin1(answer, declare_latin1=True), content_type=answer.content_type)
        ),
        formats=XML,
    ),
)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def matrix(targets: Collection[Target], *, with_target: bool = True) -> list[Any]:
    """Every (case, target, format, variant) the table holds for ``targets``, with a readable id."""
    params = []
    for case in CASES:
        for target in (t for t in case.targets if t in targets):
            for fmt in case.formats:
                for variant in case.variants:
                    values = (case, target, fmt, variant) if with_target else (case, fmt, variant)
                    name = f"{fmt}-{slug(case.name)}-{variant}"
                    name = f"{target}-{name}" if with_target else name
                    params.append(pytest.param(*values, id=name))
    return params


# --- the rig: the sandbox, the raw server or a closed port, behind one connection -----------------


def sound_answer(sandbox: MailPartnerSandbox, target: Target, fmt: Format) -> Answer:
    """The answer the sandbox's current state calls for."""
    backend = sandbox.backend
    envelope: dict[str, Any] = {"success": True, "code": 200}
    if target == "list":
        data = backend.entries()
        envelope.update(nbData=len(data), data=data)
    elif target == "add":
        envelope["stopId"] = backend.next_id
    elif target == "credits":
        envelope.update(user={"username": backend.username}, credits=backend.credits())
    return Answer(target, fmt, envelope)


@dataclass
class Rig:
    """What a case needs on the far side of the connection ``mp_matrix``, and its request counts."""

    sandbox: MailPartnerSandbox
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest
    _raw: RawHTTPServer | None = field(default=None, init=False)

    @property
    def raw(self) -> RawHTTPServer:
        if self._raw is None:
            self._raw = self.request.getfixturevalue("raw_http")
        return self._raw

    def connect(self, fmt: Format, source: Source | None = None, conn_id: str = CONN_ID) -> str:
        """Point ``conn_id`` at what ``source`` needs: the sandbox (the default), the raw server or a closed port."""
        host = self.sandbox.url
        if isinstance(source, RawBytes):
            host = self.raw.url
        elif isinstance(source, NothingListens):
            host = f"http://127.0.0.1:{self.request.getfixturevalue('closed_port')}"
        connection = {
            "conn_type": "mailpartner",
            "host": host,
            "password": NASTY_KEY,
            "extra": {**EXTRA, "response_format": fmt},
        }
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        return conn_id

    def answer(self, target: Target, fmt: Format) -> Answer:
        return sound_answer(self.sandbox, target, fmt)

    def arm(self, source: Source, answer: Answer, copies: int) -> None:
        """Queue ``copies`` faults for the next requests of the target (the raw server: sound answers after)."""
        if isinstance(source, Scripted):
            self.sandbox.faults.script(*[source.make(answer)] * copies, command=COMMANDS[answer.target])
        elif isinstance(source, RawBytes):
            sound = self.raw.answer(answer.body(), content_type=answer.content_type)
            self.raw.script(*[source.make(answer, self.raw)] * copies, *[sound] * 3)

    def requests(self, source: Source, target: Target) -> int:
        """Requests of ``target`` so far (the raw server counts all of its own); a closed port has none."""
        if isinstance(source, RawBytes):
            return self.raw.requests
        return sum(1 for record in self.sandbox.requests if record.command == COMMANDS[target])


@pytest.fixture
def rig(sandbox: MailPartnerSandbox, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Rig:
    """The sandbox holding ``SEED``, and the ways to put a case between it and the package."""
    sandbox.backend.seed(SEED)
    return Rig(sandbox, monkeypatch, request)


# --- what every run is checked against ----------------------------------------------------------


@dataclass
class Run:
    """One faulted call: the case, how it was armed, and what came back."""

    case: Case
    fmt: Format
    variant: str
    answer: Answer
    result: object = None
    error: BaseException | None = None
    requests: int = 0
    seconds: float = 0.0

    @property
    def copies(self) -> int:
        """Faults armed: as many as the retries absorb to recover, one more to exhaust them."""
        return {"recovers": MAX_RETRIES, "exhausts": MAX_RETRIES + 1}.get(self.variant, 1)

    @property
    def succeeds(self) -> bool:
        return self.case.outcome == "served" or self.variant == "recovers"

    @property
    def landed_before_answer(self) -> bool:
        """Whether the fault let the request take effect, so that a retry meets its consequence."""
        source = self.case.source
        return isinstance(source, Scripted) and not source.make(self.answer).replaces_answer

    @property
    def error_texts(self) -> list[str]:
        if self.error is None:
            return []
        return [str(self.error), repr(self.error), "".join(traceback.format_exception(self.error))]

    def check_requests(self) -> None:
        """As many attempts as the case promises: one, or one more than the faults absorbed."""
        if isinstance(self.case.source, NothingListens):
            return  # nothing to count on a closed port; the error's retries say it
        wanted = MAX_RETRIES + 1 if self.case.outcome == "retried" else 1
        assert self.requests == wanted, f"{self.requests} requests, expected {wanted}"
        assert self.seconds >= self.case.waits, "the retry did not wait as long as Retry-After asked"

    def check_error(self) -> None:
        """The case's error type, fields and message; retries counted; nothing from requests chained."""
        error, case = self.error, self.case
        assert error is not None, f"{case.name}: the call succeeded, expected {case.error}"
        assert type(error) is case.error, f"{type(error).__name__}: {error}"
        assert isinstance(error, MailPartnerError)
        assert (error.http_status, error.code) == (case.http_status, case.code), str(error)
        assert case.message.format(FORMAT=self.fmt.upper()) in str(error)
        assert f"MailPartner connection '{CONN_ID}'" in str(error)
        assert error.retries == (MAX_RETRIES if case.outcome == "retried" else 0)
        if case.outcome == "retried":
            assert str(error).endswith(f"(gave up after {MAX_RETRIES} retry)")
        chained: BaseException | None = error
        while chained is not None:
            assert not isinstance(chained, (requests.RequestException, urllib3.exceptions.HTTPError)), chained
            chained = chained.__cause__ or chained.__context__


def attempt(run: Run, rig: Rig, call: Callable[[], object]) -> Run:
    """Make the faulted call, keeping its result or its error, its request count and its duration."""
    before = rig.requests(run.case.source, run.answer.target)
    started = time.monotonic()
    try:
        run.result = call()
    except Exception as error:  # kept and checked against the case
        run.error = error
    run.seconds = time.monotonic() - started
    run.requests = rig.requests(run.case.source, run.answer.target) - before
    return run


def assert_no_address(answer: Answer, *texts: str) -> None:
    """The personal-data audit: no address of the list (nor the phone number of the odd rows) in ``texts``."""
    everything = "\n".join(texts).lower()
    for address in [entry["email"].strip() for entry in answer.envelope["data"]] + ["+33612345678"]:
        assert address.lower() not in everything, "an address reached a log line or an error text"


def expected_records(answer: Answer) -> list[dict[str, Any]]:
    """The records a sound list answer gives, worked out here, not by the package."""
    return [
        {
            "id": entry["id"],
            "email": entry["email"].strip(),
            "created_at": datetime.fromisoformat(entry["createdAt"]).replace(tzinfo=PARIS).isoformat(),
        }
        for entry in answer.envelope["data"]
    ]


def served_records(run: Run) -> list[dict[str, Any]]:
    """The records of the run's list: the sound ones, made odd or skipped as the case says."""
    sound = expected_records(run.answer)
    if run.case.tolerated is None:
        return sound
    return [record for record in map(run.case.tolerated, sound) if record is not None]


def served_odd_entries(run: Run) -> dict[str, int]:
    """The manifest's ``odd_entries`` for the run's list."""
    sound, served = len(run.answer.envelope["data"]), served_records(run)
    odd = sound - len(served) + sum("odd" in record for record in served)
    return {run.case.odd_reason: odd} if run.case.odd_reason else {}


# --- the hook's four calls ------------------------------------------------------------------------


def call_hook(hook: MailPartnerHook, target: Target, victim: int) -> object:
    if target == "list":
        return hook.get_unsubscribes()
    if target == "add":
        return hook.add_unsubscribe(NEW_ADDRESSES[0])
    if target == "delete":
        return hook.delete_unsubscribe(victim)
    return hook.get_credits()


def check_result(run: Run, result: object) -> None:
    """What the call returned is what the sound answer holds."""
    target, envelope = run.answer.target, run.answer.envelope
    if target == "list":
        assert isinstance(result, list)
        got = [
            {"id": e.id, "email": e.email, "created_at": e.created_at and e.created_at.isoformat()}
            | ({"odd": e.odd} if e.odd else {})
            for e in result
        ]
        assert got == served_records(run)
    elif target == "add":
        # An add that landed before its answer was lost meets code 3 on the retry: listed, id unknown.
        assert result == (None if run.variant == "recovers" and run.landed_before_answer else envelope["stopId"])
    elif target == "delete":
        assert result is None
    else:
        credits = envelope["credits"]
        assert (result.credit_mail, result.currency, result.balance) == (  # type: ignore[attr-defined]
            credits["creditMail"],
            credits["currency"],
            Decimal(credits["balance"]),
        )


def check_effect(run: Run, rig: Rig, victim: int) -> None:
    """An add or delete took effect exactly when it succeeded or its fault let it through."""
    if not isinstance(run.case.source, Scripted) or run.answer.target not in ("add", "delete"):
        return
    landed = run.error is None or run.landed_before_answer
    if run.answer.target == "add":
        assert rig.sandbox.backend.has_email(NEW_ADDRESSES[0]) == landed
    else:
        assert (victim not in {entry["id"] for entry in rig.sandbox.backend.entries()}) == landed


@pytest.mark.parametrize(("case", "target", "fmt", "variant"), matrix(TARGETS))
def test_hook_call(case: Case, target: Target, fmt: Format, variant: str, rig: Rig, leak_check: LeakCheck) -> None:
    hook = MailPartnerHook(rig.connect(fmt, case.source), strict=case.strict)
    victim = rig.sandbox.backend.entries()[1]["id"]
    run = Run(case, fmt, variant, rig.answer(target, fmt))
    rig.arm(case.source, run.answer, run.copies)

    attempt(run, rig, lambda: call_hook(hook, target, victim))

    run.check_requests()
    if run.succeeds:
        assert run.error is None, f"{type(run.error).__name__}: {run.error}"
        check_result(run, run.result)
        if isinstance(case.source, RawBytes):  # the same kept-alive hook: its next answer is its own
            check_result(run, call_hook(hook, target, victim))
    else:
        run.check_error()
    check_effect(run, rig, victim)
    if target == "list":
        assert_no_address(run.answer, leak_check.output(), *run.error_texts)
    leak_check.assert_clean(repr(run.result), *run.error_texts)


# --- the operators ------------------------------------------------------------------------------


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder``, hidden staging files included, with its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n" for record in records).encode()


@pytest.mark.parametrize(("case", "fmt", "variant"), matrix({"list"}, with_target=False))
def test_list_operator_to_storage(
    case: Case, fmt: Format, variant: str, rig: Rig, leak_check: LeakCheck, tmp_path: Path
) -> None:
    """A good run publishes a file; the list changes; the faulted run publishes the new list or nothing."""
    folder = tmp_path / "out"
    target = f"file://{folder}/unsubscribes.jsonl"
    previous = UnsubscribeListOperator(
        task_id="previous", mailpartner_conn_id=rig.connect(fmt, conn_id="mp_previous"), output_path=target
    )
    previous.execute({})  # type: ignore[arg-type]
    before = folder_bytes(folder)
    rig.sandbox.backend.add("late.optout@example.com")
    operator = UnsubscribeListOperator(
        task_id="fetch",
        mailpartner_conn_id=rig.connect(fmt, case.source),
        output_path=target,
        response_format=fmt,
        strict=case.strict,
    )
    run = Run(case, fmt, variant, rig.answer("list", fmt))
    rig.arm(case.source, run.answer, run.copies)

    attempt(run, rig, lambda: operator.execute({}))  # type: ignore[arg-type]

    run.check_requests()
    if run.succeeds:
        assert run.error is None, f"{type(run.error).__name__}: {run.error}"
        wanted = served_records(run)
        published = folder_bytes(folder)
        assert published["unsubscribes.jsonl"] == jsonl(wanted)
        assert not [name for name in published if ".partial-" in name], "a staging file was left behind"
        assert run.result["count"] == run.result["added"] == len(wanted)  # type: ignore[index]
        assert run.result["odd_entries"] == served_odd_entries(run)  # type: ignore[index]
    else:
        run.check_error()
        assert folder_bytes(folder) == before, "a failed run changed the published file or left a partial one"
    assert_no_address(run.answer, leak_check.output(), *run.error_texts)
    leak_check.assert_clean(repr(run.result), *run.error_texts, files_under=tmp_path)


@pytest.mark.parametrize(("case", "fmt", "variant"), matrix({"add"}, with_target=False))
def test_add_operator(case: Case, fmt: Format, variant: str, rig: Rig, leak_check: LeakCheck) -> None:
    """The first address meets the fault, the second does not; a failure names exactly what did not get through."""
    listed_before = rig.sandbox.backend.entries()
    operator = AddUnsubscribesOperator(
        task_id="push",
        mailpartner_conn_id=rig.connect(fmt, case.source),
        emails=list(NEW_ADDRESSES),
        max_workers=1,
        response_format=fmt,
    )
    run = Run(case, fmt, variant, rig.answer("add", fmt))
    rig.arm(case.source, run.answer, run.copies)

    attempt(run, rig, lambda: operator.execute({}))  # type: ignore[arg-type]

    assert all(entry in rig.sandbox.backend.entries() for entry in listed_before), "an earlier entry changed"
    failed = list(NEW_ADDRESSES) if isinstance(case.source, NothingListens) else [NEW_ADDRESSES[0]]
    if run.succeeds:
        early = int(run.variant == "recovers" and run.landed_before_answer)
        assert run.result == {"added": 2 - early, "already_listed": early, "invalid": 0, "failed": 0}
    else:
        assert isinstance(run.error, MailPartnerAddError)
        assert run.error.counts["failed"] == len(failed)
        shown = ", ".join(repr(mask_address(address)) for address in failed)
        assert f"{len(failed)} opt-out(s) did not reach MailPartner after retries: {shown};" in str(run.error)
        masked = re.escape(mask_address(failed[0]))
        (why,) = re.findall(f"Not added to MailPartner: {masked} \\((.*)\\)", leak_check.output())
        assert case.message.format(FORMAT=fmt.upper()) in why
    for address in NEW_ADDRESSES:  # personal data: in no log line and no error text
        assert address not in leak_check.output()
        assert all(address not in text for text in run.error_texts)
    if isinstance(case.source, Scripted):
        landed = run.error is None or run.landed_before_answer
        assert rig.sandbox.backend.has_email(NEW_ADDRESSES[0]) == landed
        assert rig.sandbox.backend.has_email(NEW_ADDRESSES[1])
    leak_check.assert_clean(repr(run.result), *run.error_texts)


@pytest.mark.parametrize(
    ("case", "fmt", "variant"),
    # (raw bytes would answer the list request too, which the operator makes first: the hook's delete rows cover them)
    [param for param in matrix({"delete"}, with_target=False) if not isinstance(param.values[0].source, RawBytes)],
)
def test_remove_operator(case: Case, fmt: Format, variant: str, rig: Rig, leak_check: LeakCheck) -> None:
    """The list is read, then the first address's delete meets the fault, the second's does not."""
    entries = rig.sandbox.backend.entries()
    addresses = [entry["email"].strip() for entry in entries[:2]]
    operator = RemoveUnsubscribesOperator(
        task_id="remove",
        mailpartner_conn_id=rig.connect(fmt, case.source),
        emails=addresses,
        max_workers=1,
        response_format=fmt,
    )
    run = Run(case, fmt, variant, rig.answer("delete", fmt))
    rig.arm(case.source, run.answer, run.copies)

    attempt(run, rig, lambda: operator.execute({}))  # type: ignore[arg-type]

    listed_ids = {entry["id"] for entry in rig.sandbox.backend.entries()}
    if isinstance(case.source, NothingListens):  # the list cannot be read: nothing is sent
        assert isinstance(run.error, MailPartnerTransportError)
    elif run.succeeds:
        assert run.result == {"removed": 2, "not_listed": 0, "invalid": 0, "failed": 0}
    else:
        assert isinstance(run.error, MailPartnerRemoveError)
        assert (run.error.counts["failed"], run.error.counts["removed"]) == (1, 1)
        masked = re.escape(mask_address(addresses[0]))
        (why,) = re.findall(f"Not removed from MailPartner's list: {masked} \\((.*)\\)", leak_check.output())
        assert case.message.format(FORMAT=fmt.upper()) in why
    if isinstance(case.source, Scripted):
        landed = run.error is None or run.landed_before_answer
        assert (entries[0]["id"] not in listed_ids) == landed
        assert entries[1]["id"] not in listed_ids
    for address in addresses:  # personal data: in no log line and no error text
        assert address.lower() not in leak_check.output().lower()
        assert all(address.lower() not in text.lower() for text in run.error_texts)
    leak_check.assert_clean(repr(run.result), *run.error_texts)


@pytest.mark.parametrize("fmt", BOTH)
@pytest.mark.parametrize("repeat", [False, True], ids=["distinct", "one-id-twice"])
def test_ids_are_checked_in_any_order_across_read_windows(rig: Rig, fmt: Format, repeat: bool) -> None:
    """The API does not document its order: a falling list is served whole; one id given twice, far apart, is not.

    30,000 entries span several read windows, and a falling order takes the check off its cheap path.
    """
    data = [{"id": n, "email": f"user{n}@example.com", "createdAt": "2020-01-01 00:00:00"} for n in range(30000, 0, -1)]
    if repeat:
        data[25000]["id"] = data[5000]["id"]
    answer = Answer("list", fmt, {"success": True, "code": 200, "nbData": len(data), "data": data})
    rig.sandbox.faults.script(answer.raw(), command=COMMANDS["list"])
    records = MailPartnerHook(rig.connect(fmt)).iter_unsubscribe_records()
    if repeat:
        with pytest.raises(MailPartnerResponseError, match=f"id {data[5000]['id']} is given 2 times"):
            list(records)
    else:
        assert [record["id"] for record in records] == [entry["id"] for entry in data]


def test_the_table_covers_every_fault_the_issue_names() -> None:
    """Issue 5 names the faults; the table must keep a row for each (a guard against a row lost in an edit)."""
    names = " | ".join(case.name for case in CASES)
    for fault in [
        "just under the timeout",
        "just over the timeout",
        *(f"HTTP {status}" for status in (500, 502, 503, 504)),
        "429 without Retry-After",
        "429 with Retry-After",
        "envelope code 429",
        "envelope code 500",
        "connection refused",
        "reset mid-body",
        "truncated body",
        "longer than its Content-Length",
        "malformed JSON",
        "malformed XML",
        "HTML error page at HTTP 200",
        "empty body",
        "success: true with code 201",
        "nbData one too high",
        "nbData one too low",
        "duplicate ids",
        "without createdAt",
        "dates in another format",
        "id 0",
        "phone number",
        "empty address",
        "non-UTF-8 bytes in JSON",
        "non-UTF-8 bytes in XML",
    ]:
        assert fault in names, f"no row for {fault!r}"


# --- the example DAGs: three rows each, between a good run and what follows it -------------------

DAY = pendulum.datetime(2025, 6, 1, tz="UTC")
NEXT_DAY = DAY.add(days=1)
LATE = "late.optout@example.com"  # unsubscribes between the good run and the faulted one
SUPPRESS_FILE_LATER = ("suppress_contacts", "publish_clean_list")
CONTACTS = "email,name\nanne.martin@example.fr,Anne\nlate.optout@example.com,Late\nkeep.me@example.com,Keep\n"


@dataclass(frozen=True)
class DagFault:
    """A row of the table as a DAG meets it: once, or on every request of the command (it outlasts the retries)."""

    row: str
    variant: Literal["recovers", "exhausts", "once"]

    def arm(self, sandbox: MailPartnerSandbox, target: Target) -> None:
        (source,) = [case.source for case in CASES if case.name == self.row]
        assert isinstance(source, Scripted)
        fault = source.make(sound_answer(sandbox, target, "json"))
        sandbox.clear_requests()
        if self.variant == "exhausts":
            sandbox.faults.set_rate(1.0, kinds=[fault], command=COMMANDS[target])
        else:
            sandbox.faults.script(fault, command=COMMANDS[target])

    def check(
        self,
        result: DagRunResult,
        sandbox: MailPartnerSandbox,
        target: Target,
        clean: int,
        task: str,
        skipped: Collection[str] = (),
    ) -> None:
        """The run's state, ``task`` failing (and ``skipped`` not run) unless it recovers, and its requests.

        :param clean: how many requests of ``target`` the run makes when nothing goes wrong.
        """
        if self.variant == "recovers":
            assert result.state == "success", result.task_states
        else:
            assert result.state == "failed"
            assert result.task_states[task] == "failed"
            assert {result.task_states[name] for name in skipped} <= {"upstream_failed"}, result.task_states
        wanted = {"recovers": clean + 1, "exhausts": clean * (DEFAULT_MAX_RETRIES + 1), "once": clean}[self.variant]
        assert sum(1 for r in sandbox.requests if r.command == COMMANDS[target]) == wanted


def dag_faults(recovers: str, exhausts: str, untrusted: str) -> list[Any]:
    rows = ((recovers, "recovers"), (exhausts, "exhausts"), (untrusted, "once"))
    return [pytest.param(DagFault(row, variant), id=f"{variant}-{slug(row)}") for row, variant in rows]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fault", dag_faults("connection reset mid-body", "envelope code 500", "HTML error page at HTTP 200")
)
def test_example_suppress_file(
    fault: DagFault, run_example: RunExample, example_root: Path, mailpartner: MailPartnerSandbox, leak_check: LeakCheck
) -> None:
    """A failed day publishes nothing and keeps the published clean list; a recovered one drops the new opt-out."""
    file, dag_id = "example_mailpartner_suppress_file.py", "example_mailpartner_suppress_file"
    mailpartner.backend.seed(SEED)
    (example_root / "contacts.csv").write_text(CONTACTS)
    assert run_example(file, dag_id, logical_date=DAY).state == "success"
    before = folder_bytes(example_root)
    mailpartner.backend.add(LATE)
    fault.arm(mailpartner, "list")

    result = run_example(file, dag_id, logical_date=NEXT_DAY)

    fault.check(result, mailpartner, "list", clean=1, task="fetch_unsubscribes", skipped=SUPPRESS_FILE_LATER)
    if fault.variant == "recovers":
        assert (
            example_root / "published" / "contacts.clean.csv"
        ).read_text() == "email,name\nkeep.me@example.com,Keep\n"
        fetched = (example_root / "runs" / dag_id / result.run_id / "unsubscribes.jsonl").read_bytes()
        assert fetched == jsonl(expected_records(sound_answer(mailpartner, "list", "json")))
    else:
        assert folder_bytes(example_root) == before
    leak_check.assert_clean(repr(result.xcoms), files_under=example_root)


@pytest.mark.parametrize(
    "fault",
    dag_faults(
        "HTTP 429 with Retry-After: 1", "truncated body (Content-Length not reached)", "duplicate ids in the list"
    ),
)
def test_example_suppress_sql(
    fault: DagFault,
    run_example: RunExample,
    example_root: Path,
    mailpartner: MailPartnerSandbox,
    leak_check: LeakCheck,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A failed day leaves the database byte for byte as it was; a recovered one marks the new opt-out."""
    file, dag_id = "example_mailpartner_suppress_sql.py", "example_mailpartner_suppress_sql"
    database = tmp_path / "crm.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_MAILPARTNER_EXAMPLE_DB", json.dumps({"conn_type": "sqlite", "host": str(database)})
    )
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, unsubscribed_at TEXT)")
        conn.executemany(
            "INSERT INTO contacts (email) VALUES (?)", [(line.split(",")[0],) for line in CONTACTS.split()[1:]]
        )
        conn.commit()
    mailpartner.backend.seed(SEED)
    assert run_example(file, dag_id, logical_date=DAY).state == "success"
    before = database.read_bytes(), folder_bytes(example_root)
    mailpartner.backend.add(LATE)
    fault.arm(mailpartner, "list")

    result = run_example(file, dag_id, logical_date=NEXT_DAY)

    fault.check(result, mailpartner, "list", clean=1, task="fetch_unsubscribes", skipped=["load_unsubscribes"])
    if fault.variant == "recovers":
        with closing(sqlite3.connect(database)) as conn:
            marked = [
                email for (email,) in conn.execute("SELECT email FROM contacts WHERE unsubscribed_at IS NOT NULL")
            ]
            mirrored = conn.execute("SELECT count(*) FROM mailpartner_unsubscribes").fetchone()[0]
        assert (sorted(marked), mirrored) == (["anne.martin@example.fr", LATE], len(SEED) + 1)
    else:
        assert (database.read_bytes(), folder_bytes(example_root)) == before
    leak_check.assert_clean(repr(result.xcoms), files_under=example_root)


@pytest.mark.parametrize("fault", dag_faults("HTTP 502", "HTTP 429 without Retry-After", "add answer without stopId"))
def test_example_sync_optouts(
    fault: DagFault, run_example: RunExample, example_root: Path, mailpartner: MailPartnerSandbox, leak_check: LeakCheck
) -> None:
    """Earlier opt-outs stay listed; a failed run names exactly the addresses that did not get through."""
    file, dag_id = "example_mailpartner_sync_optouts.py", "example_mailpartner_sync_optouts"
    (example_root / "optouts").mkdir()
    (example_root / "optouts" / "2025-06-01.csv").write_text("email\nfirst.optout@example.com\n")
    (example_root / "optouts" / "2025-06-02.csv").write_text(f"email\n{LATE}\n{NEW_ADDRESSES[0]}\n")
    assert run_example(file, dag_id, logical_date=DAY).state == "success"
    before = mailpartner.backend.entries()
    fault.arm(mailpartner, "add")

    result = run_example(file, dag_id, logical_date=NEXT_DAY)

    fault.check(result, mailpartner, "add", clean=2, task="push_optouts")
    assert all(entry in mailpartner.backend.entries() for entry in before)
    listed = [address for address in (LATE, NEW_ADDRESSES[0]) if mailpartner.backend.has_email(address)]
    missing = [address for address in (LATE, NEW_ADDRESSES[0]) if address not in listed]
    assert len(listed) == {"recovers": 2, "exhausts": 0, "once": 1}[fault.variant]
    if missing:
        shown = ", ".join(repr(mask_address(address)) for address in missing)
        assert f"{len(missing)} opt-out(s) did not reach MailPartner after retries: {shown};" in leak_check.output()
        assert all(address not in leak_check.output() for address in missing)  # personal data: masked
    leak_check.assert_clean(repr(result.xcoms), files_under=example_root)


@pytest.mark.parametrize("fault", dag_faults("envelope code 429", "HTTP 504", "nbData one too low"))
def test_example_assets(
    fault: DagFault, run_example: RunExample, example_root: Path, mailpartner: MailPartnerSandbox, leak_check: LeakCheck
) -> None:
    """After a failed producer, the consumer still gets a list and a manifest that agree: the previous ones."""
    file = "example_mailpartner_assets.py"
    producer, consumer = "example_mailpartner_asset_producer", "example_mailpartner_asset_consumer"
    mailpartner.backend.seed(SEED)
    (example_root / "contacts.csv").write_text(CONTACTS)
    assert run_example(file, producer).state == "success"
    assert run_example(file, consumer).state == "success"
    before = folder_bytes(example_root)
    mailpartner.backend.add(LATE)
    fault.arm(mailpartner, "list")

    produced = run_example(file, producer)
    consumed = run_example(file, consumer)

    fault.check(produced, mailpartner, "list", clean=1, task="fetch_unsubscribes")
    assert consumed.state == "success", consumed.task_states
    if fault.variant == "recovers":
        assert (example_root / "latest" / "contacts.clean.csv").read_text() == "email,name\nkeep.me@example.com,Keep\n"
    else:
        assert folder_bytes(example_root) == before
    leak_check.assert_clean(repr(produced.xcoms), repr(consumed.xcoms), files_under=example_root)


@pytest.mark.parametrize(
    "fault",
    dag_faults(
        "HTTP 500",
        "connection reset before the answer",
        "duplicate ids in the list",
    ),
)
def test_example_multi_account(
    fault: DagFault,
    run_example: RunExample,
    example_root: Path,
    sandbox: MailPartnerSandbox,
    leak_check: LeakCheck,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Brand B's fault: a failed run leaves no merged set and the earlier run's files as they were."""
    file, dag_id = "example_mailpartner_multi_account.py", "example_mailpartner_multi_account"
    with MailPartnerSandbox(api_key=NASTY_KEY, rate_limit_per_minute=None) as brand_b:
        for conn_id, server in (("mp_brand_a", sandbox), ("mp_brand_b", brand_b)):
            for name, value in server.airflow_env(conn_id, extra={"retry_backoff": 0.01}).items():
                monkeypatch.setenv(name, value)
        monkeypatch.setenv("AIRFLOW_VAR_MAILPARTNER_ACCOUNTS", json.dumps(["mp_brand_a", "mp_brand_b"]))
        sandbox.backend.seed(SEED[:2])
        brand_b.backend.seed(SEED[1:])
        assert run_example(file, dag_id, logical_date=DAY).state == "success"
        before = folder_bytes(example_root)
        sandbox.backend.add(LATE)
        brand_b.backend.add(NEW_ADDRESSES[0])
        fault.arm(brand_b, "list")

        result = run_example(file, dag_id, logical_date=DAY)  # the same day: a folder of its own all the same

        fault.check(result, brand_b, "list", clean=1, task="fetch_unsubscribes[1]", skipped=["merge_suppression_set"])
        assert brand_b.errors == []
    folder = f"runs/{dag_id}/{result.run_id}"
    if fault.variant == "recovers":
        merged = (example_root / folder / "suppression_set.csv").read_text()
        assert f"{LATE},mp_brand_a\n" in merged
        assert f"{NEW_ADDRESSES[0]},mp_brand_b\n" in merged
    else:
        assert result.task_states["fetch_unsubscribes[0]"] == "success"
        brand_a = jsonl(expected_records(sound_answer(sandbox, "list", "json")))
        after = folder_bytes(example_root)
        assert after[f"{folder}/accounts/mp_brand_a.jsonl"] == brand_a
        # Brand B's files (its list, changes, snapshot and state) are as they were, and nothing else appeared.
        assert {name: data for name, data in after.items() if "mp_brand_a" not in name} == {
            name: data for name, data in before.items() if "mp_brand_a" not in name
        }
    leak_check.assert_clean(repr(result.xcoms), files_under=example_root)
