"""A streaming reader for MailPartner's JSON envelope, so a million-entry list never sits in memory.

Only the top-level object is walked by hand; every value inside it (each list entry included) is
decoded by the standard library's C scanner, which keeps this fast. The ``data`` array is
delivered one element at a time; every other top-level field as a whole value.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal

from airflow_provider_mailpartner.client.envelope import DocumentError, Event, data_event, field_event

MAX_VALUE_CHARS = 64 << 20  # one list entry is ~100 characters; no field of an answer is near this
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_WHITESPACE_CHARS = " \t\n\r"
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]+")  # what may still follow the part of a number already read


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# Decimals, not floats: a money amount must not pick up binary rounding on its way in. NaN and
# Infinity, which Python's decoder accepts by default, are not JSON and no answer carries them.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)


class _Reader:
    """A window over decoded text that refills itself from the chunk source on demand."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        # utf-8-sig: a byte-order mark before the JSON (a PHP file saved with one) is dropped.
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self._no_batch_before = 0  # buffer position; batches are not tried again before it

    def refill(self, at_least: int = 1) -> bool:
        """Read until ``at_least`` more characters are pending (or input ends); False if none came.

        Consumed text is dropped and the pieces are joined once, so the cost stays linear in the
        size of the input however long a single value is.
        """
        pieces = [self.buffer[self.pos :]]
        wanted = len(pieces[0]) + at_least
        have = len(pieces[0])
        while have < wanted and not self.eof:
            text = self._next_text()
            pieces.append(text)
            have += len(text)
        grew = have > len(pieces[0])
        self.buffer = "".join(pieces)
        self._no_batch_before = max(0, self._no_batch_before - self.pos)  # positions shift with the window
        self.pos = 0
        return grew

    def _next_text(self) -> str:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.eof = True
            return self._decode(b"", final=True)
        return self._decode(chunk, final=False)

    def _decode(self, chunk: bytes, *, final: bool) -> str:
        try:
            return self._utf8.decode(chunk, final)
        except UnicodeDecodeError as exc:
            raise DocumentError(f"the JSON answer is not valid UTF-8 ({exc.reason})") from None

    def skip_whitespace(self) -> None:
        if self.pos < len(self.buffer) and self.buffer[self.pos] not in _WHITESPACE_CHARS:
            return  # compact JSON: nothing to skip, no regex to run
        while True:
            self.pos = _WHITESPACE.match(self.buffer, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buffer) or not self.refill():
                return

    def next_char(self) -> str:
        """Consume and return the next non-white-space character ('' at the end)."""
        self.skip_whitespace()
        if self.pos >= len(self.buffer):
            return ""
        char = self.buffer[self.pos]
        self.pos += 1
        return char

    def peek_char(self) -> str:
        self.skip_whitespace()
        return self.buffer[self.pos] if self.pos < len(self.buffer) else ""

    def value(self) -> object:
        """Decode one JSON value, reading more input while the value may be incomplete."""
        self.skip_whitespace()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if self._grow():
                    continue
                raise DocumentError(f"invalid JSON: {exc.msg}") from None
            except (ValueError, RecursionError, ArithmeticError) as exc:  # huge numbers, deep nesting
                raise DocumentError(f"invalid JSON: {type(exc).__name__}") from None
            if self._may_continue(value, end) and self._grow():
                continue
            self.pos = end
            return value

    def _may_continue(self, value: object, end: int) -> bool:
        """Whether the next chunk may extend a value read up to ``end``: one that touches the end of the
        window, or a number followed only by what could still be part of it ("1." with "5" to come)."""
        if end >= len(self.buffer):
            return True
        return type(value) in (int, Decimal) and _NUMBER_TAIL.fullmatch(self.buffer, end) is not None

    def element_batch(self) -> list[object] | None:
        """The whole elements of an array (of objects) that the window holds, decoded in one C call.

        The window is cut after its last ``},`` and decoded as ``[...]``. That text is valid JSON
        only if the cut fell between two elements: inside a string, an object or a number, the
        brackets or quotes could not balance. When it is not (pretty printing, an odd address),
        None sends the caller to the one-value-at-a-time path, which also names any real error.
        """
        if self.pos < self._no_batch_before:
            return None
        cut = self.buffer.rfind("},", self.pos)
        if cut < self.pos:
            return None
        try:
            batch = _DECODER.decode("[" + self.buffer[self.pos : cut + 1] + "]")
        except (ValueError, RecursionError, ArithmeticError):
            self._no_batch_before = cut + 1  # do not try this window's cut again
            return None
        self.pos = cut + 1  # at the "," after the last element of the batch
        return batch  # type: ignore[no-any-return]

    def _grow(self) -> bool:
        """Double the pending text, so that decoding a long value again from its start stays linear."""
        pending = len(self.buffer) - self.pos
        if pending > MAX_VALUE_CHARS:
            raise DocumentError(f"invalid JSON: a single value is longer than {MAX_VALUE_CHARS} characters")
        return self.refill(max(pending, 1))

    def expect(self, wanted: str, where: str) -> None:
        found = self.next_char()
        if found != wanted:
            raise DocumentError(f"invalid JSON: expected {wanted!r} {where}, found {found or 'end of input'!r}")


def json_events(chunks: Iterable[bytes], stream_field: str | None = "data") -> Iterator[Event]:
    """Events for a top-level JSON object; elements of the ``stream_field`` array one by one."""
    reader = _Reader(chunks)
    reader.expect("{", "at the start of the answer")
    if reader.peek_char() == "}":
        reader.next_char()
    else:
        while True:
            key = reader.value()
            if not isinstance(key, str):
                raise DocumentError("invalid JSON: an object key is not a string")
            reader.expect(":", f"after key {key[:40]!r}")
            if key == stream_field and reader.peek_char() == "[":
                reader.next_char()
                yield data_event(key)
                yield from _array_items(reader, key)
            else:
                yield field_event(key, reader.value())
            separator = reader.next_char()
            if separator == "}":
                break
            if separator != ",":
                raise DocumentError(f"invalid JSON: expected ',' or '}}' after {key[:40]!r}")
    if reader.next_char():
        raise DocumentError("invalid JSON: unexpected data after the answer")


def _array_items(reader: _Reader, key: str) -> Iterator[Event]:
    if reader.peek_char() == "]":
        reader.next_char()
        return
    while True:
        batch = reader.element_batch()
        if batch:
            yield ("items", key, batch)
        else:
            yield ("item", key, reader.value())
        if reader.pos < len(reader.buffer) and reader.buffer[reader.pos] == ",":
            reader.pos += 1  # the usual case, read without the general tokenizer
            continue
        separator = reader.next_char()
        if separator == "]":
            return
        if separator != ",":
            raise DocumentError(f"invalid JSON: expected ',' or ']' in {key!r}")
