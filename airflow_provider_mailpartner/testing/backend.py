"""The sandbox's state: one account's unsubscribe list, its credits and the request log.

Like a moto backend it knows nothing about HTTP: handlers call it, it raises :class:`ApiError` for the
service's own refusals, and ``reset()`` returns it to a fresh account. A million entries are kept in
parallel arrays (ids and dates as 64-bit integers, addresses as shared strings, deletions as
tombstones) rather than one object per entry, which keeps memory modest and snapshots cheap.
"""

from __future__ import annotations

import bisect
import itertools
import os
import threading
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypedDict

from airflow_provider_mailpartner.client.commands import ApiCode

from . import fake_data, timestamps
from .addresses import forbidden_character, is_valid_address, normalize
from .errors import ApiError
from .request_log import RequestLog, RequestRecord
from .seed_files import read_seed_file

DEFAULT_USERNAME = "sandbox@mailpartner.test"
DEFAULT_CREDIT_MAIL = 269_082
DEFAULT_CURRENCY = "EUR"
DEFAULT_BALANCE = Decimal("10225.119")
_BALANCE_QUANTUM = Decimal("0.001")
_COMPACT_AFTER = 1_000


class UnsubscribeEntry(TypedDict):
    """One entry as the API's JSON shows it."""

    id: int
    email: str
    createdAt: str


class Credits(TypedDict):
    """The ``credits`` object of ``GET /v1/me``."""

    creditMail: int
    currency: str
    balance: str


@dataclass(frozen=True)
class ListSnapshot:
    """A consistent copy of the list, taken under the lock and rendered outside it.

    ``emails[i]`` is ``None`` for a deleted entry; ``count`` is the number of live entries.
    """

    version: int
    ids: array[int]
    emails: list[str | None]
    created: array[int]
    count: int


