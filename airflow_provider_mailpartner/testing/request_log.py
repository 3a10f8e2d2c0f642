"""What the sandbox saw: one record per API request, for tests to assert on.

Records hold the path without its query string and never a parameter value, so the API key (sent in
the query string of every GET) cannot end up here, nor can any address.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

DEFAULT_MAX_RECORDS = 100_000


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the sandbox answered it.

    :param method: the HTTP method.
    :param path: the request path, without the query string.
    :param command: the API command (``"unsubscribe/list"``...), or ``None`` for an unknown path.
    :param response_format: ``"json"`` or ``"xml"``, as requested (``_format``).
    :param http_status: the status sent, or ``None`` when the connection was reset before one.
    :param code: the envelope code sent, or ``None`` when the body held no envelope (HTML page,
        malformed body, reset).
    :param fault: the kind of the injected fault, or ``None``.
    :param monotonic: :func:`time.monotonic` when the request arrived.
    :param duration: seconds from arrival until the answer was ready to send.

    The record is written once the request has been processed and before any byte of the answer
    (or an injected delay): a client that got an answer, or gave up waiting, finds it logged.
    """

    method: str
    path: str
    command: str | None
    response_format: str
    http_status: int | None
    code: int | None
    fault: str | None
    monotonic: float
    duration: float


class RequestLog:
    """A thread-safe, bounded list of :class:`RequestRecord` (oldest dropped first)."""

    def __init__(self, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=max_records)

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        """A copy of the records, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
