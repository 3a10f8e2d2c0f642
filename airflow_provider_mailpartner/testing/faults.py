"""Fault injection: what can go wrong between a client and MailPartner, on demand.

A :class:`Fault` is a value (a kind plus its parameters) built with one constructor per kind. A
:class:`FaultPlan` decides which request gets one: faults scripted for the next matching requests
come first, in order; otherwise, when a rate is set, a seeded :class:`random.Random` picks requests
and kinds, so a failing run can be replayed. Control endpoints never get a fault.

Some faults stand in for the application's answer (a proxy's 502, a maintenance page, an error
envelope, a reset before the request is processed): the request has no effect. The others wrap the
real answer (latency, truncated or malformed body, a reset part-way through the answer, a reset
with ``processed=True``): the request takes effect and the client may not learn it, which is how
an ``unsubscribe/add`` retried after a lost answer meets code 3.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Literal, TypeAlias, TypedDict, get_args

from airflow_provider_mailpartner.client.commands import ApiCode

from . import wire
from .wire import ResponseFormat, WireResponse

# The transient kinds are the ones a robust client retries (connection errors, HTTP 429/5xx,
# envelope codes 429/500), plus some latency; each kind is named once, here.
TransientKind = Literal["latency", "http_error", "rate_limited", "envelope_error", "reset", "truncated"]
FaultKind = Literal[TransientKind, "trickle", "malformed", "html_page", "raw"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)  # a nested Literal reads back flattened
HttpErrorBody = Literal["html", "json"]
HeaderPairs: TypeAlias = tuple[tuple[str, str], ...]
Headers: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]
_REPLACING_KINDS = frozenset({"http_error", "rate_limited", "envelope_error", "html_page", "raw"})


@dataclass(frozen=True)
class Fault:
    """One injected fault. Build it with a constructor (``Fault.http_error(503)``...), not directly.

    :param kind: which fault.
    :param seconds: ``latency``: the delay before the normal answer; ``trickle``: the pause before
        each byte of the body.
    :param status: the HTTP status sent (``http_error``, ``rate_limited``, ``envelope_error``, ``raw``).
    :param code: the envelope code (``rate_limited``, ``envelope_error``).
    :param message: the envelope message; ``None`` for the sandbox's default.
    :param retry_after: a ``Retry-After`` header value in seconds, or ``None`` for no header.
    :param body: ``http_error``: an nginx-style ``html`` page or a ``json`` error envelope.
    :param after_bytes: ``reset``: how many bytes of the answer go out before the reset (at most
        all but the last byte: a reset always withholds part of the answer).
    :param processed: ``reset``: whether the request took effect before the connection dropped.
    :param fraction: ``truncated``: the share of the body sent before closing.
    :param payload: ``raw``: the exact body to send (UTF-8).
    :param content_type: ``raw``: its Content-Type.
    :param headers: ``raw``: extra headers, as ``(name, value)`` pairs (``Location``, ``Retry-After``...).

    Every field is checked when the fault is built, so a bad fault fails where it is made (a
    ``TypeError`` or ``ValueError``; ``from_dict`` turns both into ``ValueError``), never later
    while a request is being answered.
    """

    kind: FaultKind
    seconds: float = 0.0
    status: int = 200
    code: int | None = None
    message: str | None = None
    retry_after: int | None = None
    body: HttpErrorBody = "html"
    after_bytes: int = 0
    processed: bool = False
    fraction: float = 0.5
    payload: str = ""
    content_type: str = wire.JSON_CONTENT_TYPE
    headers: HeaderPairs = ()

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        for name in ("seconds", "fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TypeError(f"'{name}' must be a finite number, not {value!r}")
            object.__setattr__(self, name, float(value))
        _check_type("status", self.status, int)
        _check_type("after_bytes", self.after_bytes, int)
        _check_type("retry_after", self.retry_after, int, optional=True)
        _check_type("code", self.code, int, optional=self.kind not in ("rate_limited", "envelope_error"))
        for name, optional in (("message", True), ("payload", False), ("content_type", False), ("body", False)):
            _check_type(name, getattr(self, name), str, optional=optional)
        _check_type("processed", self.processed, bool)
        object.__setattr__(self, "headers", header_pairs(self.headers))
        if self.seconds < 0 or self.after_bytes < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("seconds, after_bytes and retry_after must not be negative")
        if not 0.0 <= self.fraction < 1.0:
            raise ValueError("fraction must be in [0, 1)")
        if not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code (100-599)")
        if self.kind == "http_error" and not 400 <= self.status <= 599:
            raise ValueError("http_error needs a 4xx or 5xx status")
        if self.body not in get_args(HttpErrorBody):
            raise ValueError("body must be 'html' or 'json'")
        _check_header_value("content_type", self.content_type)
        for name in ("message", "payload"):
            text = getattr(self, name)
            if text is not None and not _encodable(text):
                raise ValueError(f"'{name}' must be text that UTF-8 can carry (no lone surrogates)")
        if self.kind == "reset" and self.after_bytes and not self.processed:
            object.__setattr__(self, "processed", True)  # part of the answer went out: it was processed

    # -- constructors --------------------------------------------------------------------------

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Hold the answer back ``seconds``, then send it (a slow network or a busy server).

        The request is processed first: an ``unsubscribe/add`` whose client times out has still
        taken effect, as it would on a slow real server.
        """
        return cls("latency", seconds=seconds)

    @classmethod
    def http_error(cls, status: int = 503, *, body: HttpErrorBody = "html", retry_after: int | None = None) -> Fault:
        """Answer with an HTTP error status (500/502/503/504...) instead of the application.

        :param status: a 4xx or 5xx status.
        :param body: ``"html"`` for the page a reverse proxy sends, ``"json"`` for an error envelope
            whose code is the status.
        """
        return cls("http_error", status=status, body=body, retry_after=retry_after)

    @classmethod
    def rate_limited(cls, retry_after: int | None = None, *, message: str | None = None) -> Fault:
        """HTTP 429 with the envelope code 429, with a ``Retry-After`` header when given."""
        return cls(
            "rate_limited", status=429, code=int(ApiCode.TOO_MANY_REQUESTS), retry_after=retry_after, message=message
        )

    @classmethod
    def envelope_error(cls, code: int, message: str | None = None, *, http_status: int = 200) -> Fault:
        """An error envelope with any ``code`` (429, 500, an auth code...), by default at HTTP 200."""
        return cls("envelope_error", status=http_status, code=code, message=message)

    @classmethod
    def reset(cls, after_bytes: int = 0, *, processed: bool = False) -> Fault:
        """Drop the connection (TCP reset) without a complete answer.

        :param after_bytes: send this many bytes of the answer (status line, headers, body) first,
            but never the whole answer: at least its last byte is withheld. More than zero implies
            ``processed``.
        :param processed: let the request take effect first (the answer is lost, not the request).
        """
        return cls("reset", after_bytes=after_bytes, processed=processed)

    @classmethod
    def truncated(cls, fraction: float = 0.5) -> Fault:
        """Declare the full Content-Length, send only ``fraction`` of the body, then close."""
        return cls("truncated", fraction=fraction)

    @classmethod
    def trickle(cls, seconds_per_byte: float = 0.05) -> Fault:
        """Send the headers, then the body one byte at a time: never idle long enough for a read
        timeout, yet slow enough to hold a client that has no overall deadline forever."""
        return cls("trickle", seconds=seconds_per_byte)

    @classmethod
    def malformed(cls) -> Fault:
        """Status 200 and the right Content-Type, but the body is cut in half: invalid JSON or XML."""
        return cls("malformed")

    @classmethod
    def html_page(cls) -> Fault:
        """Status 200 with a ``text/html`` maintenance page, as a captive proxy or a CMS would send."""
        return cls("html_page")

    @classmethod
    def raw(
        cls,
        payload: str,
        *,
        status: int = 200,
        content_type: str = wire.JSON_CONTENT_TYPE,
        headers: Headers | None = None,
    ) -> Fault:
        """Answer with exactly ``payload``: any answer the real service (or a proxy) might send.

        For what no other kind covers: an envelope whose ``nbData`` disagrees with its records, a
        record missing a field, ``success`` without a ``code``, a redirect to another host
        (``headers={"Location": ...}``), an odd ``Retry-After``.

        :param headers: extra headers, as a mapping or as ``(name, value)`` pairs (to repeat a name).
        """
        return cls("raw", status=status, payload=payload, content_type=content_type, headers=header_pairs(headers))

    # -- behaviour -----------------------------------------------------------------------------

    @property
    def replaces_answer(self) -> bool:
        """Whether the fault answers instead of the application (the request has no effect)."""
        return self.kind in _REPLACING_KINDS or (self.kind == "reset" and not self.processed)

    def answer(self, response_format: ResponseFormat) -> WireResponse:
        """The response a replacing fault sends (see :attr:`replaces_answer`)."""
        retry = (("Retry-After", str(self.retry_after)),) if self.retry_after is not None else ()
        if self.kind == "http_error":
            if self.body == "json":
                return wire.error_response(
                    self.status, self.message, response_format, status=self.status, headers=retry
                )
            return wire.html_response(self.status, wire.proxy_error_page(self.status), headers=retry)
        if self.kind in ("rate_limited", "envelope_error"):
            code = self.code if self.code is not None else int(ApiCode.SERVER_ERROR)
            return wire.error_response(code, self.message, response_format, status=self.status, headers=retry)
        if self.kind == "html_page":
            return wire.html_response(200, wire.MAINTENANCE_PAGE)
        if self.kind == "raw":
            body = self.payload.encode()
            return wire.WireResponse(self.status, self.content_type, (body,), len(body), None, self.headers)
        raise ValueError(f"a {self.kind} fault wraps the real answer instead of replacing it")

    def to_dict(self) -> dict[str, object]:
        """The fault as JSON-ready data: its kind and the fields its constructor takes.

        This is what ``POST /_sandbox/faults`` accepts, and ``Fault.from_dict(f.to_dict()) == f``.
        """
        data: dict[str, object] = {"kind": self.kind}
        for name in _CONSTRUCTORS[self.kind].fields:
            value = getattr(self, name)
            data[name] = [list(pair) for pair in value] if name == "headers" else value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Fault:
        """A fault from ``{"kind": ..., <field>: ...}``, built by that kind's constructor.

        Omitted fields take the constructor's defaults (``{"kind": "http_error"}`` is
        ``Fault.http_error()``, a 503). A field the kind's constructor does not take is refused
        unless it holds the value the constructor gives it anyway, so the full form of
        :func:`dataclasses.asdict` reads back too. ``headers`` may be an object or a list of
        ``[name, value]`` pairs.

        :raises ValueError: for an unknown kind or field, a wrong type or an out-of-range value.
        """
        kind = data.get("kind")
        constructor = _CONSTRUCTORS.get(kind) if isinstance(kind, str) else None
        if constructor is None:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        unknown = set(data) - _FIELD_NAMES
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        arguments = {constructor.fields[name]: value for name, value in data.items() if name in constructor.fields}
        try:
            fault = constructor.build(**arguments)
        except TypeError as exc:
            raise ValueError(f"{kind} fault: {exc}") from None
        for name, value in data.items():
            if name == "kind" or name in constructor.fields:
                continue
            if not _same_value(getattr(fault, name), value):
                settable = ", ".join(constructor.fields) or "no field"
                raise ValueError(
                    f"a {kind} fault does not take '{name}' (it is always {getattr(fault, name)!r}); "
                    f"it takes {settable}"
                )
        return fault


