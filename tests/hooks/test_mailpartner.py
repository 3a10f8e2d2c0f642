"""MailPartnerHook against the sandbox over real HTTP on loopback: every method, both formats."""

from __future__ import annotations

import json
import re
import socket
import time
from collections import deque
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests

from airflow_provider_mailpartner.exceptions import (
    MailPartnerApiError,
    MailPartnerAuthError,
    MailPartnerConfigError,
    MailPartnerError,
    MailPartnerRateLimitError,
    MailPartnerResponseError,
    MailPartnerTransportError,
)
from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook
from airflow_provider_mailpartner.records import Unsubscribe
from airflow_provider_mailpartner.testing import Fault

FORMATS = ["json", "xml"]
PARIS = ZoneInfo("Europe/Paris")
SEED = [
    {"email": "alice@example.com", "created_at": "2015-07-20 10:19:45"},
    {"email": "Bob.Smith@Example.ORG", "created_at": "2021-03-28 02:30:00"},
    {"email": "zoë@exämple.fr", "created_at": "2024-12-31 23:59:59"},
]


def api_requests(sandbox, command: str | None = None) -> list:
    return [r for r in sandbox.requests if command is None or r.command == command]


# --- the unsubscribe list -------------------------------------------------------------------


@pytest.mark.parametrize("response_format", FORMATS)
@pytest.mark.parametrize("count", [0, 1, 3])
def test_list_returns_every_entry_typed_in_both_formats(sandbox, make_hook, response_format, count):
    sandbox.backend.seed(SEED[:count])
    served = sandbox.backend.entries()

    records = make_hook(response_format=response_format).get_unsubscribes()

    assert records == [
        Unsubscribe(
            id=entry["id"],
            email=entry["email"],
            created_at=datetime.fromisoformat(entry["createdAt"]).replace(tzinfo=PARIS),
        )
        for entry in served
    ]
    assert all(r.created_at.tzinfo is not None and r.created_at.utcoffset() is not None for r in records)


def test_json_and_xml_give_identical_records(sandbox, make_hook):
    sandbox.backend.generate(500, seed=3)
    hook = make_hook()
    assert hook.get_unsubscribes(response_format="json") == hook.get_unsubscribes(response_format="xml")
    assert [r.response_format for r in api_requests(sandbox)] == ["json", "xml"]


def test_iter_unsubscribes_streams_the_same_data(sandbox, make_hook):
    sandbox.backend.generate(1200, seed=5)
    hook = make_hook()
    iterator = hook.iter_unsubscribes()
    first = next(iterator)
    assert isinstance(first, Unsubscribe)
    assert [first, *iterator] == hook.get_unsubscribes()


def test_created_at_is_read_in_the_connection_timezone(sandbox, make_hook):
    sandbox.backend.seed(SEED[:1])
    (paris,) = make_hook().get_unsubscribes()
    (utc,) = make_hook(timezone="UTC").get_unsubscribes()
    assert paris.created_at.isoformat() == "2015-07-20T10:19:45+02:00"
    assert utc.created_at.isoformat() == "2015-07-20T10:19:45+00:00"
    assert paris.as_record() == {
        "id": paris.id,
        "email": "alice@example.com",
        "created_at": "2015-07-20T10:19:45+02:00",
    }


@pytest.mark.parametrize("response_format", FORMATS)
def test_email_is_kept_as_sent_but_stripped_of_surrounding_space(sandbox, make_hook, response_format):
    sandbox.backend.seed([{"email": "  Mixed.Case@Example.com\t", "created_at": "2020-01-01 00:00:00"}])
    (record,) = make_hook(response_format=response_format).get_unsubscribes()
    assert record.email == "Mixed.Case@Example.com"


# --- add, delete, credits ---------------------------------------------------------------------


@pytest.mark.parametrize("response_format", FORMATS)
def test_add_returns_the_new_id_and_the_entry_is_listed(sandbox, make_hook, response_format):
    hook = make_hook(response_format=response_format)
    new_id = hook.add_unsubscribe("new.person@example.com")
    assert isinstance(new_id, int)
    assert [(e["id"], e["email"]) for e in sandbox.backend.entries()] == [(new_id, "new.person@example.com")]


