"""The HTTP/1.1 plumbing: a threaded loopback server that parses requests, applies the rate limit and
faults, calls the routed handler and writes its answer.

Nothing here writes a request line or a query string anywhere: every GET carries the API key in its
query string, so ``log_message`` (which ``BaseHTTPRequestHandler`` uses to print each request line to
stderr) is silenced and the request log keeps only the path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from urllib.parse import SplitResult, parse_qs, urlsplit

from airflow_provider_mailpartner.client.commands import ApiCode

from . import handlers, routes, wire
from .context import ApiRequest, ControlRequest, SandboxContext
from .errors import ApiError
from .faults import Fault
from .request_log import RequestRecord
from .routes import API_ROUTES, CONTROL_ROUTES, Area, Route
from .wire import ResponseFormat, WireResponse

LOOPBACK = "127.0.0.1"
MAX_BODY_BYTES = 16 * 1024 * 1024
IDLE_TIMEOUT_SECONDS = 300.0
_WRITE_COALESCE_BYTES = 256 * 1024
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a TCP RST

logger = logging.getLogger(__name__)

_NOT_FOUND = wire.json_response(404, {"success": False, "code": 404, "message": "Not found"})


class _BadRequestBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded server bound to 127.0.0.1 that tracks its open connections.

    Tracking lets :meth:`close_connections` end keep-alive connections on stop, so a client's pool
    cannot keep talking to a stopped sandbox.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, context: SandboxContext) -> None:
        self.context = context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((LOOPBACK, port), SandboxRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a DNS lookup); loopback needs none.
        TCPServer.server_bind(self)
        self.server_name = LOOPBACK
        self.server_port = self.socket.getsockname()[1]

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open client connection (their handler threads then exit)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        """Called with an exception that escaped a request handler (the default prints it to stderr).

        A connection error means the client went away mid-answer: not the sandbox's fault. Anything
        else is a sandbox bug: it goes to ``context.errors`` (which the fixtures assert empty) and
        is logged at ERROR.
        """
        exc = sys.exc_info()[1]
        if exc is None or isinstance(exc, OSError):
            logger.debug("connection error while serving a sandbox request", exc_info=True)
            return
        self.context.errors.append(exc)
        logger.error("sandbox bug while serving a request", exc_info=exc)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Parses one request, routes it, and writes the answer, faults included."""

    protocol_version = "HTTP/1.1"
    server_version = "MailPartnerSandbox/1.0"
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: the default prints the request line, whose query string holds the API key."""

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    # -- request --------------------------------------------------------------------------------

    def _serve(self) -> None:
        started = time.monotonic()
        target = urlsplit(self.path)
        area, name = routes.locate(target.path)
        try:
            body = self._read_body()
        except _BadRequestBody as exc:
            self.close_connection = True
            self._send(wire.json_response(exc.status, {"success": False, "code": exc.status, "message": exc.message}))
            return
        if area == "control":
            self._send(self._control(name, body))
        else:
            self._api(area, name, target, body, started)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked_body()
        declared = self.headers.get("Content-Length")
        if declared is None:
            return b""
        try:
            length = int(declared)
        except ValueError:
            raise _BadRequestBody(400, "Bad Content-Length") from None
        if length < 0:
            raise _BadRequestBody(400, "Bad Content-Length")
        if length > MAX_BODY_BYTES:
            raise _BadRequestBody(413, "Request body too large")
        return self.rfile.read(length)

    def _read_chunked_body(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65_537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequestBody(400, "Bad chunked body") from None
            if size == 0:
                while self.rfile.readline(65_537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BadRequestBody(413, "Request body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _api_params(self, target: SplitResult, body: bytes) -> dict[str, object]:
        query: dict[str, object] = {
            key: values[0] for key, values in parse_qs(target.query, keep_blank_values=True).items()
        }
        if self.command == "GET":
            return query
        # POST: the key must travel in the body; other query parameters (``_format``, ``id``) are
        # accepted as fallbacks.
        params = {key: value for key, value in query.items() if key != "apiKey"}
        params.update(self._body_params(body))
        return params

    def _body_params(self, body: bytes) -> dict[str, object]:
        if not body.strip():
            return {}
        if "application/x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            return {key: values[0] for key, values in form.items()}
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    # -- API ------------------------------------------------------------------------------------

    def _api(self, area: Area, name: str, target: SplitResult, body: bytes, started: float) -> None:
        context = self.server.context
        route = API_ROUTES.get(name) if area == "api" else None
        params = self._api_params(target, body)
        response_format = wire.parse_format(params.get("_format"))
        fault: Fault | None = None
        response: WireResponse | None
        # Only a request the API would run is rate limited or faulted: a 404 or a 405 is the router's
        # answer, so a stray GET /favicon.ico cannot use up a scripted fault.
        if route is None:
            response = _NOT_FOUND
        elif self.command not in route.methods:
            response = _method_not_allowed(route.allow)
        else:
            response, fault = self._routed(route, name, params, response_format)

        def record(status: int | None, code: int | None) -> None:
            # Logged before the first byte goes out: a client that has its answer finds it logged.
            context.backend.record_request(
                RequestRecord(
                    method=self.command,
                    path=target.path,
                    command=name if route is not None else None,
                    response_format=response_format,
                    http_status=status,
                    code=code,
                    fault=fault.kind if fault is not None else None,
                    monotonic=started,
                    duration=time.monotonic() - started,
                )
            )

        self._send(response, fault, record)

    def _routed(
        self,
        route: Route[ApiRequest],
        name: str,
        params: Mapping[str, object],
        response_format: ResponseFormat,
    ) -> tuple[WireResponse | None, Fault | None]:
        """The answer to a routed API request and the fault it carries (``None`` answer: reset).

        Rate limit, fault and handler all run inside one ``try``: whatever goes wrong in the sandbox
        itself lands in ``context.errors`` and answers HTTP 500, instead of dropping the connection.
        """
        context = self.server.context
        try:
            retry_after = context.rate_limiter.acquire()
            if retry_after is not None:
                headers = (("Retry-After", str(retry_after)),)
                return wire.error_response(429, None, response_format, status=429, headers=headers), None
            fault = context.faults.next_fault(name)
            if fault is not None and fault.replaces_answer:
                return (None if fault.kind == "reset" else fault.answer(response_format)), fault
            request = ApiRequest(params, response_format, context)
            try:
                handlers.authenticate(request)
                response = route.handler(request)
            except ApiError as exc:
                response = wire.error_response(exc.code, exc.message, response_format)
            return response, fault
        except Exception as exc:
            self._sandbox_bug(exc, f"/v1/{name}")
            return wire.error_response(ApiCode.SERVER_ERROR, None, response_format, status=500), None

    def _sandbox_bug(self, exc: Exception, path: str) -> None:
        self.server.context.errors.append(exc)
        logger.error("sandbox bug while answering %s %s", self.command, path, exc_info=exc)

    # -- control --------------------------------------------------------------------------------

    def _control(self, name: str, body: bytes) -> WireResponse:
        context = self.server.context
        route = CONTROL_ROUTES.get(name)
        if route is None:
            return _NOT_FOUND
        if self.command not in route.methods:
            return _method_not_allowed(route.allow)
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return wire.json_response(400, {"error": "the body is not valid JSON"})
        if not isinstance(payload, dict):
            return wire.json_response(400, {"error": "the body must be a JSON object"})
        try:
            return route.handler(ControlRequest(payload, context))
        except ValueError as exc:  # the control handlers' way of refusing a body
            return wire.json_response(400, {"error": str(exc)})
        except Exception as exc:
            self._sandbox_bug(exc, f"/_sandbox/{name}")
            return wire.json_response(500, {"error": "sandbox internal error"})

    # -- response -------------------------------------------------------------------------------

    def _send(
        self,
        response: WireResponse | None,
        fault: Fault | None = None,
        record: Callable[[int | None, int | None], None] | None = None,
    ) -> None:
        """Write ``response`` as ``fault`` dictates (``None``: reset without answering).

        ``record`` is told the status and the envelope code the client can read intact (``None``
        when it cannot) just before the first byte is written.
        """
        kind = fault.kind if fault is not None else None
        if response is None:
            if record is not None:
                record(None, None)
            self._reset_connection()
            return
        if kind == "malformed":
            cut = response.body_prefix(response.length // 2)
            response = replace(response, chunks=(cut,), length=len(cut), code=None)
        head = self._head(response)
        status: int | None = response.status
        code = response.code if kind not in ("reset", "truncated") else None
        if kind == "reset":
            status = None
        if record is not None:
            record(status, code)
        if fault is not None and kind == "latency" and self.server.context.stopping.wait(fault.seconds):
            self._reset_connection()  # the sandbox is stopping: do not hold stop() up
            return
        if fault is not None and kind == "reset":
            # However large after_bytes is, the last byte is withheld: a reset never completes the answer.
            sent = min(fault.after_bytes, len(head) + response.length - 1)
            self._write((head + response.body_prefix(sent - len(head)))[:sent])
            self._reset_connection()
        elif fault is not None and kind == "truncated":
            self.close_connection = True
            self._write(head, response.body_prefix(int(response.length * fault.fraction)))
        elif fault is not None and kind == "trickle":
            self._trickle(head, response, fault.seconds)
        else:
            self._write(head, *response.chunks)

    def _trickle(self, head: bytes, response: WireResponse, seconds_per_byte: float) -> None:
        if not self._write(head):
            return
        for chunk in response.chunks:
            for offset in range(len(chunk)):
                if self.server.context.stopping.wait(seconds_per_byte):
                    self._reset_connection()  # the sandbox is stopping: do not hold stop() up
                    return
                if not self._write(chunk[offset : offset + 1]):
                    return  # the client gave up

    def _head(self, response: WireResponse) -> bytes:
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"{self.protocol_version} {response.status} {phrase}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {response.length}",
            *(f"{name}: {value}" for name, value in response.headers),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write(self, *parts: bytes) -> bool:
        """Send ``parts``, small ones coalesced (one segment for a head and a short body).

        :return: False when the client has gone.
        """
        try:
            for buffer in _coalesce(parts):
                self.wfile.write(buffer)
        except OSError:
            self.close_connection = True
            return False
        return True

    def _reset_connection(self) -> None:
        """Close the connection abruptly: a TCP RST, no FIN, whatever the client was waiting for."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        # The read stream holds a reference to the socket; with it closed, close() is immediate.
        # The write stream is left open: the base class flushes it after every request.
        self.rfile.close()
        self.connection.close()


def _method_not_allowed(allow: str) -> WireResponse:
    return wire.json_response(
        405, {"success": False, "code": 405, "message": "Method not allowed"}, headers=(("Allow", allow),)
    )


def _coalesce(parts: Iterable[bytes]) -> Iterable[bytes]:
    pending: list[bytes] = []
    size = 0
    for part in parts:
        if not part:
            continue
        pending.append(part)
        size += len(part)
        if size >= _WRITE_COALESCE_BYTES:
            yield b"".join(pending) if len(pending) > 1 else pending[0]
            pending, size = [], 0
    if pending:
        yield b"".join(pending)
