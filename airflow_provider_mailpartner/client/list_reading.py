"""Reading a list answer entry by entry, and checking it whole: one envelope, one list, the count, no repeated key.

The document must be exactly one envelope with one list: a missing, null or repeated list, or a
field given twice (a second ``success`` after the data, say), would otherwise read as a short
list, which for a suppression job means "nobody unsubscribed".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from operator import attrgetter
from typing import TypeVar

from airflow_provider_mailpartner.client.answer_checks import AnswerChecks
from airflow_provider_mailpartner.client.commands import Call
from airflow_provider_mailpartner.client.envelope import DocumentError, Event
from airflow_provider_mailpartner.client.exchange import Answer
from airflow_provider_mailpartner.client.formats import list_events
from airflow_provider_mailpartner.records import RecordError, strict_int, usable_id

log = logging.getLogger(__name__)
T = TypeVar("T")
_KEY_LIMIT = 10**18


class ListReading:
    """One list answer, already trusted as far as its header goes, read and checked."""

    def __init__(self, call: Call, answer: Answer, checks: AnswerChecks) -> None:
        self.call = call
        self.answer = answer
        self.checks = checks

    def expected_count(self) -> int:
        """``nbData``, from the fields before the list (the usual order), once the envelope is trusted."""
        fields = self.checks.decode(self.answer, self._fields_before_list)
        self.checks.check_envelope(self.answer, fields)
        expected = strict_int(fields.get("nbData"))
        if expected is None or expected < 0:
            shown = self.checks.shown(fields.get("nbData"))
            raise self.checks.response_error(self.answer, f"nbData is missing or not a count: {shown}")
        return expected

    def batches(self, expected: int, convert: Callable[[object], T]) -> Iterator[list[T]]:
        """The entries through ``convert``, a batch (a reader's window) at a time; once they are all read,
        the whole answer's checks. The answer's spool is closed when the iterator ends, however it ends."""
        started = time.monotonic()
        keys = _Keys()
        count = 0
        try:
            for batch in self._batches():
                try:
                    yield list(map(convert, batch))
                except RecordError as exc:
                    number = count + _position_refused(batch, convert)
                    raise self.checks.response_error(self.answer, f"entry {number}: {exc}") from None
                if keys.rising:
                    keys.add(self._keys_of(batch))
                count += len(batch)
            if count != expected:
                problem = f"nbData says {expected} entries but the answer holds {count}: truncated or corrupt"
                raise self.checks.response_error(self.answer, problem)
            self._refuse_repeated_keys(keys)
        except DocumentError as exc:
            raise self.checks.response_error(self.answer, str(exc)) from None
        finally:
            self.answer.body.close()
        elapsed = time.monotonic() - started
        log.info(
            "Read %d entries from MailPartner's %s answer (connection %r) in %.2f s",
            count,
            self.call.command.path,
            self.checks.conn_id,
            elapsed,
        )

    def _fields_before_list(self) -> dict[str, object]:
        fields: dict[str, object] = {}
        for kind, name, value in self._events():
            if kind == "field":
                fields[name] = value
            elif kind == "data" and {"success", "code", "nbData"} <= fields.keys():
                break
        return fields

    def _events(self) -> Iterator[Event]:
        return list_events(self.answer.chunks(), self.call.command, self.call.response_format)

    def _batches(self) -> Iterator[list[object]]:
        """The list's entries a batch at a time; the rest of the document checked for shape."""
        stream_field = self.call.command.stream_field
        seen: set[str] = set()
        for kind, name, value in self._events():
            if kind == "items":
                yield value  # type: ignore[misc]
            elif kind == "field" and name == stream_field:
                raise DocumentError(f"{name!r} is not a list: {self.checks.shown(value)}")
            elif name in seen:
                raise DocumentError(f"the answer gives {name!r} twice")
            else:
                seen.add(name)
        if stream_field not in seen:
            raise DocumentError(f"the answer has no {stream_field!r} list")

    def _keys_of(self, batch: list[object]) -> list[int]:
        """The usable keys of a batch's entries: positive integers (from XML, ASCII digits).

        An odd entry's unusable id (0, text, missing) is no key: it cannot repeat another entry's.
        """
        field = self.call.command.key_field
        if not field:
            return []
        try:
            keys = list(map(attrgetter(field), batch))
        except AttributeError:  # some entries are dicts msgspec could not type (or text), beside typed ones
            keys = [entry.get(field) if isinstance(entry, dict) else getattr(entry, field, None) for entry in batch]
        kinds = set(map(type, keys))
        if kinds == {str} and _plain_digits(keys):  # positional XML's ids: text
            keys, kinds = list(map(int, keys)), {int}
        if kinds == {int} and min(keys) > 0 and max(keys) < _KEY_LIMIT:
            return keys  # the usual batch, checked in C
        return [key for key in map(usable_id, keys) if key is not None]

    def _refuse_repeated_keys(self, keys: _Keys) -> None:
        # An id is the handle delete takes and the key a mirror table upserts on: with one id
        # given twice, one of its entries would be lost downstream.
        if keys.rising:
            return
        repeated = _repeated(self._keys_of(entry) for entry in self._batches())
        if repeated is not None:
            key, times = repeated
            field = self.call.command.key_field
            problem = f"{field} {key} is given {times} times (entries must have distinct {field}s)"
            raise self.checks.response_error(self.answer, problem)


class _Keys:
    """Whether the keys seen so far rose all along: rising keys cannot repeat, and cost no memory to check."""

    def __init__(self) -> None:
        self.rising = True
        self._last = 0  # keys are positive

    def add(self, keys: list[int]) -> None:
        if keys:
            # Strictly rising: the keys are their own sorted distinct values (two passes in C).
            self.rising = keys[0] > self._last and keys == sorted(set(keys))
            self._last = keys[-1]


def _repeated(batches: Iterable[list[int]]) -> tuple[int, int] | None:
    """A key given more than once, and how many times; None when every key is distinct.

    The API does not document its order: in any order but rising, the keys are read again from
    the spool and sorted.
    """
    keys = sorted(key for batch in batches for key in batch)
    repeated = next((a for a, b in pairwise(keys) if a == b), None)
    return None if repeated is None else (repeated, keys.count(repeated))


def _plain_digits(texts: list[str]) -> bool:
    """Whether every text is 1 to 18 ASCII digits (what ``int`` reads as :func:`usable_id` would)."""
    joined = "".join(texts)
    return joined.isascii() and joined.isdigit() and min(map(len, texts)) > 0 and max(map(len, texts)) <= 18


def _position_refused(batch: list[object], convert: Callable[[object], object]) -> int:
    """The 1-based position in ``batch`` of the first entry ``convert`` refuses (it is deterministic)."""
    for number, element in enumerate(batch, 1):
        try:
            convert(element)
        except RecordError:
            return number
    return len(batch)