@pytest.mark.parametrize("response_format", FORMATS)
def test_adding_an_already_listed_address_returns_none_and_changes_nothing(sandbox, make_hook, response_format):
    sandbox.backend.seed(SEED[:1])
    before = sandbox.backend.entries()
    assert make_hook(response_format=response_format).add_unsubscribe(" ALICE@example.com ") is None
    assert sandbox.backend.entries() == before


@pytest.mark.parametrize("response_format", FORMATS)
def test_adding_an_invalid_address_raises_code_9(sandbox, make_hook, response_format):
    with pytest.raises(MailPartnerApiError) as info:
        make_hook(response_format=response_format).add_unsubscribe("not an address")
    assert info.value.code == 9
    assert sandbox.backend.entries() == []


@pytest.mark.parametrize("response_format", FORMATS)
def test_delete_removes_the_entry_by_id(sandbox, make_hook, response_format):
    sandbox.backend.seed(SEED)
    victim = sandbox.backend.entries()[1]
    make_hook(response_format=response_format).delete_unsubscribe(victim["id"])
    assert victim not in sandbox.backend.entries()
    assert len(sandbox.backend.entries()) == 2
    assert api_requests(sandbox, "unsubscribe/delete")[0].method == "GET"


@pytest.mark.parametrize("response_format", FORMATS)
def test_deleting_an_unknown_id_raises_code_4(sandbox, make_hook, response_format):
    sandbox.backend.seed(SEED)
    with pytest.raises(MailPartnerApiError) as info:
        make_hook(response_format=response_format).delete_unsubscribe(999_999)
    assert info.value.code == 4
    assert len(sandbox.backend.entries()) == 3


@pytest.mark.parametrize("response_format", FORMATS)
def test_credits_balance_is_an_exact_decimal(sandbox, make_hook, response_format):
    credits = make_hook(response_format=response_format).get_credits()
    assert credits.balance == Decimal("10225.119")
    assert isinstance(credits.credit_mail, int)
    assert credits.credit_mail == 269082
    assert credits.currency == "EUR"


def test_test_connection_reports_the_credit_figure(make_hook):
    ok, message = make_hook().test_connection()
    assert ok is True
    assert "269082" in message


def test_test_connection_fails_cleanly_with_a_wrong_key(sandbox, make_hook):
    ok, message = make_hook(password="wrong-key-123").test_connection()
    assert ok is False
    assert "code 10" in message
    assert "wrong-key-123" not in message
    assert len(api_requests(sandbox)) == 1


def test_test_connection_fails_cleanly_when_nothing_answers(make_hook):
    port = _free_port()
    ok, message = make_hook(host=f"http://127.0.0.1:{port}", max_retries=0).test_connection()
    assert ok is False
    assert "Connection refused" in message


def test_response_format_can_be_overridden_per_call(sandbox, make_hook):
    hook = make_hook(response_format="json")
    hook.get_credits(response_format="xml")
    hook.get_credits()
    assert [r.response_format for r in api_requests(sandbox)] == ["xml", "json"]
    with pytest.raises(MailPartnerConfigError, match="response_format"):
        hook.get_credits(response_format="csv")


@pytest.mark.parametrize("form", ["json", "uri"])
@pytest.mark.parametrize("response_format", FORMATS)
def test_connection_as_json_or_uri_reaches_the_sandbox(sandbox, monkeypatch, form, response_format):
    sandbox.backend.seed(SEED)
    if form == "json":
        value = sandbox.connection_json(response_format, extra={"timezone": "UTC"})
    else:
        value = sandbox.connection_uri(response_format, extra={"timezone": "UTC"})
    monkeypatch.setenv(f"AIRFLOW_CONN_MP_{form.upper()}_{response_format.upper()}", value)
    hook = MailPartnerHook(mailpartner_conn_id=f"mp_{form}_{response_format}")
    assert hook.settings.base_url == sandbox.url
    assert len(hook.get_unsubscribes()) == 3
    assert hook.get_unsubscribes()[0].created_at.tzname() == "UTC"
    assert [r.response_format for r in api_requests(sandbox)] == [response_format] * 2