class SandboxBackend:
    """Thread-safe in-memory state of one MailPartner account.

    :param username: what ``GET /v1/me`` reports as ``user.username``.
    :param credit_mail: ``credits.creditMail``.
    :param currency: ``credits.currency``.
    :param balance: ``credits.balance``, kept as a Decimal and sent with three decimals.
    """

    def __init__(
        self,
        *,
        username: str = DEFAULT_USERNAME,
        credit_mail: int = DEFAULT_CREDIT_MAIL,
        currency: str = DEFAULT_CURRENCY,
        balance: Decimal | str = DEFAULT_BALANCE,
    ) -> None:
        self._lock = threading.RLock()
        self._initial = (_checked_text("username", username), credit_mail, currency, _quantize(balance))
        self._log = RequestLog()
        self._version = 0
        self.reset()

    # -- account -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the list, restart ids at 1, restore the initial account and clear the request log."""
        with self._lock:
            self._ids: array[int] = array("q")
            self._emails: list[str | None] = []
            self._created: array[int] = array("q")
            self._taken: set[str] = set()
            self._live = 0
            self._next_id = 1
            self._username, self._credit_mail, self._currency, self._balance = self._initial
            self._version += 1
            self._log.clear()

    @property
    def username(self) -> str:
        return self._username

    @username.setter
    def username(self, value: str) -> None:
        with self._lock:
            self._username = _checked_text("username", value)

    def credits(self) -> Credits:
        """The ``credits`` object as ``GET /v1/me`` sends it."""
        with self._lock:
            return {"creditMail": self._credit_mail, "currency": self._currency, "balance": str(self._balance)}

    def set_credits(
        self,
        *,
        credit_mail: int | None = None,
        currency: str | None = None,
        balance: Decimal | str | None = None,
    ) -> None:
        """Change the credits ``GET /v1/me`` reports; ``None`` leaves a field as it is."""
        with self._lock:
            if credit_mail is not None:
                self._credit_mail = credit_mail
            if currency is not None:
                self._currency = currency
            if balance is not None:
                self._balance = _quantize(balance)

    # -- the unsubscribe list ----------------------------------------------------------------

    @property
    def version(self) -> int:
        """A number that changes whenever the list changes (the list cache's key)."""
        return self._version

    @property
    def count(self) -> int:
        """How many entries the list holds."""
        return self._live

    @property
    def next_id(self) -> int:
        """The id the next added entry will get."""
        return self._next_id

    def add(self, email: str) -> int:
        """Add an address as ``POST /v1/unsubscribe/add`` does and return its new id.

        The address is stored stripped, as sent otherwise.

        :raises ApiError: code 2 if empty, 9 if invalid, 3 if already listed (compared stripped and
            case-insensitively).
        """
        address = email.strip()
        if not address:
            raise ApiError(ApiCode.EMAIL_REQUIRED)
        if not is_valid_address(address):
            raise ApiError(ApiCode.INVALID_EMAIL)
        key = normalize(address)
        created = timestamps.now_seconds()
        with self._lock:
            if key in self._taken:
                raise ApiError(ApiCode.ALREADY_LISTED)
            new_id = self._next_id
            self._append(new_id, address, key, created)
            self._next_id = new_id + 1
            self._version += 1
            return new_id

    def delete(self, entry_id: int) -> None:
        """Remove an entry by id, as ``/v1/unsubscribe/delete`` does.

        :raises ApiError: code 4 if no entry has that id.
        """
        with self._lock:
            index = bisect.bisect_left(self._ids, entry_id)
            if index == len(self._ids) or self._ids[index] != entry_id:
                raise ApiError(ApiCode.ID_NOT_FOUND)
            email = self._emails[index]
            if email is None:
                raise ApiError(ApiCode.ID_NOT_FOUND)
            self._emails[index] = None
            self._taken.discard(normalize(email))
            self._live -= 1
            self._version += 1
            tombstones = len(self._emails) - self._live
            if tombstones > _COMPACT_AFTER and tombstones * 2 > len(self._emails):
                self._compact()

    def has_email(self, email: str) -> bool:
        """Whether the list holds ``email`` (compared stripped and case-insensitively)."""
        with self._lock:
            return normalize(email) in self._taken

    def entries(self) -> list[UnsubscribeEntry]:
        """Every entry, in id order, as the API's JSON shows it."""
        snapshot = self.list_snapshot()
        fmt = timestamps.format_seconds
        return [
            {"id": entry_id, "email": email, "createdAt": fmt(created)}
            for entry_id, email, created in zip(snapshot.ids, snapshot.emails, snapshot.created, strict=True)
            if email is not None
        ]

    def list_snapshot(self) -> ListSnapshot:
        """A consistent copy of the list for rendering (a few milliseconds for a million entries)."""
        with self._lock:
            return ListSnapshot(
                version=self._version,
                ids=array("q", self._ids),
                emails=list(self._emails),
                created=array("q", self._created),
                count=self._live,
            )

    def seed(self, entries: Iterable[Mapping[str, object]]) -> int:
        """Add entries as they would have been on the account, and return how many.

        Each mapping has ``email`` (stored as given, white space around it included, so tests can
        exercise a client's clean-up; it must be non-blank and hold no control character but
        that surrounding white space), optional ``created_at`` or ``createdAt`` (a
        ``YYYY-MM-DD HH:MM:SS``/ISO 8601 string or a datetime; aware values are converted to Paris
        wall time; default: now) and optional ``id`` (a positive int or digit string; default: the
        next id). All or nothing: on a bad entry nothing is added.

        :raises ValueError: for a blank address or one with a control character, a bad date or id,
            or a duplicate address or id.
        """
        with self._lock:
            batch_emails: list[str] = []
            batch_keys: list[str] = []
            batch_created: array[int] = array("q")
            batch_ids: list[int | None] = []
            batch_taken: set[str] = set()
            now: int | None = None
            for position, raw in enumerate(entries):
                email = raw.get("email")
                if not isinstance(email, str) or not email.strip():
                    raise ValueError(f"seed entry {position}: 'email' must be a non-blank string")
                _check_seed_address(email, position)
                key = normalize(email)
                if key in self._taken or key in batch_taken:
                    raise ValueError(f"seed entry {position}: {email.strip()!r} is already on the list")
                batch_taken.add(key)
                created = raw.get("created_at", raw.get("createdAt"))
                if created is None:
                    now = timestamps.now_seconds() if now is None else now
                    seconds = now
                elif isinstance(created, (str, datetime)):
                    try:
                        seconds = timestamps.to_seconds(created)
                    except ValueError as exc:
                        raise ValueError(f"seed entry {position}: {exc}") from None
                else:
                    raise ValueError(f"seed entry {position}: created_at must be a string or a datetime")
                batch_emails.append(email)
                batch_keys.append(key)
                batch_created.append(seconds)
                batch_ids.append(_seed_id(raw.get("id"), position))
            ids = self._assign_ids(batch_ids)
            for entry_id, email, key, seconds in zip(ids, batch_emails, batch_keys, batch_created, strict=True):
                self._append(entry_id, email, key, seconds)
            if any(later <= earlier for earlier, later in itertools.pairwise(ids)) or (
                ids and len(self._ids) > len(ids) and self._ids[-len(ids) - 1] >= ids[0]
            ):
                self._sort_by_id()
            if ids:
                self._next_id = max(self._next_id, max(ids) + 1)
                self._version += 1
            return len(ids)

    def seed_file(self, path: str | os.PathLike[str]) -> int:
        """Seed from a JSON Lines, JSON array or CSV file (see :func:`read_seed_file`)."""
        return self.seed(read_seed_file(path))

    def generate(self, n: int, seed: int = 0) -> int:
        """Add ``n`` deterministic, realistic-looking entries with unique addresses and return ``n``.

        On an empty list, dates rise with the id across 2015-2025; on a list that has entries,
        they continue from the last entry's date, so calling ``generate`` again adds new names
        with later dates. The same ``seed`` on the same starting list gives the same entries; a
        million take a couple of seconds.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            first = self._next_id
            after = self._created[-1] if self._created else None
            emails, created = fake_data.generate_entries(n, seed, self._taken, first_id=first, after=after)
            self._ids.extend(range(first, first + n))
            self._emails.extend(emails)
            self._created.extend(created)
            self._live += n
            self._next_id = first + n
            self._version += 1
            return n

    # -- request log -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """The API requests answered since the last clear, oldest first (no key, no query)."""
        return self._log.records()

    @property
    def request_count(self) -> int:
        """How many requests the log holds, without copying it."""
        return len(self._log)

    def record_request(self, record: RequestRecord) -> None:
        self._log.append(record)

    def clear_requests(self) -> None:
        self._log.clear()

    # -- internals ---------------------------------------------------------------------------

    def _append(self, entry_id: int, email: str, key: str, created: int) -> None:
        self._ids.append(entry_id)
        self._emails.append(email)
        self._created.append(created)
        self._taken.add(key)
        self._live += 1

    def _assign_ids(self, wanted: list[int | None]) -> list[int]:
        explicit = [entry_id for entry_id in wanted if entry_id is not None]
        if len(set(explicit)) != len(explicit):
            raise ValueError("seed entries repeat an id")
        for entry_id in explicit:
            index = bisect.bisect_left(self._ids, entry_id)
            if index < len(self._ids) and self._ids[index] == entry_id and self._emails[index] is not None:
                raise ValueError(f"seed entry id {entry_id} is already on the list")
        following = max([self._next_id, *(entry_id + 1 for entry_id in explicit)])
        ids: list[int] = []
        for wanted_id in wanted:
            if wanted_id is None:
                ids.append(following)
                following += 1
            else:
                ids.append(wanted_id)
        return ids

    def _sort_by_id(self) -> None:
        # A seeded id may equal a tombstone's; drop tombstones first so ids stay unique.
        self._compact()
        order = sorted(range(len(self._ids)), key=self._ids.__getitem__)
        self._ids = array("q", (self._ids[i] for i in order))
        self._emails = [self._emails[i] for i in order]
        self._created = array("q", (self._created[i] for i in order))

    def _compact(self) -> None:
        keep = [i for i, email in enumerate(self._emails) if email is not None]
        self._ids = array("q", (self._ids[i] for i in keep))
        self._emails = [self._emails[i] for i in keep]
        self._created = array("q", (self._created[i] for i in keep))


def _quantize(balance: Decimal | str) -> Decimal:
    return Decimal(balance).quantize(_BALANCE_QUANTUM)


def _check_seed_address(email: str, position: int) -> None:
    stripped = email.strip()
    start = len(email) - len(email.lstrip())
    # White space around the address is kept for clean-up tests, but only what XML can carry.
    edges = (email[:start] + email[start + len(stripped) :]).translate({9: None, 10: None, 13: None})
    bad = forbidden_character(stripped) or forbidden_character(edges)
    if bad is not None:
        raise ValueError(
            f"seed entry {position}: the address {email!r} holds U+{ord(bad):04X}, a control character "
            "(or a non-character) that would make the XML list malformed; only spaces, tabs and line "
            "breaks around the address are allowed"
        )


def _checked_text(name: str, value: str) -> str:
    bad = forbidden_character(value)
    if bad is not None:
        raise ValueError(f"{name} {value!r} holds U+{ord(bad):04X}, a control character (or a non-character)")
    return value


def _seed_id(value: object, position: int) -> int | None:
    if value is None:
        return None
    entry_id: int | None = None
    if isinstance(value, str) and value.strip().isdigit():
        entry_id = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        entry_id = value
    if entry_id is None or entry_id < 1:
        raise ValueError(f"seed entry {position}: 'id' must be a positive integer")
    return entry_id
