"""``MailPartnerSandbox``: a MailPartner account on loopback, started in one line.

It ties the parts together (backend, fault plan, rate limiter, server thread) and hands out the
Airflow connection that points at it, in the JSON, URI and environment-variable forms.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TypedDict
from urllib.parse import quote, urlencode

from .backend import DEFAULT_USERNAME, SandboxBackend
from .context import SandboxContext
from .faults import FaultPlan
from .rate_limit import RollingWindowLimiter
from .request_log import RequestRecord
from .routes import API_ROUTES
from .server import LOOPBACK, SandboxHTTPServer
from .wire import ResponseFormat

DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_RATE_LIMIT_PER_MINUTE = 2000
DEFAULT_CONN_ID = "mailpartner_default"
CONN_TYPE = "mailpartner"
_STOP_JOIN_SECONDS = 10.0
# serve_forever notices stop() at its next poll: short, so a test fixture tears down in milliseconds.
_POLL_SECONDS = 0.02

ExtraValue = str | int | float | bool


class ConnectionDict(TypedDict):
    """An Airflow connection in the JSON form ``AIRFLOW_CONN_<ID>`` accepts."""

    conn_type: str
    host: str
    password: str
    extra: dict[str, ExtraValue]


class MailPartnerSandbox:
    """A fake MailPartner API served over HTTP on 127.0.0.1, faults included.

    ::

        with MailPartnerSandbox(api_key="k") as sandbox:
            sandbox.backend.generate(1000)
            sandbox.faults.script(Fault.http_error(503), command="unsubscribe/list")
            env = sandbox.airflow_env()   # {"AIRFLOW_CONN_MAILPARTNER_DEFAULT": "..."}

    :param api_key: the only key the account accepts.
    :param port: the port to bind; 0 picks a free one.
    :param rate_limit_per_minute: requests admitted per rolling minute before HTTP 429; ``None`` or
        0 turns the limit off. The real service allows 2000.
    :param username: what ``GET /v1/me`` reports (default ``sandbox@mailpartner.test``). Only for
        the sandbox's own backend: with ``backend``, give the name to the backend instead.
    :param backend: a backend to serve (default: a fresh one); it may be seeded before start.
    :raises ValueError: for an empty ``api_key``, or both ``username`` and ``backend``.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        port: int = 0,
        rate_limit_per_minute: int | None = DEFAULT_RATE_LIMIT_PER_MINUTE,
        username: str | None = None,
        backend: SandboxBackend | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        if backend is not None and username is not None:
            raise ValueError(
                "username would be ignored with a given backend: pass it to SandboxBackend(username=...) instead"
            )
        self._api_key = api_key
        self._requested_port = port
        if backend is None:
            backend = SandboxBackend(username=DEFAULT_USERNAME if username is None else username)
        self.backend = backend
        self.faults = FaultPlan(known_commands=API_ROUTES)
        self.rate_limiter = RollingWindowLimiter(rate_limit_per_minute)
        self._context = SandboxContext(
            api_key=api_key, backend=self.backend, faults=self.faults, rate_limiter=self.rate_limiter
        )
        self._lock = threading.Lock()
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"MailPartnerSandbox({where}, entries={self.backend.count})"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> MailPartnerSandbox:
        """Bind the socket and serve in a background thread; returns once connections are accepted."""
        with self._lock:
            if self._server is not None:
                raise RuntimeError("the sandbox is already running")
            self._context.stopping.clear()
            server = SandboxHTTPServer(self._requested_port, self._context)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_SECONDS},
                name="mailpartner-sandbox",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, end open connections and close the socket. Safe to call twice."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self._context.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(_STOP_JOIN_SECONDS)

    def __enter__(self) -> MailPartnerSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (known only once started)."""
        server = self._server
        if server is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        return int(server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, the connection's host."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def api_key(self) -> str:
        return self._api_key

    # -- state -----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh account: empty list, no faults, empty request log and rate-limit window.

        :attr:`errors` is kept: a reset between two steps of a test must not hide a sandbox bug.
        """
        self._context.reset()

    @property
    def requests(self) -> list[RequestRecord]:
        """The API requests answered so far, oldest first (control endpoints are not logged)."""
        return self.backend.requests

    def clear_requests(self) -> None:
        self.backend.clear_requests()

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions inside the sandbox (bugs); stays empty in a healthy run.

        :meth:`reset` does not clear it. Each one was also logged at ERROR and answered with HTTP
        500 (or a dropped connection when the answer was already on its way).
        """
        return list(self._context.errors)

    @property
    def rate_limit_per_minute(self) -> int | None:
        return self.rate_limiter.per_minute

    @rate_limit_per_minute.setter
    def rate_limit_per_minute(self, value: int | None) -> None:
        self.rate_limiter.per_minute = value

    # -- Airflow connection ----------------------------------------------------------------------

    def connection_dict(
        self, response_format: ResponseFormat = "json", *, extra: Mapping[str, ExtraValue] | None = None
    ) -> ConnectionDict:
        """The Airflow connection to this sandbox: host, key as password, ``response_format`` extra.

        The default format (json) is left out of the extra: Airflow warns about every extra value
        shorter than five characters when it reads a connection.

        :param extra: more connection extras (``timeout``, ``max_retries``...).
        """
        if response_format not in ("json", "xml"):
            raise ValueError("response_format must be 'json' or 'xml'")
        chosen = {} if response_format == "json" else {"response_format": response_format}
        return {
            "conn_type": CONN_TYPE,
            "host": self.url,
            "password": self._api_key,
            "extra": {**chosen, **(extra or {})},
        }

    def connection_json(
        self, response_format: ResponseFormat = "json", *, extra: Mapping[str, ExtraValue] | None = None
    ) -> str:
        """:meth:`connection_dict` as JSON, the value for ``AIRFLOW_CONN_<ID>``."""
        return json.dumps(self.connection_dict(response_format, extra=extra))

    def connection_uri(
        self, response_format: ResponseFormat = "json", *, extra: Mapping[str, ExtraValue] | None = None
    ) -> str:
        """The URI form: ``mailpartner://http://:<key>@127.0.0.1:<port>/?response_format=xml``.

        Airflow reads the host as ``http://127.0.0.1`` and the port separately.
        """
        connection = self.connection_dict(response_format, extra=extra)
        query = urlencode({key: _uri_value(value) for key, value in connection["extra"].items()})
        return f"{CONN_TYPE}://http://:{quote(self._api_key, safe='')}@{LOOPBACK}:{self.port}/" + (
            f"?{query}" if query else ""
        )

    def airflow_env(
        self,
        conn_id: str = DEFAULT_CONN_ID,
        response_format: ResponseFormat = "json",
        *,
        extra: Mapping[str, ExtraValue] | None = None,
    ) -> dict[str, str]:
        """``{"AIRFLOW_CONN_<CONN_ID>": <connection JSON>}``, ready for ``monkeypatch`` or ``os.environ``."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json(response_format, extra=extra)}


def _uri_value(value: ExtraValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
