"""Fixtures for the reliability suite, generic enough for any test that drives the package under adversity.

- the example-DAG and operator runners of ``tests/example_dags`` and ``tests/operators``, re-exported;
- ``leak_check``: captures what a test prints (DEBUG logs, urllib3's request lines included, and
  stdout/stderr) and asserts that the sandbox key appears in none of it, in no encoding;
- ``raw_http``: a loopback server that answers with exact bytes, for what the sandbox cannot send
  (bytes that are not UTF-8, a body longer than its ``Content-Length``);
- ``closed_port``: a loopback port nothing listens on (connection refused).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import pytest

from airflow_provider_mailpartner.client.redaction import secret_forms
from tests.example_dags.conftest import example_root, mailpartner, run_example  # noqa: F401
from tests.nasty_key import NASTY_KEY
from tests.operators.conftest import run_dag  # noqa: F401

FRAGMENT = 12
"""No run this long of any encoding of the key may appear either: an excerpt may cut a key in two."""

# Every spelling the package knows, plus UTF-8 bytes read as Latin-1 (a log viewer's mojibake).
KEY_FORMS = tuple({*secret_forms(NASTY_KEY), NASTY_KEY.encode().decode("latin-1")})
KEY_FRAGMENTS = frozenset(form[i : i + FRAGMENT].lower() for form in KEY_FORMS for i in range(len(form) - FRAGMENT + 1))


def find_key(text: str) -> str | None:
    """The first fragment of the sandbox key found in ``text`` (case-insensitively), or None."""
    folded = text.lower()
    return next((fragment for fragment in KEY_FRAGMENTS if fragment in folded), None)


@dataclass
class LeakCheck:
    """What a test printed so far, checked for the key together with any texts the test adds."""

    caplog: pytest.LogCaptureFixture
    capfd: pytest.CaptureFixture[str]
    printed: list[str] = field(default_factory=list)

    def output(self) -> str:
        """Everything printed so far: log records (Airflow's task loggers write to stdout) and stdout/stderr."""
        self.printed.extend(self.capfd.readouterr())
        self.printed.extend(record.getMessage() for record in self.caplog.records)
        self.caplog.clear()
        return "\n".join(self.printed)

    def assert_clean(self, *texts: object, files_under: Path | None = None) -> None:
        """No key in the logs, stdout/stderr, ``texts`` (their ``str``) or any file below ``files_under``."""
        self.output()
        candidates = {f"printed[{n}]": text for n, text in enumerate(self.printed)}
        candidates.update({f"text[{n}]": str(text) for n, text in enumerate(texts)})
        if files_under is not None:
            for path in sorted(files_under.rglob("*")):
                if path.is_file():
                    candidates[str(path)] = path.read_bytes().decode("utf-8", "replace")
        for where, text in candidates.items():
            fragment = find_key(text)
            assert fragment is None, f"the API key leaked into {where}: {fragment!r}"


@pytest.fixture
def leak_check(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> LeakCheck:
    """Capture logs at DEBUG for the package and urllib3 (whose request lines hold the URL), INFO elsewhere."""
    caplog.set_level(logging.INFO)
    for name in ("urllib3", "airflow_provider_mailpartner"):
        caplog.set_level(logging.DEBUG, logger=name)
    return LeakCheck(caplog, capfd)


@pytest.fixture
def closed_port() -> int:
    """A loopback port that refuses connections: bound once to pick it, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RawHTTPServer(socketserver.ThreadingTCPServer):
    """Answers each request, on kept-alive connections, with the next scripted bytes, sent as they are.

    With nothing scripted, it answers 599 so that a test never mistakes the gap for a real answer.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RawHandler)
        self.answers: deque[bytes] = deque()
        self.requests = 0
        self.unscripted = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @staticmethod
    def answer(
        body: bytes, *, status: int = 200, content_type: str = "application/json", content_length: int | None = None
    ) -> bytes:
        """A whole HTTP/1.1 answer; ``content_length`` declares another length than the body's."""
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        length = len(body) if content_length is None else content_length
        head = f"HTTP/1.1 {status} {phrase}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
        return head.encode("latin-1") + body

    def script(self, *answers: bytes) -> None:
        with self._lock:
            self.answers.extend(answers)

    def next_answer(self) -> bytes:
        with self._lock:
            self.requests += 1
            if self.answers:
                return self.answers.popleft()
            self.unscripted += 1
        return self.answer(b"raw_http: no answer scripted", status=599, content_type="text/plain")


class _RawHandler(socketserver.StreamRequestHandler):
    server: RawHTTPServer

    def handle(self) -> None:
        while self.rfile.readline():  # the request line; empty when the client closed
            length = 0
            while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            self.rfile.read(length)
            self.wfile.write(self.server.next_answer())
            self.wfile.flush()


@pytest.fixture
def raw_http() -> Iterator[RawHTTPServer]:
    """A started :class:`RawHTTPServer`; a test fails if a request came that it did not script."""
    server = RawHTTPServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
    assert server.unscripted == 0, f"{server.unscripted} request(s) came that the test did not script"