# --- the hook as an Airflow hook ------------------------------------------------------------


def test_constructing_a_hook_does_no_io():
    hook = MailPartnerHook(mailpartner_conn_id="does_not_exist")
    assert repr(hook) == "MailPartnerHook(mailpartner_conn_id='does_not_exist')"
    with pytest.raises(MailPartnerConfigError, match="'does_not_exist' is not defined"):
        hook.get_credits()


def test_one_session_serves_every_call(sandbox, make_hook):
    hook = make_hook()
    session = hook.get_conn()
    assert isinstance(session, requests.Session)
    hook.get_credits()
    hook.get_unsubscribes()
    assert hook.get_conn() is session


def test_calls_reuse_one_kept_alive_connection(sandbox, make_hook, monkeypatch):
    import urllib3.connection

    opened: list[object] = []
    connect = urllib3.connection.HTTPConnection.connect
    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", lambda self: opened.append(self) or connect(self))
    hook = make_hook()
    for number in range(5):
        hook.get_credits()
        hook.get_unsubscribes()
        hook.add_unsubscribe(f"keep.alive.{number}@example.com")
    assert len(api_requests(sandbox)) == 15
    assert len(opened) == 1


def test_wrong_connection_type_is_refused(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NOT_MP", '{"conn_type": "http", "host": "https://x", "password": "k"}')
    with pytest.raises(MailPartnerConfigError, match="type 'http'"):
        MailPartnerHook(mailpartner_conn_id="not_mp").get_credits()


def test_plain_http_to_a_public_host_is_refused_before_any_dns_lookup(make_hook, monkeypatch):
    hook = make_hook(host="http://api.mailpartner.fr")

    def no_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"DNS lookup attempted: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(MailPartnerConfigError, match="plain http"):
        hook.get_credits()


# --- errors from the API --------------------------------------------------------------------


@pytest.mark.parametrize("response_format", FORMATS)
def test_wrong_key_raises_auth_error_at_once_naming_the_connection(sandbox, make_hook, response_format):
    hook = make_hook(password="not-the-key", response_format=response_format)
    with pytest.raises(MailPartnerAuthError) as info:
        hook.get_unsubscribes()
    assert info.value.code == 10
    assert hook.mailpartner_conn_id in str(info.value)
    assert "code 10" in str(info.value)
    assert len(api_requests(sandbox)) == 1


@pytest.mark.parametrize("code", [1, 10, 20, 30, 40, 96])
def test_every_auth_code_is_never_retried(sandbox, make_hook, code):
    sandbox.faults.script(Fault.envelope_error(code))
    with pytest.raises(MailPartnerAuthError) as info:
        make_hook().get_credits()
    assert info.value.code == code
    assert len(api_requests(sandbox)) == 1


RECOVERABLE = {
    "http-500": lambda: Fault.http_error(500),
    "http-502": lambda: Fault.http_error(502),
    "http-503": lambda: Fault.http_error(503),
    "http-504": lambda: Fault.http_error(504),
    "http-429": lambda: Fault.rate_limited(),
    "http-429-retry-after": lambda: Fault.rate_limited(retry_after=0),
    "code-429": lambda: Fault.envelope_error(429),
    "code-500": lambda: Fault.envelope_error(500),
    "reset": lambda: Fault.reset(),
    "truncated": lambda: Fault.truncated(),
    "slow": lambda: Fault.latency(1.0),
}


@pytest.mark.parametrize("response_format", FORMATS)
@pytest.mark.parametrize("fault", RECOVERABLE.values(), ids=RECOVERABLE.keys())
def test_transient_faults_are_retried_until_success(sandbox, make_hook, fault, response_format):
    sandbox.backend.generate(50, seed=1)
    sandbox.faults.script(fault(), fault(), command="unsubscribe/list")
    records = make_hook(response_format=response_format, timeout=0.5).get_unsubscribes()
    assert [r.id for r in records] == [e["id"] for e in sandbox.backend.entries()]
    assert len(api_requests(sandbox, "unsubscribe/list")) == 3


EXHAUSTED = {
    "http-503": (lambda: Fault.http_error(503), MailPartnerApiError, {"http_status": 503}),
    "http-429": (lambda: Fault.rate_limited(), MailPartnerRateLimitError, {"http_status": 429, "code": 429}),
    "code-429": (lambda: Fault.envelope_error(429), MailPartnerRateLimitError, {"code": 429}),
    "code-500": (lambda: Fault.envelope_error(500), MailPartnerApiError, {"code": 500}),
    "reset": (lambda: Fault.reset(), MailPartnerTransportError, {}),
    "truncated": (lambda: Fault.truncated(), MailPartnerTransportError, {}),
    "slow": (lambda: Fault.latency(1.0), MailPartnerTransportError, {}),
}


@pytest.mark.parametrize(("fault", "error", "fields"), EXHAUSTED.values(), ids=EXHAUSTED.keys())
def test_faults_outliving_the_retries_raise_the_right_error(sandbox, make_hook, fault, error, fields):
    sandbox.faults.script(*(fault() for _ in range(3)))
    with pytest.raises(error) as info:
        make_hook(max_retries=2, timeout=0.5).get_credits()
    for name, value in fields.items():
        assert getattr(info.value, name) == value
    assert len(api_requests(sandbox)) == 3
    assert _no_requests_exception_in_chain(info.value)


def test_an_unreadable_retry_after_is_ignored_not_fatal(sandbox, make_hook):
    sandbox.faults.script(Fault.raw("", status=429, content_type="text/plain", headers={"Retry-After": "\u00b2"}))
    assert make_hook().get_credits().credit_mail == 269082
    assert len(api_requests(sandbox)) == 2


def test_a_server_that_trickles_is_abandoned_at_the_attempt_deadline(sandbox, make_hook):
    sandbox.backend.seed(SEED)
    sandbox.faults.script(Fault.trickle(0.05))
    started = time.monotonic()
    with pytest.raises(MailPartnerTransportError, match="took longer than 3 s"):
        make_hook(timeout=0.1, max_retries=0).get_unsubscribes()
    assert time.monotonic() - started < 6


def test_an_environment_proxy_never_sees_plain_http_requests(sandbox, make_hook, monkeypatch):
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        proxy.setblocking(False)
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.getsockname()[1]}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        assert make_hook().get_credits().credit_mail == 269082
        with pytest.raises(BlockingIOError):
            proxy.accept()


