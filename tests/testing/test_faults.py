"""Fault injection, observed from the client side, and the fault plan's scheduling rules."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import time
from collections.abc import Callable
from xml.parsers.expat import ExpatError

import pytest
import requests
import xmltodict

from airflow_provider_mailpartner.testing import Fault, FaultPlan, MailPartnerSandbox
from airflow_provider_mailpartner.testing.faults import FAULT_KINDS
from airflow_provider_mailpartner.testing.wire import ResponseFormat, WireResponse

from .client import API_KEY, ApiClient, xml_entries

# -- each kind, from the client side ---------------------------------------------------------------


def test_latency_delays_the_normal_answer(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.latency(0.3))

    started = time.monotonic()
    response = api.get("me")

    assert time.monotonic() - started >= 0.3
    assert response.json()["code"] == 200
    assert sandbox.requests[-1].fault == "latency"


def test_latency_longer_than_the_client_timeout_raises_a_read_timeout(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.faults.script(Fault.latency(1.0))

    with pytest.raises(requests.ReadTimeout):
        api.session.get(api.url("me"), params={"apiKey": API_KEY}, timeout=(5, 0.2))


def test_an_add_that_times_out_on_latency_has_taken_effect_and_is_logged(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.faults.script(Fault.latency(1.0))

    with pytest.raises(requests.ReadTimeout):
        api.session.post(
            api.url("unsubscribe/add"), json={"apiKey": API_KEY, "email": "slow@example.fr"}, timeout=(5, 0.2)
        )

    assert sandbox.backend.has_email("slow@example.fr")
    assert [(r.command, r.fault, r.code) for r in sandbox.requests] == [("unsubscribe/add", "latency", 200)]


@pytest.mark.parametrize(
    ("status", "title"),
    [(500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable"), (504, "Gateway Timeout")],
)
def test_http_error_sends_the_status_with_a_proxy_html_page(
    sandbox: MailPartnerSandbox, api: ApiClient, status: int, title: str
) -> None:
    sandbox.faults.script(Fault.http_error(status))

    response = api.get("unsubscribe/list")

    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")
    assert f"<h1>{status} {title}</h1>" in response.text
    assert "Retry-After" not in response.headers


def test_http_error_with_a_json_body_carries_an_error_envelope_and_retry_after(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.faults.script(Fault.http_error(503, body="json", retry_after=7))

    response = api.get("unsubscribe/list")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.json()["success"] is False
    assert response.json()["code"] == 503


def test_http_error_does_not_let_an_add_take_effect(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.http_error(502))

    assert api.post("unsubscribe/add", email="a@example.fr").status_code == 502
    assert not sandbox.backend.has_email("a@example.fr")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_rate_limited_sends_http_429_with_envelope_429_and_retry_after(
    sandbox: MailPartnerSandbox, api: ApiClient, fmt: str
) -> None:
    sandbox.faults.script(Fault.rate_limited(retry_after=3))

    response = api.get("unsubscribe/list", fmt=fmt)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    if fmt == "xml":
        assert xml_entries(response.content) == ["false", "429", "Too many requests"]
    else:
        assert response.json() == {"success": False, "code": 429, "message": "Too many requests"}


def test_rate_limited_without_retry_after_sends_no_header(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.rate_limited())

    response = api.get("me")

    assert response.status_code == 429
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize("code", [429, 500, 10, 96])
def test_envelope_error_answers_the_code_at_http_200(sandbox: MailPartnerSandbox, api: ApiClient, code: int) -> None:
    sandbox.faults.script(Fault.envelope_error(code))

    response = api.get("unsubscribe/list")

    assert response.status_code == 200
    assert response.json()["success"] is False
    assert response.json()["code"] == code
    assert sandbox.requests[-1].code == code


def test_envelope_error_can_use_another_http_status_and_message(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.envelope_error(500, "Erreur interne", http_status=500))

    response = api.get("me", fmt="xml")

    assert response.status_code == 500
    assert xml_entries(response.content) == ["false", "500", "Erreur interne"]


def test_reset_makes_the_client_raise_a_connection_error(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.reset())

    with pytest.raises(requests.ConnectionError):
        api.get("unsubscribe/list")
    assert sandbox.requests[-1].http_status is None
    assert api.get("unsubscribe/list").status_code == 200  # the next request is served


def _read_until_closed(connection: socket.socket) -> tuple[bytes, str]:
    """Everything the server sent, and how the connection ended: ``"eof"`` or ``"reset"``."""
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        return received, "reset"
    return received, "eof"


def test_reset_after_some_bytes_sends_part_of_the_status_line_then_resets(sandbox: MailPartnerSandbox) -> None:
    sandbox.faults.script(Fault.reset(after_bytes=12))

    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as connection:
        connection.sendall(f"GET /v1/me?apiKey={API_KEY} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received, ending = _read_until_closed(connection)

    assert (received, ending) == (b"HTTP/1.1 200", "reset")


@pytest.mark.parametrize("after_bytes", [10_000, 1_000_000])
def test_reset_after_more_bytes_than_the_answer_still_withholds_its_last_byte(
    sandbox: MailPartnerSandbox, after_bytes: int
) -> None:
    sandbox.faults.script(Fault.reset(after_bytes=after_bytes))

    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as connection:
        connection.sendall(f"GET /v1/me?apiKey={API_KEY} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received, ending = _read_until_closed(connection)
    head, _, body = received.partition(b"\r\n\r\n")
    declared = int(next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length:")).split()[1])

    assert ending == "reset"
    assert len(body) == declared - 1
    assert sandbox.requests[-1].http_status is None


def test_reset_sends_a_tcp_reset_not_a_clean_close(sandbox: MailPartnerSandbox) -> None:
    sandbox.faults.script(Fault.reset())

    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as connection:
        connection.sendall(f"GET /v1/me?apiKey={API_KEY} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert _read_until_closed(connection) == (b"", "reset")


def test_reset_part_way_through_the_body_raises_on_the_client(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.backend.generate(50)
    sandbox.faults.script(Fault.reset(after_bytes=400))

    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        api.get("unsubscribe/list").json()


def test_reset_before_processing_leaves_an_add_without_effect(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.reset())

    with pytest.raises(requests.ConnectionError):
        api.post("unsubscribe/add", email="a@example.fr")

    assert not sandbox.backend.has_email("a@example.fr")


def test_reset_after_processing_adds_and_a_retry_meets_code_3(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.reset(processed=True))

    with pytest.raises(requests.ConnectionError):
        api.post("unsubscribe/add", email="a@example.fr")

    assert sandbox.backend.has_email("a@example.fr")
    assert api.post("unsubscribe/add", email="a@example.fr").json()["code"] == 3


def test_truncated_declares_the_full_length_and_the_client_read_fails(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.backend.generate(20)
    sandbox.faults.script(Fault.truncated())

    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        api.get("unsubscribe/list")
    assert sandbox.requests[-1].fault == "truncated"
    assert sandbox.requests[-1].code is None


def test_truncated_sends_fewer_body_bytes_than_content_length(sandbox: MailPartnerSandbox) -> None:
    sandbox.backend.generate(20)
    sandbox.faults.script(Fault.truncated(fraction=0.25))
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as connection:
        connection.sendall(f"GET /v1/unsubscribe/list?apiKey={API_KEY} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data, ending = _read_until_closed(connection)
    assert ending == "eof"
    head, _, body = data.partition(b"\r\n\r\n")
    declared = int(next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length:")).split()[1])

    assert 0 < len(body) == declared // 4 < declared


def test_malformed_json_is_status_200_json_that_does_not_parse(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.backend.generate(3)
    sandbox.faults.script(Fault.malformed())

    response = api.get("unsubscribe/list")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_malformed_xml_is_status_200_xml_that_does_not_parse(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.malformed())

    response = api.get("me", fmt="xml")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    with pytest.raises(ExpatError):
        xmltodict.parse(response.content)


def test_html_page_is_text_html_with_status_200(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.html_page())

    response = api.get("unsubscribe/list")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_raw_fault_sends_exactly_the_given_answer(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    payload = '{"success": true, "code": 200, "nbData": 5, "data": []}'
    sandbox.faults.script(
        Fault.raw(payload), Fault.raw("", status=302, headers={"Location": "https://elsewhere.example/"})
    )

    response = api.get("unsubscribe/list")
    redirect = api.session.get(api.url("me"), allow_redirects=False, timeout=10)

    assert response.status_code == 200
    assert response.text == payload
    assert response.headers["Content-Type"].startswith("application/json")
    assert redirect.status_code == 302
    assert redirect.headers["Location"] == "https://elsewhere.example/"
    assert Fault.from_dict(Fault.raw(payload).to_dict()) == Fault.raw(payload)


# -- scheduling ------------------------------------------------------------------------------------


def test_scripted_faults_are_used_in_order_then_requests_pass(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.http_error(503), Fault.http_error(502), Fault.envelope_error(500))

    outcomes = [(r.status_code, r.headers["Content-Type"].split(";")[0]) for r in (api.get("me") for _ in range(4))]

    assert outcomes == [(503, "text/html"), (502, "text/html"), (200, "application/json"), (200, "application/json")]
    assert [r.fault for r in sandbox.requests] == ["http_error", "http_error", "envelope_error", None]
    assert sandbox.faults.pending() == []


def test_scripted_faults_for_a_command_leave_other_commands_alone(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.http_error(503), Fault.rate_limited(retry_after=1), command="unsubscribe/list")

    assert api.get("me").status_code == 200
    assert api.post("unsubscribe/add", email="a@example.fr").status_code == 200
    assert len(sandbox.faults.pending()) == 2
    assert api.get("unsubscribe/list").status_code == 503
    assert api.get("me").status_code == 200
    assert api.get("unsubscribe/list").status_code == 429
    assert api.get("unsubscribe/list").status_code == 200


def test_scripted_faults_with_and_without_a_command_interleave_by_order(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.faults.script(Fault.http_error(500), command="/v1/unsubscribe/list/")
    sandbox.faults.script(Fault.http_error(502))

    assert api.get("me").status_code == 502  # the list-only fault is skipped, the general one used
    assert api.get("unsubscribe/list").status_code == 500
    assert api.get("unsubscribe/list").status_code == 200


def test_unknown_paths_and_wrong_methods_use_up_no_scripted_fault(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.http_error(503))
    sandbox.faults.set_rate(1.0, kinds=["html_page"], command="me")

    strays = [
        api.session.get(f"{sandbox.url}/favicon.ico", timeout=10).status_code,
        api.get("unsubscribe/nothing").status_code,
        api.post("me").status_code,
    ]

    assert strays == [404, 404, 405]
    assert [r.fault for r in sandbox.requests] == [None, None, None]
    assert len(sandbox.faults.pending()) == 1
    assert api.get("me").status_code == 503


def test_script_rejects_an_unknown_command(sandbox: MailPartnerSandbox) -> None:
    with pytest.raises(ValueError, match="unknown command"):
        sandbox.faults.script(Fault.reset(), command="unsubscribe/lsit")


def _fault_sequence(sandbox: MailPartnerSandbox, api: ApiClient, seed: int) -> list[str | None]:
    sandbox.reset()
    sandbox.faults.set_rate(0.5, seed=seed, kinds=["http_error", "envelope_error", "html_page", "malformed"])
    for _ in range(40):
        api.get("me")
    return [record.fault for record in sandbox.requests]


def test_random_faults_repeat_for_the_same_seed_and_differ_for_another(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    first = _fault_sequence(sandbox, api, seed=7)
    again = _fault_sequence(sandbox, api, seed=7)
    other = _fault_sequence(sandbox, api, seed=8)

    assert first == again
    assert first != other
    assert 5 < sum(kind is not None for kind in first) < 35
    assert len({kind for kind in first if kind is not None}) > 1


def test_random_faults_only_hit_their_command(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.set_rate(1.0, kinds=[Fault.http_error(503)], command="unsubscribe/list")

    assert api.get("me").status_code == 200
    assert api.get("unsubscribe/list").status_code == 503


def test_scripted_faults_take_precedence_over_random_ones(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.set_rate(1.0, kinds=["html_page"])
    sandbox.faults.script(Fault.http_error(504))

    assert api.get("me").status_code == 504
    assert api.get("me").headers["Content-Type"].startswith("text/html")


def test_clear_drops_scripted_and_random_faults(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.script(Fault.http_error(503))
    sandbox.faults.set_rate(1.0)

    sandbox.faults.clear()

    assert [api.get("me").status_code for _ in range(5)] == [200] * 5
    assert sandbox.faults.rate == 0.0


def test_control_endpoints_never_get_faults(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.faults.set_rate(1.0, kinds=["reset", "http_error"])
    sandbox.faults.script(Fault.reset())

    statuses = [api.control("GET", "state").status_code for _ in range(5)]
    statuses.append(api.control("POST", "seed", {"generate": 2}).status_code)

    assert statuses == [200] * 6
    assert len(sandbox.faults.pending()) == 1


def test_default_random_kinds_are_the_transient_ones() -> None:
    plan = FaultPlan()
    plan.set_rate(1.0, seed=3)

    kinds = {fault.kind for fault in (plan.next_fault("me") for _ in range(300)) if fault is not None}

    assert kinds == {"latency", "http_error", "rate_limited", "envelope_error", "reset", "truncated"}


# -- the value type --------------------------------------------------------------------------------


# One fault of each kind, every parameter away from its default where the kind has one.
EXAMPLES: dict[str, Fault] = {
    "latency": Fault.latency(0.25),
    "http_error": Fault.http_error(502, body="json", retry_after=3),
    "rate_limited": Fault.rate_limited(retry_after=2, message="Slow down"),
    "envelope_error": Fault.envelope_error(10, "Mauvaise clé", http_status=401),
    "reset": Fault.reset(after_bytes=30),
    "truncated": Fault.truncated(0.1),
    "trickle": Fault.trickle(0.01),
    "malformed": Fault.malformed(),
    "html_page": Fault.html_page(),
    "raw": Fault.raw("{}", status=302, content_type="text/plain", headers=[("Location", "/a"), ("X-A", "1")]),
}


def test_the_examples_cover_every_fault_kind() -> None:
    assert sorted(EXAMPLES) == sorted(FAULT_KINDS)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_fault_round_trips_through_its_dict_form(kind: str) -> None:
    fault = EXAMPLES[kind]

    assert Fault.from_dict(fault.to_dict()) == fault
    assert Fault.from_dict(json.loads(json.dumps(fault.to_dict()))) == fault
    assert Fault.from_dict(json.loads(json.dumps(dataclasses.asdict(fault)))) == fault  # the full form too


@pytest.mark.parametrize(
    ("data", "built"),
    [
        ({"kind": "latency", "seconds": 1}, Fault.latency(1)),
        ({"kind": "http_error"}, Fault.http_error()),
        ({"kind": "rate_limited"}, Fault.rate_limited()),
        ({"kind": "envelope_error", "code": 429}, Fault.envelope_error(429)),
        ({"kind": "reset"}, Fault.reset()),
        ({"kind": "truncated"}, Fault.truncated()),
        ({"kind": "trickle"}, Fault.trickle()),
        ({"kind": "malformed"}, Fault.malformed()),
        ({"kind": "html_page"}, Fault.html_page()),
        ({"kind": "raw", "payload": ""}, Fault.raw("")),
    ],
)
def test_omitted_fields_take_the_constructors_defaults(data: dict[str, object], built: Fault) -> None:
    assert Fault.from_dict(data) == built


def test_from_dict_reads_headers_as_an_object_or_as_pairs() -> None:
    expected = Fault.raw("", headers={"Location": "https://x.example/"})

    assert Fault.from_dict({"kind": "raw", "payload": "", "headers": {"Location": "https://x.example/"}}) == expected
    assert Fault.from_dict({"kind": "raw", "payload": "", "headers": [["Location", "https://x.example/"]]}) == expected


def test_reset_after_bytes_implies_the_request_was_processed() -> None:
    assert Fault.reset(after_bytes=1).processed is True
    assert Fault.from_dict({"kind": "reset", "after_bytes": 5}).processed is True
    assert Fault.reset().replaces_answer is True
    assert Fault.reset(processed=True).replaces_answer is False


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Fault.latency(-1), "must not be negative"),
        (lambda: Fault.http_error(200), "4xx or 5xx"),
        (lambda: Fault.truncated(1.0), "fraction"),
        (lambda: Fault.from_dict({"kind": "explode"}), "unknown fault kind"),
        (lambda: Fault.from_dict({"kind": "latency", "seconds": 1, "colour": "red"}), "unknown fault fields"),
        (lambda: Fault.from_dict({"kind": "latency", "seconds": "slow"}), "'seconds' must be a finite number"),
    ],
)
def test_invalid_faults_are_refused(build: Callable[[], Fault], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"kind": "raw", "payload": 123}, "'payload' must be a string"),
        ({"kind": "raw", "payload": "\ud800"}, "lone surrogates"),
        ({"kind": "http_error", "status": 200}, "4xx or 5xx"),
        ({"kind": "http_error", "status": "503"}, "'status' must be an integer"),
        ({"kind": "http_error", "status": True}, "'status' must be an integer"),
        ({"kind": "http_error", "body": "xml"}, "'html' or 'json'"),
        ({"kind": "rate_limited", "status": 500}, "does not take 'status'"),
        ({"kind": "envelope_error", "code": "boom"}, "'code' must be an integer"),
        ({"kind": "envelope_error"}, "code"),
        ({"kind": "envelope_error", "code": 500, "retry_after": 5}, "does not take 'retry_after'"),
        ({"kind": "reset", "processed": "no"}, "true or false"),
        ({"kind": "reset", "after_bytes": 1.5}, "'after_bytes' must be an integer"),
        ({"kind": "latency", "seconds": float("nan")}, "finite number"),
        ({"kind": "latency", "seconds": float("inf")}, "finite number"),
        ({"kind": "latency", "seconds": None}, "finite number"),
        ({"kind": "truncated", "fraction": "half"}, "finite number"),
        ({"kind": "malformed", "payload": "x"}, "does not take 'payload'"),
        ({"kind": "raw", "payload": "", "headers": "Location: /"}, "'headers' must be"),
        ({"kind": "raw", "payload": "", "headers": [["Location"]]}, "pairs"),
        ({"kind": "raw", "payload": "", "headers": {"Location": 5}}, "must be strings"),
        ({"kind": "raw", "payload": "", "headers": {"X-A": "1\r\nSet-Cookie: a=b"}}, "line break"),
        ({"kind": "raw", "payload": "", "headers": {"X-A": "€"}}, "Latin-1"),
        ({"kind": "raw", "payload": "", "headers": {"Bad Name": "1"}}, "not a valid header name"),
        ({"kind": "raw", "payload": "", "content_type": "text/plain\r\nX: y"}, "line break"),
        ({"kind": ["reset"]}, "unknown fault kind"),
    ],
)
def test_from_dict_checks_every_field_through_the_kinds_constructor(data: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Fault.from_dict(data)


class _FaultThatCannotRender(Fault):
    """Stands in for a sandbox bug: a replacing fault whose rendering raises."""

    def answer(self, response_format: ResponseFormat) -> WireResponse:
        raise RuntimeError("cannot render this fault")


def test_a_fault_that_fails_to_render_answers_500_lands_in_errors_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with MailPartnerSandbox(api_key=API_KEY) as sandbox, requests.Session() as session:
        sandbox.faults.script(_FaultThatCannotRender.html_page())

        response = session.get(f"{sandbox.url}/v1/me", params={"apiKey": API_KEY}, timeout=10)
        after = session.get(f"{sandbox.url}/v1/me", params={"apiKey": API_KEY}, timeout=10)

    assert response.status_code == 500
    assert response.json() == {"success": False, "code": 500, "message": "Internal server error"}
    assert after.status_code == 200
    assert [type(error) for error in sandbox.errors] == [RuntimeError]
    assert [r.levelno for r in caplog.records if "sandbox bug" in r.getMessage()] == [logging.ERROR]
    assert sandbox.requests[0].http_status == 500


def test_set_rate_refuses_a_rate_outside_zero_to_one_and_unknown_kinds() -> None:
    plan = FaultPlan()
    with pytest.raises(ValueError, match="between 0 and 1"):
        plan.set_rate(1.5)
    with pytest.raises(ValueError, match="unknown fault kind"):
        plan.set_rate(0.5, kinds=["nope"])  # type: ignore[list-item]
