"""Turning an Airflow connection into validated settings, in one place.

Precedence, for every setting: hook argument, then the connection's extra, then the default.
Everything is checked here, before any request is sent, so a bad connection fails with an
error that names the connection and the field instead of a stack trace from inside requests.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypedDict
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import idna

from airflow_provider_mailpartner.client.commands import RESPONSE_FORMATS, ResponseFormat
from airflow_provider_mailpartner.exceptions import MailPartnerConfigError

DEFAULT_BASE_URL = "https://api.mailpartner.fr"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_RETRY_BACKOFF = 1.0
DEFAULT_TIMEZONE = "Europe/Paris"
# Upper bounds keep a typo from holding a worker for hours: a call waits at most about
# (max_retries + 1) x 30 x timeout, plus the backoff.
MAX_TIMEOUT = 300.0
MAX_RETRIES = 20
MAX_RETRY_BACKOFF = 60.0
EXTRA_EXAMPLE = '{"response_format": "xml", "timeout": 30}'
_HOST_LABEL = re.compile(r"[a-z0-9_-]{1,63}", re.IGNORECASE)
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
_MISTYPED_SCHEME = re.compile(r"https?[:/]", re.IGNORECASE)  # "http//x", "https:/x", "http:x"

_Fail = Callable[[str], MailPartnerConfigError]


class ConnectionExtra(TypedDict, total=False):
    """The keys a ``mailpartner`` connection's extra may hold."""

    response_format: str
    timeout: float | int | str
    max_retries: int | str
    retry_backoff: float | int | str
    timezone: str
    allow_insecure_http: bool | str


class HookOverrides(TypedDict, total=False):
    """Settings a DAG author may pass to the hook; ``None`` means "not given"."""

    response_format: str | None
    timeout: float | None
    max_retries: int | None
    retry_backoff: float | None