@pytest.mark.parametrize("response_format", FORMATS)
def test_a_delete_whose_answer_was_lost_succeeds_on_the_retry(sandbox, make_hook, response_format):
    sandbox.backend.seed(SEED)
    victim = sandbox.backend.entries()[0]["id"]
    sandbox.faults.script(Fault.reset(processed=True))
    make_hook(response_format=response_format).delete_unsubscribe(victim)
    assert victim not in [e["id"] for e in sandbox.backend.entries()]
    assert [r.code for r in api_requests(sandbox)] == [None, 4]


def test_an_add_whose_answer_was_lost_returns_none_and_the_address_is_listed(sandbox, make_hook):
    sandbox.faults.script(Fault.reset(processed=True))
    assert make_hook().add_unsubscribe("lost.answer@example.com") is None
    assert [e["email"] for e in sandbox.backend.entries()] == ["lost.answer@example.com"]


def test_a_delete_of_an_unknown_id_on_the_first_attempt_still_raises(sandbox, make_hook):
    with pytest.raises(MailPartnerApiError) as info:
        make_hook().delete_unsubscribe(424242)
    assert (info.value.code, info.value.retries) == (4, 0)


@pytest.mark.parametrize("bad", [1.9, True, -3, 0, "seven", None])
def test_delete_refuses_anything_but_a_positive_integer_id(sandbox, make_hook, bad):
    sandbox.backend.seed(SEED)
    with pytest.raises(ValueError, match="unsubscribe_id must be a positive integer"):
        make_hook().delete_unsubscribe(bad)
    assert api_requests(sandbox) == []


