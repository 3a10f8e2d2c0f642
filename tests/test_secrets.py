"""The API key never appears in anything the package prints, raises or returns, in any encoding."""

from __future__ import annotations

import json
import logging
import pickle
import socket
import threading
import traceback
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote_plus
from xml.sax.saxutils import escape as xml_escape

import pytest

from airflow_provider_mailpartner.exceptions import MailPartnerError
from airflow_provider_mailpartner.testing import Fault
from tests.key_leaks import assert_no_key
from tests.nasty_key import NASTY_KEY


def exercise(make_hook, sandbox) -> list[str]:
    """Run every public method, succeeding and failing; return every text produced besides logs."""
    texts: list[str] = []
    sandbox.backend.seed([{"email": "a@example.com", "created_at": "2020-01-01 00:00:00"}])
    for response_format in ("json", "xml"):
        hook = make_hook(response_format=response_format, max_retries=1, timeout=0.5)
        texts += [repr(hook), repr(hook.settings), repr(hook.client), repr(hook.get_conn().__dict__)]
        texts += [repr(hook.get_unsubscribes()), repr(hook.get_credits()), repr(hook.test_connection())]
        texts.append(repr(hook.add_unsubscribe(f"b-{response_format}@example.com")))
        texts.append(repr(hook.add_unsubscribe(f"b-{response_format}@example.com")))
        faults = [
            Fault.reset(),
            Fault.truncated(),
            Fault.latency(1.0),
            Fault.http_error(503),
            Fault.rate_limited(retry_after=0),
            Fault.envelope_error(500),
            Fault.malformed(),
            Fault.html_page(),
            Fault.envelope_error(10),
            Fault.raw("", status=302, headers={"Location": f"https://x.example/?apiKey={quote_plus(NASTY_KEY)}"}),
            Fault.raw(json.dumps({"success": False, "code": 2, "message": f"echo {NASTY_KEY}"})),
            # A server that read the key's UTF-8 as Latin-1 ("ë" as "Ã«") and echoes it, raw and JSON-escaped.
            Fault.raw(
                json.dumps({"success": False, "code": 500, "message": NASTY_KEY.encode().decode("latin-1")}), status=503
            ),
            Fault.raw(
                json.dumps(
                    {"success": False, "code": 2, "message": NASTY_KEY.encode().decode("latin-1")}, ensure_ascii=False
                )
            ),
            # An error page echoing the key where an excerpt's cut would split it.
            Fault.raw(" " * 300 + f"apiKey={quote_plus(NASTY_KEY)}", status=500, content_type="text/html"),
            Fault.raw(" " * 4069 + f"apiKey={NASTY_KEY}", content_type="text/html"),  # key straddles 4096
            Fault.raw('{"success": false, "code": 500, "message": "' + json.dumps(NASTY_KEY)[1:-1] + '"}', status=503),
            Fault.raw(
                '{"success": false, "code": 500, "message": "' + json.dumps(NASTY_KEY)[1:-1].replace("/", "\\/") + '"}'
            ),
            # A long message: the key must be scrubbed before the message is shortened.
            Fault.raw(json.dumps({"success": False, "code": 9, "message": "x" * 185 + NASTY_KEY})),
            Fault.raw(
                f"<result><entry>false</entry><entry>500</entry><entry>{xml_escape(NASTY_KEY)}</entry></result>",
                status=500,
                content_type="application/xml",
            ),
        ]
        for fault in faults:
            sandbox.faults.script(fault, fault)
            for call in (hook.get_unsubscribes, hook.get_credits, partial(hook.delete_unsubscribe, 424242)):
                try:
                    call()
                except MailPartnerError as error:
                    texts.append("".join(traceback.format_exception(error)))
                    texts.append(repr(error))
                    texts.append(repr(pickle.loads(pickle.dumps(error))))
            sandbox.faults.clear()
    texts.append(repr(make_hook(password="wrong" + NASTY_KEY).test_connection()))
    refused = make_hook(host=f"http://127.0.0.1:{free_port()}", max_retries=0)
    with pytest.raises(MailPartnerError) as info:
        refused.get_unsubscribes()
    texts += ["".join(traceback.format_exception(info.value)), repr(refused.test_connection())]
    return texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_key_never_reaches_logs_errors_or_reprs(make_hook, sandbox, caplog, capfd):
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3").setLevel(logging.DEBUG)
        texts = exercise(make_hook, sandbox)

    out, err = capfd.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "apiKey=***" in logged, "urllib3's DEBUG request lines must be captured (and scrubbed)"
    assert any("redirect to" in text for text in texts)
    for text in [*texts, logged, caplog.text, out, err]:
        assert_no_key(text)


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with a success envelope and keeps the raw request it received."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, bytes]]

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.requestline, str(self.headers), body))
        payload = json.dumps(
            {"success": True, "code": 200, "stopId": 5, "credits": {"creditMail": 1, "currency": "EUR", "balance": "1"}}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_the_key_travels_only_where_the_api_expects_it(make_hook):
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = make_hook(host=f"http://127.0.0.1:{server.server_address[1]}")
        hook.get_credits()
        hook.add_unsubscribe("c@example.com")
    finally:
        server.shutdown()
        server.server_close()
    (get_line, get_headers, get_body), (post_line, post_headers, post_body) = _Recorder.seen
    assert get_line.startswith("GET /v1/me?")
    assert f"apiKey={quote_plus(NASTY_KEY)}" in get_line
    assert json.loads(post_body)["apiKey"] == NASTY_KEY
    assert post_line == "POST /v1/unsubscribe/add HTTP/1.1"
    for text in (get_headers, get_body.decode(), post_line, post_headers):
        assert_no_key(text)
