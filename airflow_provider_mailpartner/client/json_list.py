"""MailPartner's JSON answers, read by C decoders: msgspec for the list's entries, the standard library for the rest.

A list answer (``{"success": true, "code": 200, "nbData": N, "data": [{...}, ...]}``, its
fields in any order) can hold a million entries, so it is never decoded whole:

- **the head**, the fields before ``"data": [``, is decoded by the standard library once that
  key is found at the top level;
- **the entries** are decoded by msgspec a window at a time, straight into ``records.Entry`` (types
  checked in C). A window is cut after a ``}`` that a ``,`` follows and decoded as
  ``[`` + window + ``]``: that text is valid JSON only when the cut fell between two entries
  (inside a string the added ``]`` would be text in an unterminated string; inside an entry one
  ``]`` cannot close both it and the list). A failed decode means "cut earlier";
- **the tail**, what is left after the last window, is decoded by the standard library as
  ``{"data": [`` + tail, which checks the end of the document and gives the fields after the list.

Each field comes once as a ``field`` event, the list's entries in ``items`` batches; an entry
msgspec cannot type (an id that is a float, say) comes as the decoded value, for the record
checks to say what is wrong with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

import msgspec

from airflow_provider_mailpartner.client.envelope import DocumentError, Event, data_event, field_event
from airflow_provider_mailpartner.client.json_fields import (
    BOM,
    DECODER,
    WHITESPACE,
    check_start,
    decode,
    json_fields,
    top_level,
)
from airflow_provider_mailpartner.records import Entry

WINDOW = 1 << 14  # bytes per msgspec call (some 200 entries): larger windows only add memory
MAX_HEAD = 1 << 20  # the fields before the list are a few dozen bytes
MAX_WINDOW = 64 << 20  # one entry is ~100 bytes; a window that never ends is refused
_HEAD_CANDIDATES = 64  # places that look like the list's key, tried before the answer is refused
_CUTS_TRIED = 8  # cuts tried from the end of a window before reading more (an address may hold "},")
_SEPARATOR = re.compile(rb"[ \t\n\r]*,")
_LIST_END = re.compile(rb"[ \t\n\r]*\]")
_JSON_SPACE = " \t\n\r"  # (str.strip() alone would also take Unicode spaces JSON does not allow)


_ENTRIES = msgspec.json.Decoder(list[Entry])


def json_events(chunks: Iterable[bytes], stream_field: str = "data") -> Iterator[Event]:
    """Events for a list answer: each field whole, the ``stream_field`` list's entries in batches."""
    window = _Window(iter(chunks))
    head = window.until_list(stream_field)
    if head is None:  # no list where one is expected (an error, say): the whole answer, if small, as fields
        if not window.eof:
            check_start(window.buffer[window.pos :])
            raise DocumentError(f"invalid JSON: no {stream_field!r} list in the first {MAX_HEAD} bytes")
        yield from (field_event(name, value) for name, value in json_fields(window.rest()).items())
        return
    yield from (field_event(name, value) for name, value in head.items())
    yield data_event(stream_field)
    while (batch := window.entries()) is not None:
        if batch:
            yield ("items", stream_field, batch)
    tail = window.tail()
    entries = tail.pop(stream_field)
    if entries:
        yield ("items", stream_field, _typed(entries))
    yield from (field_event(name, value) for name, value in tail.items())


def _typed(entries: object) -> list[object]:
    """The tail's entries (decoded by the standard library) as :class:`Entry`, where their types allow."""
    assert isinstance(entries, list)
    try:
        return list(msgspec.convert(entries, list[Entry]))
    except (msgspec.ValidationError, UnicodeError, RecursionError):  # (UnicodeError: a "\\ud800" escape)
        return entries


def _text(window: bytes) -> str:
    """A window's text; a character cut by the window's end is left for the next one."""
    try:
        return window.decode()
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            return window[: exc.start].decode()
        raise DocumentError(f"the JSON answer is not valid UTF-8 ({exc.reason})") from None


def _cut_short(exc: json.JSONDecodeError, text: str) -> bool:
    """Whether a decoding error may come from the window's end rather than from the answer.

    A cut ends a value early: the error is then within the last few characters (a ``\\uXXXX``
    escape is six), or it is a string that does not end (reported where the string starts).
    """
    return exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip(_JSON_SPACE)) - 6