KNOWN_EXTRA_KEYS = frozenset(ConnectionExtra.__annotations__)


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the client needs to talk to MailPartner, validated."""

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    response_format: ResponseFormat
    timeout: float
    max_retries: int
    retry_backoff: float
    timezone: ZoneInfo


def parse_extra(conn_id: str, raw: str | None) -> dict[str, object]:
    """The connection's extra (its raw text), which must be a JSON object or empty.

    Not Airflow's ``extra_dejson``: that logs invalid JSON and returns ``{}``, dropping every
    setting of the extra without a word (a time zone, a format), so the connection would work wrongly.
    """
    if raw is None or not raw.strip():
        return {}
    try:
        extra = json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise _config_error(
            conn_id, f"extra is not valid JSON ({where}); write a JSON object such as {EXTRA_EXAMPLE}"
        ) from None
    if not isinstance(extra, dict):
        kind = _JSON_KINDS.get(type(extra), "null")
        raise _config_error(conn_id, f"extra must be a JSON object such as {EXTRA_EXAMPLE}, not {kind}")
    return extra


def resolve_settings(
    *,
    conn_id: str,
    host: str | None,
    port: int | None,
    password: str | None,
    extra: Mapping[str, object],
    overrides: HookOverrides,
) -> ConnectionSettings:
    """Merge hook arguments, connection extra and defaults, and validate the result."""

    def pick(name: str, default: object) -> object:
        given = overrides.get(name)
        if given is not None:
            return given
        stored = extra.get(name)
        return default if stored in (None, "") else stored

    def fail(what: str) -> MailPartnerConfigError:
        return _config_error(conn_id, what)

    unknown = sorted(set(extra) - KNOWN_EXTRA_KEYS)
    if unknown:
        raise fail(f"unknown extra field(s) {', '.join(map(repr, unknown))}; known: {sorted(KNOWN_EXTRA_KEYS)}")
    if not password or not password.strip():
        raise fail("no API key; put the MailPartner API key in the connection's password field")

    response_format = str(pick("response_format", "json")).strip().lower()
    if response_format not in RESPONSE_FORMATS:
        raise fail(f"response_format must be one of {RESPONSE_FORMATS}, not {response_format!r}")

    allow_insecure = _as_bool(pick("allow_insecure_http", False))
    if allow_insecure is None:
        raise fail("allow_insecure_http must be true or false")

    timezone_name = str(pick("timezone", DEFAULT_TIMEZONE))
    try:
        timezone = ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"timezone {timezone_name!r} is not a known IANA time zone") from None

    return ConnectionSettings(
        conn_id=conn_id,
        base_url=_base_url(host, port, allow_insecure, fail),
        api_key=password.strip(),
        response_format=response_format,
        timeout=_number("timeout", pick("timeout", DEFAULT_TIMEOUT), fail, minimum=0.001, maximum=MAX_TIMEOUT),
        max_retries=int(
            _number(
                "max_retries",
                pick("max_retries", DEFAULT_MAX_RETRIES),
                fail,
                integer=True,
                maximum=MAX_RETRIES,
            )
        ),
        retry_backoff=_number(
            "retry_backoff", pick("retry_backoff", DEFAULT_RETRY_BACKOFF), fail, maximum=MAX_RETRY_BACKOFF
        ),
        timezone=timezone,
    )


def _base_url(
    host: str | None,
    port: int | None,
    allow_insecure: bool,
    fail: _Fail,
) -> str:
    given = (host or "").strip() or DEFAULT_BASE_URL
    if not given.isprintable() or any(char.isspace() for char in given):
        # urlsplit would silently drop a tab or a line break, and send the key to another host.
        raise fail(f"host {given!r} must be a URL without white space or control characters")
    raw = given if "://" in given else f"https://{given}"
    if raw != given and _MISTYPED_SCHEME.match(given):
        raise fail(f"host {given!r} has a mistyped scheme; write it as an http(s) URL such as {DEFAULT_BASE_URL}")
    try:
        parts = urlsplit(raw)
        hostname = parts.hostname
        explicit_port = parts.port
    except ValueError:
        raise fail(f"host {given!r} is not a valid URL; write an http(s) URL such as {DEFAULT_BASE_URL}") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise fail(f"host {given!r} must be an http(s) URL such as {DEFAULT_BASE_URL}")
    if not _is_host_name(hostname):
        raise fail(f"host {given!r}: {hostname!r} is not a valid host name or IP address")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise fail("host must be a plain base URL: no user, query string or fragment")
    for number in (explicit_port, port or None):  # a port of 0 in the port field means "none"
        if number is not None and not 1 <= number <= 65535:
            raise fail(f"port must be from 1 to 65535, not {number}")
    if parts.scheme == "http" and not allow_insecure and not _is_loopback(hostname):
        raise fail(
            f"plain http to {hostname!r} would send the API key unencrypted in the URL; "
            "use https, or set allow_insecure_http to true in the extra if you really mean it"
        )
    netloc = parts.netloc
    if port and explicit_port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1")
    return f"{parts.scheme}://{netloc}{path}"


def _is_host_name(hostname: str) -> bool:
    """An IP address, or a DNS name as urllib3 would send it (IDNA for non-ASCII names)."""
    try:
        ipaddress.ip_address(hostname)
        return True
    except ValueError:
        pass
    try:
        name = hostname if hostname.isascii() else idna.encode(hostname.lower(), strict=True, std3_rules=True).decode()
    except idna.IDNAError:
        return False
    labels = name.removesuffix(".").split(".")
    return len(name) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def _config_error(conn_id: str, what: str) -> MailPartnerConfigError:
    return MailPartnerConfigError(f"Connection {conn_id!r}: {what}", conn_id=conn_id)


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _number(
    name: str, value: object, fail: _Fail, *, minimum: float = 0.0, maximum: float, integer: bool = False
) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not minimum <= number <= maximum or (integer and not number.is_integer()):  # NaN fails too
        kind = "a whole number" if integer else "a number"
        raise fail(f"{name} must be {kind} from {minimum:g} to {maximum:g}, not {value!r}")
    return number


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    return None


def missing_connection(conn_id: str) -> str:
    """Why ``conn_id`` could not be found: not defined, or set in the environment in a form Airflow cannot read.

    Airflow drops an ``AIRFLOW_CONN_*`` value it cannot parse as if it were not there; saying
    "not defined" then sends the user looking for the wrong mistake. The value is never quoted:
    it holds the key.
    """
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    value = os.environ.get(variable)
    if value is None:
        return (
            f"Connection {conn_id!r} is not defined; create a connection of type 'mailpartner' with the API key "
            "as its password"
        )
    why = ""
    if value.lstrip().startswith("{"):
        try:
            json.loads(value)
        except ValueError as error:
            why = f" (not valid JSON: {getattr(error, 'msg', error)} at line {getattr(error, 'lineno', '?')}"
            why += f", column {getattr(error, 'colno', '?')})"
    return (
        f"Connection {conn_id!r}: the environment variable {variable} is set, but Airflow could not read it as a "
        f"connection{why}. Write it as JSON, "
        '{"conn_type": "mailpartner", "password": "<key>", "extra": {...}}, or as a URI, '
        "mailpartner://:<key percent-encoded>@api.mailpartner.fr/"
    )
