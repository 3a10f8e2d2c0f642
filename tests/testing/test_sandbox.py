"""The sandbox's lifecycle and the Airflow connection it hands out."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from urllib.parse import quote

import pytest
import requests

from airflow_provider_mailpartner.testing import DEFAULT_API_KEY, Fault, MailPartnerSandbox, SandboxBackend

ODD_KEY = "s/e:c r@t&+%k"


def test_start_returns_once_the_socket_accepts_connections() -> None:
    sandbox = MailPartnerSandbox(api_key="k")
    try:
        sandbox.start()
        with socket.create_connection(("127.0.0.1", sandbox.port), timeout=2):
            pass
        assert sandbox.running
        assert sandbox.url == f"http://127.0.0.1:{sandbox.port}"
    finally:
        sandbox.stop()


def test_stop_is_idempotent_and_closes_the_listening_socket() -> None:
    sandbox = MailPartnerSandbox(api_key="k").start()
    port = sandbox.port

    sandbox.stop()
    sandbox.stop()

    assert not sandbox.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_stop_ends_open_keep_alive_connections() -> None:
    with requests.Session() as session:
        sandbox = MailPartnerSandbox(api_key="k").start()
        url = f"{sandbox.url}/v1/me"
        assert session.get(url, params={"apiKey": "k"}, timeout=5).status_code == 200

        sandbox.stop()

        with pytest.raises(requests.ConnectionError):
            session.get(url, params={"apiKey": "k"}, timeout=5)


def test_stop_does_not_wait_for_injected_latency() -> None:
    sandbox = MailPartnerSandbox(api_key="k").start()
    sandbox.faults.script(Fault.latency(30))
    url = f"{sandbox.url}/v1/me"
    worker = threading.Thread(target=_swallow_errors, args=(url,), daemon=True)
    worker.start()
    time.sleep(0.2)

    started = time.monotonic()
    sandbox.stop()

    assert time.monotonic() - started < 5
    worker.join(5)
    assert not worker.is_alive()


def _swallow_errors(url: str) -> None:
    with contextlib.suppress(requests.RequestException):
        requests.get(url, params={"apiKey": "k"}, timeout=60)


def test_a_stopped_sandbox_can_start_again_with_its_state() -> None:
    sandbox = MailPartnerSandbox(api_key="k")
    sandbox.backend.generate(3)
    with sandbox:
        pass

    with sandbox, requests.Session() as session:
        body = session.get(f"{sandbox.url}/v1/unsubscribe/list", params={"apiKey": "k"}, timeout=5).json()

    assert body["nbData"] == 3


def test_starting_twice_is_an_error() -> None:
    with MailPartnerSandbox(api_key="k") as sandbox, pytest.raises(RuntimeError, match="already running"):
        sandbox.start()


def test_url_and_port_need_a_started_sandbox() -> None:
    sandbox = MailPartnerSandbox()

    with pytest.raises(RuntimeError, match="not running"):
        _ = sandbox.url


def test_a_fixed_port_is_used_as_given() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with MailPartnerSandbox(port=port) as sandbox:
        assert sandbox.url == f"http://127.0.0.1:{port}"


def test_a_given_backend_is_served() -> None:
    backend = SandboxBackend(username="shared@example.com")

    with MailPartnerSandbox(api_key="k", backend=backend) as sandbox:
        answer = requests.get(f"{sandbox.url}/v1/me", params={"apiKey": "k"}, timeout=5).json()

    assert sandbox.backend is backend
    assert answer["user"]["username"] == "shared@example.com"


def test_a_username_next_to_a_given_backend_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="username"):
        MailPartnerSandbox(backend=SandboxBackend(), username="ignored@example.com")


def test_a_username_without_a_backend_is_what_me_reports() -> None:
    sandbox = MailPartnerSandbox(username="someone@example.com")

    assert sandbox.backend.username == "someone@example.com"
    assert MailPartnerSandbox().backend.username == "sandbox@mailpartner.test"


def test_an_empty_api_key_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        MailPartnerSandbox(api_key="")


def test_the_default_key_is_the_fixed_sandbox_key() -> None:
    assert MailPartnerSandbox().api_key == DEFAULT_API_KEY == "sandbox-api-key"


def test_repr_shows_the_url_but_never_the_key() -> None:
    with MailPartnerSandbox(api_key="very-secret-key") as sandbox:
        running, url = repr(sandbox), sandbox.url
    stopped = repr(sandbox)

    assert url in running
    assert "stopped" in stopped
    assert "very-secret-key" not in running + stopped


# -- connection helpers ----------------------------------------------------------------------------


def test_connection_dict_points_airflow_at_the_sandbox() -> None:
    with MailPartnerSandbox(api_key=ODD_KEY) as sandbox:
        assert sandbox.connection_dict("xml", extra={"timeout": 3}) == {
            "conn_type": "mailpartner",
            "host": sandbox.url,
            "password": ODD_KEY,
            "extra": {"response_format": "xml", "timeout": 3},
        }
        assert json.loads(sandbox.connection_json()) == sandbox.connection_dict()


def test_connection_uri_quotes_the_key() -> None:
    with MailPartnerSandbox(api_key=ODD_KEY) as sandbox:
        uri, xml_uri, port = sandbox.connection_uri(), sandbox.connection_uri("xml"), sandbox.port

    assert uri == f"mailpartner://http://:{quote(ODD_KEY, safe='')}@127.0.0.1:{port}/"
    assert xml_uri == f"{uri}?response_format=xml"


def test_airflow_env_names_the_variable_after_the_conn_id() -> None:
    with MailPartnerSandbox() as sandbox:
        env = sandbox.airflow_env("mp_test", "xml")
        default = sandbox.airflow_env()

    assert list(env) == ["AIRFLOW_CONN_MP_TEST"]
    assert json.loads(env["AIRFLOW_CONN_MP_TEST"])["extra"]["response_format"] == "xml"
    assert list(default) == ["AIRFLOW_CONN_MAILPARTNER_DEFAULT"]


def test_an_unknown_response_format_is_refused() -> None:
    with MailPartnerSandbox() as sandbox, pytest.raises(ValueError, match="response_format"):
        sandbox.connection_dict("yaml")  # type: ignore[arg-type]


def test_airflow_reads_the_uri_and_json_forms_as_the_same_connection() -> None:
    connection_module = pytest.importorskip("airflow.models.connection")
    Connection = connection_module.Connection

    with MailPartnerSandbox(api_key=ODD_KEY) as sandbox:
        from_uri = Connection(conn_id="a", uri=sandbox.connection_uri("xml"))
        from_json = Connection.from_json(sandbox.connection_json("xml"), conn_id="b")
        port = sandbox.port

    assert from_uri.conn_type == from_json.conn_type == "mailpartner"
    assert from_uri.password == from_json.password == ODD_KEY
    assert from_uri.extra_dejson == from_json.extra_dejson == {"response_format": "xml"}
    # Airflow splits the URI form's port off the host; the JSON form keeps it in the host.
    assert (from_uri.host, from_uri.port) == ("http://127.0.0.1", port)
    assert (from_json.host, from_json.port) == (f"http://127.0.0.1:{port}", None)