class _Window:
    """The unread bytes of the answer: ``buffer[pos:]``, read on as far as has been needed."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.buffer = b""
        self.pos = 0
        self.eof = False
        self.after_comma = False  # the last cut consumed a ",": an entry must follow, not "]"
        self.span = WINDOW  # how far a window reaches: widened while no entry ends within it
        self._searched = 0  # how far the head was searched for the list's key
        self.list_name = ""

    def read(self, at_least: int) -> bool:
        """Read until ``at_least`` bytes are unread (or the answer ends); False if none came."""
        if len(self.buffer) - self.pos >= at_least or self.eof:
            return False
        pieces, size = [self.buffer[self.pos :]], len(self.buffer) - self.pos
        unread = size
        while size < at_least and not self.eof:
            chunk = next(self._chunks, None)
            self.eof = chunk is None
            if chunk:
                pieces.append(chunk)
                size += len(chunk)
        self.buffer, self.pos = b"".join(pieces), 0
        return size > unread

    def rest(self) -> bytes:
        while self.read(len(self.buffer) - self.pos + WINDOW):
            pass
        return self.buffer[self.pos :]

    def until_list(self, name: str) -> dict[str, object] | None:
        """The fields before ``"name": [``, the window then set on the first entry; None if no such list.

        A key the pattern finds is the top-level one only if the text before it, closed with
        ``"name": []}``, is valid JSON: inside a string or a nested value it would not be.
        """
        key = re.compile(b'"' + re.escape(name.encode()) + b'"[ \t\n\r]*:[ \t\n\r]*\\[')
        self.read(WINDOW)
        self.pos = len(BOM) if self.buffer.startswith(BOM) else 0
        tried = 0
        while True:
            for found in key.finditer(self.buffer, self.pos + (self._searched if tried else 0), MAX_HEAD):
                tried += 1
                if tried > _HEAD_CANDIDATES:
                    raise DocumentError(f"invalid JSON: no top-level {name!r} list among the first candidates")
                try:
                    head = decode(self.buffer[self.pos : found.start()] + b'"' + name.encode() + b'": []}')
                except DocumentError:
                    continue
                if not isinstance(head, dict) or name not in head:  # ('"a\\"data": [' is another key)
                    continue
                fields = top_level(head)
                del fields[name]
                self.pos, self.list_name = found.end(), name
                return fields
            if self.eof or len(self.buffer) >= MAX_HEAD:
                return None
            self._searched = max(0, len(self.buffer) - self.pos - 64)  # (a key may straddle the old end)
            self.read(2 * len(self.buffer))

    def entries(self) -> list[object] | None:
        """The whole entries at the front of the window, or none yet (read more, call again).

        None when what is left is the list's end, or cannot be cut: the tail's decoding then reads
        the last entries, or names what is wrong.
        """
        self.read(self.span)
        if _LIST_END.match(self.buffer, self.pos):
            return None
        cuts = list(self._cuts())
        for cut, next_entry in cuts:
            window = self.buffer[self.pos : cut]
            _text(window)  # msgspec does not check the text of fields Entry leaves out
            batch = self._decoded(window)
            if batch is not None:
                self.pos, self.after_comma, self.span = next_entry, True, WINDOW
                return batch
        if self.eof and self.pos + self.span >= len(self.buffer):
            return None
        if cuts:
            return self._one_entry()
        self._widen()
        return []

    def _cuts(self) -> Iterator[tuple[int, int]]:
        """Up to ``_CUTS_TRIED`` places to cut, from the window's end back: after a ``}`` that a ``,`` follows."""
        end = min(len(self.buffer), self.pos + self.span)
        for _ in range(_CUTS_TRIED):
            cut = self.buffer.rfind(b"}", self.pos, end) + 1
            if not cut:
                return
            end = cut - 1
            if separator := _SEPARATOR.match(self.buffer, cut):
                yield cut, separator.end()

    def _widen(self) -> None:
        """Let the window reach twice as far: no entry ends within it."""
        if self.span > MAX_WINDOW:
            raise DocumentError(f"invalid JSON: no list entry ends within {MAX_WINDOW} bytes")
        self.span *= 2

    def _decoded(self, text: bytes) -> list[object] | None:
        """``[text]`` decoded into entries; None when the text is not a run of whole entries."""
        try:
            return _ENTRIES.decode(b"[" + text + b"]")  # type: ignore[return-value]
        except msgspec.ValidationError:  # whole entries, of the wrong types: decoded as they are below
            pass
        except msgspec.DecodeError:
            return None
        except RecursionError:
            raise DocumentError("invalid JSON: nested too deeply") from None
        try:
            return msgspec.json.decode(b"[" + text + b"]")  # type: ignore[no-any-return]
        except msgspec.DecodeError:
            return None
        except RecursionError:
            raise DocumentError("invalid JSON: nested too deeply") from None

    def _one_entry(self) -> list[object] | None:
        """No tried cut worked (addresses holding "},", or bad JSON): read one entry by the standard library."""
        text = _text(self.buffer[self.pos : self.pos + self.span])
        start = len(text) - len(text.lstrip(_JSON_SPACE))
        try:
            entry, end = DECODER.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            if _cut_short(exc, text):
                self._widen()
                return []
            raise DocumentError(f"invalid JSON: {exc.msg}") from None
        except (ValueError, RecursionError, ArithmeticError) as exc:
            raise DocumentError(f"invalid JSON: {type(exc).__name__}") from None
        separator = text[end:].lstrip(_JSON_SPACE)
        if not separator:  # what follows the entry is past the window
            self._widen()
            return []
        if separator.startswith("]"):
            return None  # the list ends here: the tail reads this entry again, with what follows
        if not separator.startswith(","):
            raise DocumentError("invalid JSON: expected ',' or ']' after a list entry")
        self.pos += len(text[: len(text) - len(separator) + 1].encode())
        self.after_comma = True
        return _typed([entry])

    def tail(self) -> dict[str, object]:
        """The last entries and the fields after the list, from ``{"name": [`` + the rest of the answer."""
        rest = self.rest()
        if self.after_comma and rest.lstrip(WHITESPACE).startswith(b"]"):
            raise DocumentError("invalid JSON: a ',' before the end of the list")
        return top_level(decode(b'{"' + self.list_name.encode() + b'": [' + rest))
