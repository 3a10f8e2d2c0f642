"""Everything the sandbox puts on the wire, rendered in one place.

MailPartner answers with an envelope (``success``, ``code``, then the command's fields) as compact
JSON or as *positional* XML: a ``<result>`` root whose unnamed ``<entry>`` children follow the JSON
keys' order, nested objects and lists as nested ``<entry>`` elements, strings in CDATA, booleans as
``true``/``false``. The unsubscribe list can hold a million records, so its body is rendered as
byte chunks and cached per (list version, format): repeated fetches of an unchanged list only
resend the cached chunks, with an exact Content-Length. The cache costs about 80 MB (JSON) and
130 MB (XML) for a million entries; an outdated body is dropped before the next is rendered.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Literal, TypeAlias

from .errors import default_message
from .timestamps import format_seconds

if TYPE_CHECKING:
    from .backend import ListSnapshot, SandboxBackend

ResponseFormat = Literal["json", "xml"]
WireValue: TypeAlias = "bool | int | str | Sequence[WireValue] | Mapping[str, WireValue]"

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
XML_CONTENT_TYPE = "application/xml; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
LIST_BATCH = 4_096


@dataclass(frozen=True)
class WireResponse:
    """A complete answer: status line, headers and body chunks.

    :param status: the HTTP status.
    :param content_type: the Content-Type header.
    :param chunks: the body, in pieces sent one after the other.
    :param length: the body's total size (the Content-Length).
    :param code: the envelope code, for the request log; ``None`` when the body holds none.
    :param headers: extra headers (``Retry-After``, ``Allow``).
    """

    status: int
    content_type: str
    chunks: tuple[bytes, ...]
    length: int
    code: int | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def body_prefix(self, size: int) -> bytes:
        """The first ``size`` bytes of the body."""
        parts: list[bytes] = []
        remaining = size
        for chunk in self.chunks:
            if remaining <= 0:
                break
            parts.append(chunk[:remaining])
            remaining -= len(chunk)
        return b"".join(parts)


def parse_format(value: object) -> ResponseFormat:
    """``_format`` as the sandbox reads it: exactly ``xml`` for XML, anything else JSON (the default)."""
    return "xml" if value == "xml" else "json"


def content_type(response_format: ResponseFormat) -> str:
    return XML_CONTENT_TYPE if response_format == "xml" else JSON_CONTENT_TYPE


def cdata(text: str) -> str:
    """``text`` as one or more CDATA sections (a ``]]>`` inside is split across two)."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml_value(value: WireValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return cdata(value)
    items = value.values() if isinstance(value, Mapping) else value
    return "".join(f"<entry>{_xml_value(item)}</entry>" for item in items)


def render_envelope(envelope: Mapping[str, WireValue], response_format: ResponseFormat) -> bytes:
    """An envelope as MailPartner sends it: compact JSON, or positional XML under ``<result>``."""
    if response_format == "xml":
        return f"{XML_DECLARATION}<result>{_xml_value(envelope)}</result>\n".encode()
    return json.dumps(envelope, separators=(",", ":")).encode("ascii")


def _envelope_code(envelope: Mapping[str, object]) -> int | None:
    """The ``code`` the request log records: an integer (not a boolean), else ``None``."""
    code = envelope.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _single(
    status: int,
    content_type: str,
    body: bytes,
    code: int | None,
    headers: tuple[tuple[str, str], ...] = (),
) -> WireResponse:
    return WireResponse(status, content_type, (body,), len(body), code, headers)


def envelope_response(
    envelope: Mapping[str, WireValue],
    response_format: ResponseFormat,
    *,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
) -> WireResponse:
    """An envelope answer; its ``code`` goes to the request log."""
    body = render_envelope(envelope, response_format)
    return _single(status, content_type(response_format), body, _envelope_code(envelope), headers)


def ok_response(response_format: ResponseFormat, **fields: WireValue) -> WireResponse:
    """``{"success": true, "code": 200, **fields}``."""
    return envelope_response({"success": True, "code": 200, **fields}, response_format)


def error_response(
    code: int,
    message: str | None,
    response_format: ResponseFormat,
    *,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
) -> WireResponse:
    """``{"success": false, "code": code, "message": ...}`` (three ``<entry>`` children in XML)."""
    text = message if message is not None else default_message(code)
    envelope: dict[str, WireValue] = {"success": False, "code": code, "message": text}
    return envelope_response(envelope, response_format, status=status, headers=headers)