@dataclass(frozen=True)
class _Constructor:
    """How ``from_dict``/``to_dict`` reach a kind's constructor.

    :param build: the constructor.
    :param fields: the :class:`Fault` fields it sets, each with the constructor's keyword for it.
    """

    build: Callable[..., Fault]
    fields: Mapping[str, str]


def _keywords(*names: str) -> dict[str, str]:
    return {name: name for name in names}


# One entry per kind: the only way ``from_dict`` builds a fault, so the HTTP control path and the
# Python constructors cannot drift apart.
_CONSTRUCTORS: dict[str, _Constructor] = {
    "latency": _Constructor(Fault.latency, _keywords("seconds")),
    "http_error": _Constructor(Fault.http_error, _keywords("status", "body", "retry_after")),
    "rate_limited": _Constructor(Fault.rate_limited, _keywords("retry_after", "message")),
    "envelope_error": _Constructor(
        Fault.envelope_error, {"code": "code", "message": "message", "status": "http_status"}
    ),
    "reset": _Constructor(Fault.reset, _keywords("after_bytes", "processed")),
    "truncated": _Constructor(Fault.truncated, _keywords("fraction")),
    "trickle": _Constructor(Fault.trickle, {"seconds": "seconds_per_byte"}),
    "malformed": _Constructor(Fault.malformed, {}),
    "html_page": _Constructor(Fault.html_page, {}),
    "raw": _Constructor(Fault.raw, _keywords("payload", "status", "content_type", "headers")),
}
_FIELD_NAMES = frozenset(field.name for field in fields(Fault))


