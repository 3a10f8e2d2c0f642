"""The ``/_sandbox/`` control endpoints: reset, seed, script faults, read the state.

They let a test or a DAG run in another process drive the sandbox over HTTP, like moto's
``/moto-api/``. They need no key, are never rate limited nor faulted, and are not logged. A bad
body raises :class:`ValueError`, which the server answers with HTTP 400 and ``{"error": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from . import wire
from .backend import Credits
from .context import ControlRequest
from .faults import Fault, FaultKind, FaultPlanState
from .wire import WireResponse


class SandboxState(TypedDict):
    """The answer of ``GET /_sandbox/state``."""

    entries: int
    next_id: int
    version: int
    username: str
    credits: Credits
    requests: int
    errors: int
    rate_limit_per_minute: int | None
    faults: FaultPlanState


def reset(request: ControlRequest) -> WireResponse:
    """``POST /_sandbox/reset``: fresh account, no faults, empty request log and rate-limit window."""
    request.context.reset()
    return wire.json_response(200, {"reset": True})


def seed(request: ControlRequest) -> WireResponse:
    """``POST /_sandbox/seed``: ``{"entries": [...]}`` and/or ``{"generate": N, "seed": S}``."""
    body = request.body
    backend = request.context.backend
    if "entries" not in body and "generate" not in body:
        raise ValueError("expected 'entries' (a list of objects) or 'generate' (a number of entries)")
    added = 0
    entries = body.get("entries")
    if entries is not None:
        if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
            raise ValueError("'entries' must be a list of objects")
        added += backend.seed(entries)
    if body.get("generate") is not None:
        added += backend.generate(_integer(body, "generate"), seed=_integer(body, "seed"))
    return wire.json_response(200, {"added": added, "entries": backend.count})


def faults(request: ControlRequest) -> WireResponse:
    """``POST /_sandbox/faults``: ``clear``, then ``script``, then ``rate``, all optional.

    ``{"clear": true}``; ``{"script": [{"kind": "http_error", "status": 503}, ...],
    "command": "unsubscribe/list"}``; ``{"rate": 0.2, "seed": 1, "kinds": ["reset", {...}],
    "rate_command": null}``. Answers with the plan's state.
    """
    body = request.body
    plan = request.context.faults
    if body.get("clear"):
        plan.clear()
    script = body.get("script")
    if script is not None:
        if not isinstance(script, list) or not all(isinstance(item, Mapping) for item in script):
            raise ValueError("'script' must be a list of fault objects")
        plan.script(*(Fault.from_dict(item) for item in script), command=_optional_text(body, "command"))
    rate = body.get("rate")
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise ValueError("'rate' must be a number between 0 and 1")
        plan.set_rate(
            float(rate),
            seed=_integer(body, "seed"),
            kinds=_kinds(body.get("kinds")),
            command=_optional_text(body, "rate_command"),
        )
    return wire.json_response(200, dict(plan.state()))


def state(request: ControlRequest) -> WireResponse:
    """``GET /_sandbox/state``: entry count, credits, request and error counts, rate limit and faults."""
    context = request.context
    backend = context.backend
    answer: SandboxState = {
        "entries": backend.count,
        "next_id": backend.next_id,
        "version": backend.version,
        "username": backend.username,
        "credits": backend.credits(),
        "requests": backend.request_count,
        "errors": len(context.errors),
        "rate_limit_per_minute": context.rate_limiter.per_minute,
        "faults": context.faults.state(),
    }
    return wire.json_response(200, dict(answer))


def _integer(body: Mapping[str, object], name: str) -> int:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{name}' must be an integer")
    return value


def _optional_text(body: Mapping[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"'{name}' must be a string")
    return value


def _kinds(value: object) -> list[Fault | FaultKind] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("'kinds' must be a list of kind names or fault objects")
    kinds: list[Fault | FaultKind] = []
    for item in value:
        if isinstance(item, Mapping):
            kinds.append(Fault.from_dict(item))
        elif isinstance(item, str):
            kinds.append(item)  # type: ignore[arg-type]  # checked by FaultPlan.set_rate
        else:
            raise ValueError("'kinds' must be a list of kind names or fault objects")
    return kinds