def json_response(
    status: int, payload: Mapping[str, object], *, headers: tuple[tuple[str, str], ...] = ()
) -> WireResponse:
    """Plain JSON, for the control endpoints and for 404/405 (which ignore ``_format``)."""
    body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return _single(status, JSON_CONTENT_TYPE, body, _envelope_code(payload), headers)


def html_response(status: int, html: str, *, headers: tuple[tuple[str, str], ...] = ()) -> WireResponse:
    return _single(status, HTML_CONTENT_TYPE, html.encode(), None, headers)


def proxy_error_page(status: int) -> str:
    """The page a reverse proxy (nginx) shows for a 5xx, as clients really receive it."""
    title = f"{status} {HTTPStatus(status).phrase}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


MAINTENANCE_PAGE = """<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>MailPartner - Maintenance</title></head>
<body>
<h1>Maintenance en cours</h1>
<p>Notre plateforme est en cours de maintenance. Merci de r&eacute;essayer dans quelques minutes.</p>
</body>
</html>
"""


# -- the unsubscribe list ------------------------------------------------------------------------


def render_list_chunks(snapshot: ListSnapshot, response_format: ResponseFormat) -> Iterator[bytes]:
    """The ``unsubscribe/list`` body for ``snapshot``, as chunks of about ``LIST_BATCH`` records."""
    if response_format == "xml":
        return _xml_list_chunks(snapshot)
    return _json_list_chunks(snapshot)


def _batches(snapshot: ListSnapshot) -> Iterator[Iterator[tuple[int, str | None, int]]]:
    total = len(snapshot.ids)
    for start in range(0, total, LIST_BATCH):
        stop = start + LIST_BATCH
        yield zip(snapshot.ids[start:stop], snapshot.emails[start:stop], snapshot.created[start:stop], strict=True)


def _json_list_chunks(snapshot: ListSnapshot) -> Iterator[bytes]:
    yield b'{"success":true,"code":200,"nbData":%d,"data":[' % snapshot.count
    quote, fmt = encode_basestring_ascii, format_seconds
    separator = ""
    for batch in _batches(snapshot):
        records = [
            f'{{"id":{entry_id},"email":{quote(email)},"createdAt":"{fmt(created)}"}}'
            for entry_id, email, created in batch
            if email is not None
        ]
        if records:
            yield (separator + ",".join(records)).encode("ascii")
            separator = ","
    yield b"]}"


def _xml_list_chunks(snapshot: ListSnapshot) -> Iterator[bytes]:
    yield (
        f"{XML_DECLARATION}<result><entry>true</entry><entry>200</entry><entry>{snapshot.count}</entry><entry>"
    ).encode()
    fmt = format_seconds
    for batch in _batches(snapshot):
        records = [
            f"<entry><entry>{entry_id}</entry><entry>{cdata(email)}</entry>"
            f"<entry><![CDATA[{fmt(created)}]]></entry></entry>"
            for entry_id, email, created in batch
            if email is not None
        ]
        if records:
            yield "".join(records).encode()
    yield b"</entry></result>\n"


class ListBodyCache:
    """The rendered list per format, kept while the list's version does not change.

    One lock per format: a thread rendering a million XML records does not hold up a JSON fetch,
    and two fetches of the same stale format render it once.
    """

    def __init__(self) -> None:
        self._locks: dict[ResponseFormat, threading.Lock] = {"json": threading.Lock(), "xml": threading.Lock()}
        self._cached: dict[ResponseFormat, tuple[int, WireResponse]] = {}

    def response(self, backend: SandboxBackend, response_format: ResponseFormat) -> WireResponse:
        """The list answer for the backend's current list."""
        with self._locks[response_format]:
            hit = self._cached.get(response_format)
            if hit is not None and hit[0] == backend.version:
                return hit[1]
            self._cached.pop(response_format, None)  # let the old body go before rendering the new
            snapshot = backend.list_snapshot()
            chunks = tuple(render_list_chunks(snapshot, response_format))
            response = WireResponse(
                200, content_type(response_format), chunks, sum(len(chunk) for chunk in chunks), 200
            )
            self._cached[response_format] = (snapshot.version, response)
            return response

    def clear(self) -> None:
        for response_format, lock in self._locks.items():
            with lock:
                self._cached.pop(response_format, None)