def header_pairs(headers: object) -> HeaderPairs:
    """``headers`` (a mapping, or ``(name, value)`` pairs) as a tuple of checked string pairs.

    :raises TypeError: when it is neither, or a name or value is not a string.
    :raises ValueError: when a name is not an HTTP token or a value cannot go on the wire.
    """
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        items: Iterable[object] = headers.items()
    elif isinstance(headers, (list, tuple)):
        items = headers
    else:
        raise TypeError(f"'headers' must be an object or a list of [name, value] pairs, not {headers!r}")
    pairs: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise TypeError(f"'headers' must hold [name, value] pairs, not {item!r}")
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be strings, not {item!r}")
        if not name or any(ch in _NOT_IN_TOKEN or not 0x20 < ord(ch) < 0x7F for ch in name):
            raise ValueError(f"{name!r} is not a valid header name")
        _check_header_value(name, value)
        pairs.append((name, value))
    return tuple(pairs)


_NOT_IN_TOKEN = frozenset('()<>@,;:\\"/[]?={} \t')


def _check_header_value(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"the {name} header must not contain a line break")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"the {name} header must be Latin-1 text (HTTP headers are)") from None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_type(name: str, value: object, expected: type, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    # bool is an int subclass; a JSON true is not a status code, nor an int a flag.
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        wanted = {int: "an integer", str: "a string", bool: "true or false"}[expected]
        raise TypeError(f"'{name}' must be {wanted}{' or null' if optional else ''}, not {value!r}")


def _same_value(actual: object, given: object) -> bool:
    if isinstance(actual, tuple):  # headers: compare in the normalized form
        try:
            return header_pairs(given) == actual
        except (TypeError, ValueError):
            return False
    if isinstance(actual, float):  # a whole number reads back as a JSON integer
        return type(given) in (int, float) and given == actual
    return type(given) is type(actual) and given == actual


# What a bare kind name means in ``FaultPlan.set_rate(kinds=[...])``.
_DEFAULTS: dict[FaultKind, tuple[Fault, ...]] = {
    "latency": (Fault.latency(0.1),),
    "http_error": tuple(Fault.http_error(status) for status in (500, 502, 503, 504)),
    "rate_limited": (Fault.rate_limited(),),
    "envelope_error": (
        Fault.envelope_error(int(ApiCode.TOO_MANY_REQUESTS)),
        Fault.envelope_error(int(ApiCode.SERVER_ERROR)),
    ),
    "reset": (Fault.reset(),),
    "truncated": (Fault.truncated(),),
    "trickle": (Fault.trickle(),),
    "malformed": (Fault.malformed(),),
    "html_page": (Fault.html_page(),),
    "raw": (Fault.raw(""),),
}

#: The random faults used when ``set_rate`` gets no ``kinds``: the transient ones a robust client
#: retries (connection errors, HTTP 429/5xx, envelope codes 429/500), plus some latency.
TRANSIENT_KINDS: tuple[FaultKind, ...] = get_args(TransientKind)


class ScriptedFault(TypedDict):
    """A scripted fault still waiting for its request."""

    fault: dict[str, object]
    command: str | None


class FaultPlanState(TypedDict):
    scripted: list[ScriptedFault]
    rate: float
    seed: int | None
    kinds: list[dict[str, object]]
    rate_command: str | None


def normalize_command(command: str) -> str:
    """``"/v1/unsubscribe/list/"``, ``"unsubscribe/list"``... -> ``"unsubscribe/list"``."""
    name = command.strip().strip("/")
    return name[3:] if name.startswith("v1/") else name


class FaultPlan:
    """Decides, request by request, which fault (if any) to inject. Thread-safe.

    :param known_commands: when given, ``command`` filters are checked against it, so a typo
        raises instead of silently never matching.
    """

    def __init__(self, *, known_commands: Collection[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._known = frozenset(known_commands) if known_commands is not None else None
        self._scripted: list[tuple[Fault, str | None]] = []
        self._rate = 0.0
        self._seed: int | None = None
        self._rng = random.Random(0)
        self._kinds: tuple[Fault, ...] = ()
        self._rate_command: str | None = None

    def _command(self, command: str | None) -> str | None:
        if command is None:
            return None
        name = normalize_command(command)
        if self._known is not None and name not in self._known:
            raise ValueError(f"unknown command {command!r}; expected one of {', '.join(sorted(self._known))}")
        return name

    def script(self, *faults: Fault, command: str | None = None) -> None:
        """Queue faults for the next requests, one each, in order.

        :param command: only requests for this command (``"unsubscribe/list"``, ``"me"``...) take
            these faults; other requests pass untouched. ``None``: any API request.
        """
        name = self._command(command)
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"script() takes Fault values, not {type(fault).__name__}")
        with self._lock:
            self._scripted.extend((fault, name) for fault in faults)

    def set_rate(
        self,
        rate: float,
        *,
        seed: int = 0,
        kinds: Iterable[Fault | FaultKind] | None = None,
        command: str | None = None,
    ) -> None:
        """Inject a random fault into a share ``rate`` of requests, reproducibly.

        :param rate: probability per request, 0 to 1 (0 turns random faults off).
        :param seed: seed of the plan's :class:`random.Random`; the same seed and the same requests
            give the same faults.
        :param kinds: faults to pick from, as :class:`Fault` values or kind names (a name stands for
            that kind's usual variants, e.g. ``"http_error"`` for 500, 502, 503 and 504). Default:
            :data:`TRANSIENT_KINDS`.
        :param command: only requests for this command draw faults.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        choices: list[Fault] = []
        for kind in TRANSIENT_KINDS if kinds is None else kinds:
            if isinstance(kind, Fault):
                choices.append(kind)
            elif kind in _DEFAULTS:
                choices.extend(_DEFAULTS[kind])
            else:
                raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if rate and not choices:
            raise ValueError("kinds must not be empty")
        name = self._command(command)
        with self._lock:
            self._rate = rate
            self._seed = seed
            self._rng = random.Random(seed)
            self._kinds = tuple(choices)
            self._rate_command = name

    def clear(self) -> None:
        """Drop every scripted fault and turn random faults off."""
        with self._lock:
            self._scripted.clear()
            self._rate = 0.0
            self._seed = None
            self._kinds = ()
            self._rate_command = None

    @property
    def rate(self) -> float:
        return self._rate

    def pending(self) -> list[tuple[Fault, str | None]]:
        """The scripted faults not yet used, with their command filter, in order."""
        with self._lock:
            return list(self._scripted)

    def next_fault(self, command: str) -> Fault | None:
        """The fault for one API request for ``command`` (a routed command: unknown paths draw none)."""
        with self._lock:
            for index, (fault, only) in enumerate(self._scripted):
                if only is None or only == command:
                    del self._scripted[index]
                    return fault
            applies = self._rate_command is None or self._rate_command == command
            if self._rate and applies and self._rng.random() < self._rate:
                return self._rng.choice(self._kinds)
            return None

    def state(self) -> FaultPlanState:
        """A JSON-ready description, for ``GET /_sandbox/state``."""
        with self._lock:
            return {
                "scripted": [{"fault": fault.to_dict(), "command": only} for fault, only in self._scripted],
                "rate": self._rate,
                "seed": self._seed,
                "kinds": [fault.to_dict() for fault in self._kinds],
                "rate_command": self._rate_command,
            }