def test_delete_accepts_an_id_rendered_as_text(sandbox, make_hook):
    sandbox.backend.seed(SEED)
    first = sandbox.backend.entries()[0]["id"]
    make_hook().delete_unsubscribe(str(first))
    assert first not in [e["id"] for e in sandbox.backend.entries()]


def test_retry_after_is_waited_for(sandbox, make_hook):
    sandbox.faults.script(Fault.rate_limited(retry_after=1))
    started = time.monotonic()
    make_hook(retry_backoff=0.01).get_credits()
    assert time.monotonic() - started >= 1.0
    assert len(api_requests(sandbox)) == 2


@pytest.mark.parametrize("response_format", FORMATS)
@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (lambda: Fault.malformed(), "invalid"),
        (lambda: Fault.html_page(), "HTML page"),
    ],
    ids=["malformed", "html"],
)
def test_untrustworthy_bodies_raise_response_error_without_retrying(
    sandbox, make_hook, response_format, fault, problem
):
    sandbox.backend.generate(10, seed=2)
    sandbox.faults.script(fault())
    with pytest.raises(MailPartnerResponseError, match=problem) as info:
        make_hook(response_format=response_format).get_unsubscribes()
    assert info.value.http_status == 200
    assert "body starts" in str(info.value)
    assert len(api_requests(sandbox)) == 1


def envelope(records: list[dict], **fields: object) -> str:
    return json.dumps({"success": True, "code": 200, "nbData": len(records), "data": records, **fields})


GOOD = {"id": 7, "email": "a@example.com", "createdAt": "2020-02-02 20:20:20"}


def xml_list(nb_data: str, *records: list[str]) -> str:
    body = "".join("<entry>" + "".join(f"<entry>{v}</entry>" for v in r) + "</entry>" for r in records)
    return f"<result><entry>true</entry><entry>200</entry><entry>{nb_data}</entry><entry>{body}</entry></result>"


UNTRUSTWORTHY = {
    "nbData-too-high": (envelope([GOOD], nbData=2), "nbData says 2 entries but the answer holds 1"),
    "nbData-too-low": (envelope([GOOD, {**GOOD, "id": 8}], nbData=1), "nbData says 1 entries but the answer holds 2"),
    "nbData-missing": (json.dumps({"success": True, "code": 200, "data": [GOOD]}), "nbData is missing"),
    "id-missing": (envelope([{"email": "a@b.c", "createdAt": GOOD["createdAt"]}]), "id is not an integer"),
    "id-not-integer": (envelope([{**GOOD, "id": "seven"}]), "id is not an integer"),
    "id-boolean": (envelope([{**GOOD, "id": True}]), "id is not an integer"),
    "email-missing": (envelope([{"id": 1, "createdAt": GOOD["createdAt"]}]), "email is missing"),
    "email-blank": (envelope([{**GOOD, "email": "   "}]), "email is missing"),
    "date-missing": (envelope([{"id": 1, "email": "a@b.c"}]), "createdAt is not"),
    "date-other-format": (envelope([{**GOOD, "createdAt": "20/07/2015 10:19"}]), "createdAt is not"),
    "date-impossible": (envelope([{**GOOD, "createdAt": "2015-02-30 10:19:45"}]), "createdAt is not"),
    "entry-not-object": (envelope(["a@b.c"]), "not an object"),
    "success-false-no-code": (json.dumps({"success": False, "message": "oops"}), "'code' is missing"),
    "success-not-boolean": (json.dumps({"success": "yes", "code": 200}), "'success' is missing"),
    "success-true-code-not-200": (json.dumps({"success": True, "code": 201, "nbData": 0, "data": []}), "contradicts"),
    "empty-body": ("", "expected '{'"),
    "data-missing": (json.dumps({"success": True, "code": 200, "nbData": 0}), "no 'data' list"),
    "data-null": (envelope([], data=None), "'data' is not a list"),
    "data-string": (envelope([], data="oops"), "'data' is not a list"),
    "data-twice": (envelope([GOOD])[:-1] + ', "data": []}', "gives 'data' twice"),
    "success-again-after-data": (envelope([GOOD])[:-1] + ', "success": false, "code": 10}', "'success' twice"),
    "nbData-again-after-data": (envelope([GOOD])[:-1] + ', "nbData": 5}', "'nbData' twice"),
    "nan-literal": (envelope([], x="NAN")[:-1].replace('"NAN"', "NaN") + "}", "invalid JSON"),
    "huge-exponent": (envelope([], x="BIG").replace('"BIG"', "1e99999999999999999999"), "invalid JSON"),
    "nbData-superscript": (envelope([GOOD], nbData="\u00b2"), "nbData is missing or not a count"),
    "nbData-double-minus": (envelope([GOOD], nbData="--1"), "nbData is missing or not a count"),
    "nbData-negative": (envelope([], nbData=-1), "nbData is missing or not a count"),
    "id-superscript": (envelope([{**GOOD, "id": "\u00b2"}]), "id is not an integer"),
    "id-double-minus": (envelope([{**GOOD, "id": "--5"}]), "id is not an integer"),
    "id-negative": (envelope([{**GOOD, "id": -7}]), "id is not a positive integer"),
    "date-with-offset": (envelope([{**GOOD, "createdAt": "2020-02-02 20:20+05"}]), "createdAt is not"),
    "date-hour-and-offset": (envelope([{**GOOD, "createdAt": "2020-02-02 20+05:00"}]), "createdAt is not"),
    "date-arabic-digits": (envelope([{**GOOD, "createdAt": "\u0662020-02-02 20:20:20"}]), "createdAt is not"),
    "xml-no-data-entry": (
        "<result><entry>true</entry><entry>200</entry><entry>0</entry></result>",
        "no 'data' list",
    ),
    "xml-data-holds-text": (
        "<result><entry>true</entry><entry>200</entry><entry>0</entry><entry>garbage</entry></result>",
        "data entry holds text",
    ),
    "json-array": ("[]", "expected '{'"),
    "xml-nbData-mismatch": (xml_list("3", ["1", "a@b.c", GOOD["createdAt"]]), "nbData says 3"),
    "xml-record-short": (xml_list("1", ["1", "a@b.c"]), "createdAt is not"),
}


