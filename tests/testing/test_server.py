"""The HTTP layer: routing, methods, bodies, keep-alive, concurrency, and keeping the key out of output."""

from __future__ import annotations

import http.client
import logging
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from airflow_provider_mailpartner.testing import MailPartnerSandbox
from airflow_provider_mailpartner.testing.server import SandboxRequestHandler

from .client import API_KEY, ApiClient


def _raw_exchange(sandbox: MailPartnerSandbox, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as connection:
        connection.sendall(payload)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


@pytest.mark.parametrize("path", ["/v1/unsubscribe/nothing", "/v1/send", "/", "/unsubscribe/list", "/v2/me"])
def test_unknown_path_answers_404_with_a_json_envelope(api: ApiClient, path: str) -> None:
    response = api.session.get(api.sandbox.url + path, params={"apiKey": API_KEY, "_format": "xml"}, timeout=10)

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"success": False, "code": 404, "message": "Not found"}


@pytest.mark.parametrize(
    ("method", "command", "allow"),
    [
        ("GET", "unsubscribe/add", "POST"),
        ("POST", "unsubscribe/list", "GET"),
        ("POST", "me", "GET"),
        ("PUT", "unsubscribe/delete", "GET, POST"),
        ("DELETE", "unsubscribe/list", "GET"),
    ],
)
def test_wrong_method_on_a_known_path_answers_405_with_allow(
    api: ApiClient, method: str, command: str, allow: str
) -> None:
    response = api.session.request(method, api.url(command), params={"apiKey": API_KEY}, timeout=10)

    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.json() == {"success": False, "code": 405, "message": "Method not allowed"}


def test_a_trailing_slash_is_tolerated(api: ApiClient) -> None:
    response = api.session.get(api.url("me") + "/", params={"apiKey": API_KEY}, timeout=10)

    assert response.status_code == 200
    assert response.json()["code"] == 200


def test_keep_alive_serves_several_requests_on_one_connection(sandbox: MailPartnerSandbox) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    try:
        connection.request("GET", f"/v1/me?apiKey={API_KEY}")
        first = connection.getresponse()
        first.read()
        first_socket = connection.sock
        for _ in range(3):
            connection.request("GET", f"/v1/unsubscribe/list?apiKey={API_KEY}")
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Connection") is None
            response.read()
        assert connection.sock is first_socket
        assert first_socket is not None
    finally:
        connection.close()
    assert len(sandbox.requests) == 4


def test_a_chunked_post_body_is_read(api: ApiClient) -> None:
    body = f'{{"apiKey": "{API_KEY}", "email": "chunked@example.fr"}}'.encode()

    response = api.session.post(
        api.url("unsubscribe/add"),
        data=iter([body[:10], body[10:]]),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.json() == {"success": True, "code": 200, "stopId": 1}


def test_a_form_encoded_post_body_is_accepted(api: ApiClient) -> None:
    response = api.session.post(
        api.url("unsubscribe/add"), data={"apiKey": API_KEY, "email": "form@example.fr"}, timeout=10
    )

    assert response.json()["code"] == 200
    assert api.sandbox.backend.has_email("form@example.fr")


def test_a_post_body_that_is_not_json_counts_as_no_key(api: ApiClient) -> None:
    response = api.session.post(
        api.url("unsubscribe/add"), data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10
    )

    assert response.json()["code"] == 1


def test_an_oversized_body_is_refused_with_413_and_the_connection_closed(sandbox: MailPartnerSandbox) -> None:
    answer = _raw_exchange(
        sandbox, b"POST /v1/unsubscribe/add HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"
    )

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer


def test_concurrent_adds_get_distinct_ids(sandbox: MailPartnerSandbox) -> None:
    def add(index: int) -> int:
        with requests.Session() as session:
            response = session.post(
                f"{sandbox.url}/v1/unsubscribe/add",
                json={"apiKey": API_KEY, "email": f"user{index}@example.fr"},
                timeout=10,
            )
        stop_id = response.json()["stopId"]
        assert isinstance(stop_id, int)
        return stop_id

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(add, range(100)))

    assert sorted(ids) == list(range(1, 101))
    assert sandbox.backend.count == 100


def test_the_request_log_records_the_exchange_without_key_or_query(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    api.get("unsubscribe/list", fmt="xml")
    api.post("unsubscribe/add", email="a@example.fr")
    api.get("me", key="wrong-key")
    api.get("nothing")

    records = sandbox.requests

    assert [(r.method, r.path, r.command, r.response_format, r.http_status, r.code) for r in records] == [
        ("GET", "/v1/unsubscribe/list", "unsubscribe/list", "xml", 200, 200),
        ("POST", "/v1/unsubscribe/add", "unsubscribe/add", "json", 200, 200),
        ("GET", "/v1/me", "me", "json", 200, 10),
        ("GET", "/v1/nothing", None, "json", 404, 404),
    ]
    assert all(r.fault is None for r in records)
    assert records[0].monotonic <= records[1].monotonic <= records[2].monotonic
    assert all(r.duration >= 0 for r in records)
    assert API_KEY not in repr(records)
    assert "apiKey" not in repr(records)
    assert "a@example.fr" not in repr(records)


def test_a_bug_escaping_the_handler_lands_in_errors_is_logged_and_survives_reset(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_head(self: SandboxRequestHandler, response: object) -> bytes:
        raise RuntimeError("the sandbox cannot write a head")

    with MailPartnerSandbox(api_key=API_KEY) as sandbox, requests.Session() as session:
        monkeypatch.setattr(SandboxRequestHandler, "_head", broken_head)
        with pytest.raises(requests.ConnectionError):
            session.get(f"{sandbox.url}/v1/me", params={"apiKey": API_KEY}, timeout=10)
        monkeypatch.undo()

        sandbox.reset()
        reset = session.post(f"{sandbox.url}/_sandbox/reset", timeout=10)
        state = session.get(f"{sandbox.url}/_sandbox/state", timeout=10).json()

    assert reset.status_code == 200
    assert [type(error) for error in sandbox.errors] == [RuntimeError]
    assert state["errors"] == 1
    assert [r.levelno for r in caplog.records if "sandbox bug" in r.getMessage()] == [logging.ERROR]


def test_clear_requests_empties_the_log(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    api.get("me")
    assert len(sandbox.requests) == 1

    sandbox.clear_requests()

    assert sandbox.requests == []


def test_nothing_with_the_key_reaches_stderr_or_the_logs(
    sandbox: MailPartnerSandbox, api: ApiClient, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="airflow_provider_mailpartner")
    api.get("unsubscribe/list")
    api.get("me", key=API_KEY + "-wrong")
    api.post("unsubscribe/add", email="a@example.fr")
    api.get("nothing")
    # A malformed request line makes BaseHTTPRequestHandler log an error quoting the line.
    answer = _raw_exchange(sandbox, f"GET /v1/me?apiKey={API_KEY} HTTP/1.1 extra\r\n\r\n".encode())
    assert b"Bad request syntax" in answer

    out, err = capfd.readouterr()
    assert API_KEY not in out
    assert API_KEY not in err
    assert err == ""
    sandbox_records = [r for r in caplog.records if r.name.startswith("airflow_provider_mailpartner")]
    assert all(API_KEY not in r.getMessage() for r in sandbox_records)
