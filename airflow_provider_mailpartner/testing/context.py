"""What a handler receives: the parsed request, and the sandbox parts it may use.

Handlers never see the HTTP layer; the server parses a request into an :class:`ApiRequest` or a
:class:`ControlRequest` and turns what the handler returns into bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from .backend import SandboxBackend
from .faults import FaultPlan
from .rate_limit import RollingWindowLimiter
from .wire import ListBodyCache, ResponseFormat


@dataclass
class SandboxContext:
    """The parts of one running sandbox, shared by its server threads.

    :param api_key: the one key the account accepts.
    :param errors: exceptions raised unexpectedly while serving (sandbox bugs). Tests assert it stays
        empty, so :meth:`reset` keeps it: a reset between two steps must not hide a bug.
    """

    api_key: str
    backend: SandboxBackend
    faults: FaultPlan
    rate_limiter: RollingWindowLimiter
    list_cache: ListBodyCache = field(default_factory=ListBodyCache)
    stopping: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def reset(self) -> None:
        """Back to a fresh account: empty list, no faults, empty rate-limit window and request log.

        ``errors`` is kept.
        """
        self.backend.reset()
        self.faults.clear()
        self.rate_limiter.reset()
        self.list_cache.clear()


@dataclass(frozen=True)
class ApiRequest:
    """An API call: its parameters and the format it wants its answer in.

    :param params: the query string for GET; for POST the JSON (or form) body, with query-string
        parameters other than ``apiKey`` as fallbacks.
    """

    params: Mapping[str, object]
    response_format: ResponseFormat
    context: SandboxContext

    def text(self, name: str) -> str | None:
        """A parameter as text: strings as sent, integers in decimal, anything else ``None``."""
        value = self.params.get(name)
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return None


@dataclass(frozen=True)
class ControlRequest:
    """A call to a ``/_sandbox/`` control endpoint, with its JSON body (``{}`` when empty)."""

    body: Mapping[str, object]
    context: SandboxContext