@pytest.mark.parametrize(("payload", "problem"), UNTRUSTWORTHY.values(), ids=UNTRUSTWORTHY.keys())
def test_every_untrustworthy_list_answer_raises_response_error(sandbox, make_hook, payload, problem):
    response_format = "xml" if payload.startswith("<") else "json"
    sandbox.faults.script(Fault.raw(payload, content_type=f"application/{response_format}"))
    hook = make_hook(response_format=response_format, strict=True)  # (odd entries: refused only when strict)
    with pytest.raises(MailPartnerResponseError, match=re.escape(problem)) as info:
        hook.get_unsubscribes()
    assert info.value.http_status == 200
    assert len(api_requests(sandbox)) == 1


@pytest.mark.parametrize("first", [["2", "c@x.fr"], ["0", "c@x.fr", GOOD["createdAt"]], ["x", "c@x.fr"]])
def test_a_repeated_id_is_refused_whatever_odd_entry_shares_its_batch(sandbox, make_hook, first):
    # An XML entry with two fields is a dict beside typed entries: the ids of both kinds are checked.
    date = GOOD["createdAt"]
    payload = xml_list("3", first, ["1", "a@x.fr", date], ["1", "b@x.fr", date])
    sandbox.faults.script(Fault.raw(payload, content_type="application/xml"))
    with pytest.raises(MailPartnerResponseError, match="id 1 is given 2 times"):
        make_hook(response_format="xml").get_unsubscribes()


def test_odd_entries_come_back_flagged_and_counted_by_the_iterator(sandbox, make_hook):
    entries = [GOOD, {**GOOD, "id": 0, "email": "b@example.com"}, "c@example.com", {**GOOD, "id": 9, "email": ""}]
    sandbox.faults.script(Fault.raw(envelope(entries)))
    listed = make_hook().iter_unsubscribes()
    got = [(entry.id, entry.email, entry.created_at is not None, entry.odd) for entry in listed]
    assert got == [
        (7, "a@example.com", True, None),
        (None, "b@example.com", True, "id_not_usable"),
        (None, "c@example.com", False, "id_not_usable,date_not_readable"),
    ]
    assert listed.odd_entries == {"id_not_usable": 2, "date_not_readable": 1, "no_address": 1}


