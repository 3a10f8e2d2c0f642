"""The routing tables: which handler answers which path, and for which methods.

``/v1/<command>`` is the API; ``/_sandbox/<name>`` is the control prefix. A trailing slash is
tolerated. Everything else is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from . import control, handlers
from .context import ApiRequest, ControlRequest
from .wire import WireResponse

API_PREFIX = "/v1/"
CONTROL_PREFIX = "/_sandbox/"
Area = Literal["api", "control", "other"]

RequestT = TypeVar("RequestT", ApiRequest, ControlRequest)


@dataclass(frozen=True)
class Route(Generic[RequestT]):
    """A handler and the HTTP methods it answers; other methods get 405."""

    methods: frozenset[str]
    handler: Callable[[RequestT], WireResponse]

    @property
    def allow(self) -> str:
        """The ``Allow`` header of a 405."""
        return ", ".join(sorted(self.methods))


def _route(handler: Callable[[RequestT], WireResponse], *methods: str) -> Route[RequestT]:
    return Route(frozenset(methods), handler)


API_ROUTES: dict[str, Route[ApiRequest]] = {
    "unsubscribe/list": _route(handlers.list_unsubscribes, "GET"),
    "unsubscribe/add": _route(handlers.add_unsubscribe, "POST"),
    # The doc's header says POST while every sample sends GET: accept both.
    "unsubscribe/delete": _route(handlers.delete_unsubscribe, "GET", "POST"),
    "me": _route(handlers.me, "GET"),
}

CONTROL_ROUTES: dict[str, Route[ControlRequest]] = {
    "reset": _route(control.reset, "POST"),
    "seed": _route(control.seed, "POST"),
    "faults": _route(control.faults, "POST"),
    "state": _route(control.state, "GET"),
}


def locate(path: str) -> tuple[Area, str]:
    """Split a path (without query string) into its area and the name after the prefix.

    ``"/v1/unsubscribe/list/"`` -> ``("api", "unsubscribe/list")``; ``"/"`` -> ``("other", "")``.
    """
    clean = path if path == "/" else path.rstrip("/") + "/"
    if clean.startswith(API_PREFIX):
        return "api", clean[len(API_PREFIX) : -1]
    if clean.startswith(CONTROL_PREFIX):
        return "control", clean[len(CONTROL_PREFIX) : -1]
    return "other", clean.strip("/")