@pytest.mark.parametrize("response_format", ["json", "xml"])
@pytest.mark.parametrize("reader", ["get_unsubscribes", "iter_unsubscribe_records"])
def test_a_bad_entry_deep_in_a_long_list_is_named_by_its_position(sandbox, make_hook, response_format, reader):
    records = [{**GOOD, "id": number} for number in range(1, 30001)]  # several read windows
    records[24321] = {**GOOD, "id": -1}
    if response_format == "json":
        payload = envelope(records)
    else:
        payload = xml_list("30000", *([str(r["id"]), r["email"], r["createdAt"]] for r in records))
    sandbox.faults.script(Fault.raw(payload, content_type=f"application/{response_format}"))
    with pytest.raises(MailPartnerResponseError, match=r"entry 24322: id is not a positive integer"):
        list(getattr(make_hook(response_format=response_format, strict=True), reader)())


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (json.dumps({"success": True, "code": 200}), "'credits' is missing"),
        (json.dumps({"success": True, "code": 200, "credits": {"creditMail": 1, "currency": "EUR"}}), "balance"),
        (
            json.dumps({"success": True, "code": 200, "credits": {"creditMail": 1, "currency": "EUR", "balance": "x"}}),
            "balance is not a decimal",
        ),
    ],
)
def test_incomplete_credits_raise_response_error(sandbox, make_hook, payload, problem):
    sandbox.faults.script(Fault.raw(payload))
    with pytest.raises(MailPartnerResponseError, match=problem):
        make_hook().get_credits()


def test_add_answer_without_stop_id_raises_response_error(sandbox, make_hook):
    sandbox.faults.script(Fault.raw(json.dumps({"success": True, "code": 200})))
    with pytest.raises(MailPartnerResponseError, match="stopId"):
        make_hook().add_unsubscribe("a@example.com")


def test_an_error_envelope_with_http_error_status_is_read(sandbox, make_hook):
    sandbox.faults.script(Fault.raw(json.dumps({"success": False, "code": 10, "message": "bad key"}), status=401))
    with pytest.raises(MailPartnerAuthError) as info:
        make_hook().get_credits()
    assert (info.value.http_status, info.value.code) == (401, 10)


def test_an_unexpected_http_status_without_envelope_raises_response_error(sandbox, make_hook):
    sandbox.faults.script(Fault.raw("Forbidden", status=403, content_type="text/plain"))
    with pytest.raises(MailPartnerResponseError, match="unexpected HTTP 403") as info:
        make_hook().get_credits()
    assert info.value.http_status == 403


@pytest.mark.parametrize("status", [200, 401, 500, 503])
@pytest.mark.parametrize("response_format", FORMATS)
def test_an_auth_code_is_never_retried_whatever_the_http_status(sandbox, make_hook, status, response_format):
    if response_format == "json":
        payload = json.dumps({"success": False, "code": 10, "message": "Mauvaise clé API"})
    else:
        payload = "<result><entry>false</entry><entry>10</entry><entry><![CDATA[Mauvaise clé]]></entry></result>"
    sandbox.faults.script(Fault.raw(payload, status=status, content_type=f"application/{response_format}"))
    with pytest.raises(MailPartnerAuthError) as info:
        make_hook(response_format=response_format).get_unsubscribes()
    assert (info.value.code, info.value.http_status) == (10, status)
    assert len(api_requests(sandbox)) == 1


def test_an_error_envelope_in_the_other_format_is_still_read(sandbox, make_hook):
    sandbox.faults.script(Fault.raw(json.dumps({"success": False, "code": 10, "message": "bad key"})))
    with pytest.raises(MailPartnerAuthError):
        make_hook(response_format="xml").get_credits()


def test_success_false_with_code_200_is_a_contradiction(sandbox, make_hook):
    sandbox.faults.script(Fault.raw(json.dumps({"success": False, "code": 200})))
    with pytest.raises(MailPartnerResponseError, match="success=false contradicts code=200"):
        make_hook().get_credits()


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        ('{"success": true, "code": 200, "nbData": 1, "data": [DATA]}', "text/html; charset=UTF-8"),
        ('\ufeff{"success": true, "code": 200, "nbData": 1, "data": [DATA]}', "application/json"),
        ('{"success": 1, "code": "200", "nbData": "1", "data": [DATA]}', "application/json"),
        ('{"data": [DATA], "nbData": 1, "code": 200, "success": true}', "application/json"),
    ],
    ids=["json-labelled-html", "byte-order-mark", "php-style-scalars", "header-after-data"],
)
def test_well_formed_answers_from_a_sloppy_server_are_accepted(sandbox, make_hook, payload, content_type):
    sandbox.faults.script(Fault.raw(payload.replace("DATA", json.dumps(GOOD)), content_type=content_type))
    (record,) = make_hook().get_unsubscribes()
    assert (record.id, record.email) == (GOOD["id"], GOOD["email"])


def test_a_numeric_balance_is_read_exactly(sandbox, make_hook):
    credits = {"creditMail": 5, "currency": "EUR", "balance": 10225.119}
    sandbox.faults.script(Fault.raw(json.dumps({"success": True, "code": 200, "credits": credits})))
    assert make_hook().get_credits().balance == Decimal("10225.119")


def test_retry_warnings_describe_each_attempt_and_the_error_counts_the_retries(sandbox, make_hook, caplog):
    sandbox.faults.script(*(Fault.http_error(503) for _ in range(3)))
    with pytest.raises(MailPartnerApiError) as info:
        make_hook(max_retries=2).get_credits()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert "retry 1 of 2" in warnings[0]
    assert "gave up" not in warnings[0]
    assert str(info.value).endswith("(gave up after 2 retries)")


def test_redirects_are_never_followed(sandbox, make_hook):
    sandbox.faults.script(Fault.raw("", status=302, headers={"Location": "https://evil.example/collect?x=1"}))
    with pytest.raises(
        MailPartnerResponseError, match=re.escape("redirect to 'https://evil.example/collect' not followed")
    ):
        make_hook().get_unsubscribes()
    assert len(api_requests(sandbox)) == 1


def test_an_oversized_small_answer_is_refused(sandbox, make_hook):
    sandbox.faults.script(Fault.raw(json.dumps({"success": True, "code": 200, "pad": "x" * 2_000_000})))
    with pytest.raises(MailPartnerResponseError, match="larger than"):
        make_hook().get_credits()


def _no_requests_exception_in_chain(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, requests.RequestException) and not isinstance(seen, MailPartnerError):
            return False
        seen = seen.__cause__ or seen.__context__
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_a_million_entry_list_streams_identically_in_json_and_xml(sandbox, make_hook):
    sandbox.backend.generate(1_000_000, seed=11)
    last = sandbox.backend.entries()[-1]
    hook = make_hook()
    for response_format in FORMATS:
        ((count, entry),) = deque(enumerate(hook.iter_unsubscribes(response_format=response_format), 1), maxlen=1)
        assert count == 1_000_000
        assert (entry.id, entry.email) == (last["id"], last["email"])
        assert entry.created_at == datetime.fromisoformat(last["createdAt"]).replace(tzinfo=PARIS)


@pytest.mark.parametrize("host", ["https://{address}", "{address}"], ids=["https-scheme", "no-scheme-means-https"])
def test_https_to_a_plain_http_server_fails_at_once_saying_to_write_http(sandbox, make_hook, host):
    """A TLS handshake that failed fails again: no retry (it used to take 24-33 s), and the fix in the message."""
    hook = make_hook(host=host.format(address=sandbox.url.removeprefix("http://")), max_retries=5, retry_backoff=1)
    with pytest.raises(MailPartnerTransportError) as raised:
        hook.get_credits()
    assert raised.value.retries == 0  # not one of the 5 retries, with their backoff
    assert f"the server at https://{sandbox.url.removeprefix('http://')} does not speak TLS (https)" in str(
        raised.value
    )
    assert "write http://... as the connection's host" in str(raised.value)
    assert raised.value.__cause__ is None
    assert sandbox.requests == []
