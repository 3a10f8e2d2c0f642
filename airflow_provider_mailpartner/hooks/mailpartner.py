"""MailPartnerHook: the MailPartner API, configured by one Airflow connection of type ``mailpartner``."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TypeVar

import requests
from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import BaseHook

from airflow_provider_mailpartner.client.api_client import MailPartnerClient
from airflow_provider_mailpartner.client.commands import (
    ADD,
    DELETE,
    LIST,
    ME,
    RESPONSE_FORMATS,
    ApiCode,
    Call,
    Command,
    ResponseFormat,
)
from airflow_provider_mailpartner.client.pacing import RequestPacer
from airflow_provider_mailpartner.client.redaction import Redactor, register_secret
from airflow_provider_mailpartner.connection_settings import (
    ConnectionSettings,
    HookOverrides,
    missing_connection,
    parse_extra,
    resolve_settings,
)
from airflow_provider_mailpartner.exceptions import (
    MailPartnerApiError,
    MailPartnerConfigError,
    MailPartnerError,
)
from airflow_provider_mailpartner.records import (
    ODD_REASONS,
    SKIPPED_REASONS,
    Credits,
    ListEntries,
    RecordError,
    RecordParser,
    Unsubscribe,
    UnsubscribeRecord,
    parse_decimal,
    parse_int,
    parse_text,
    strict_int,
)

_T = TypeVar("_T")
log = logging.getLogger(__name__)  # (a task's log holds it; unlike self.log, tests can capture it)


class MailPartnerHook(BaseHook):
    """Talks to the MailPartner API with the key stored in an Airflow connection.

    Nothing happens at construction: the connection is read, and the key registered with
    Airflow's secret masker, on the first call. Settings come from the hook's arguments, then the
    connection's extra, then the defaults.

    :param mailpartner_conn_id: the ``mailpartner`` connection holding the API key (password).
    :param response_format: ``json`` or ``xml``; overrides the connection's ``response_format``.
    :param timeout: seconds; overrides the connection's ``timeout``.
    :param max_retries: overrides the connection's ``max_retries``.
    :param retry_backoff: seconds; overrides the connection's ``retry_backoff``.
    :param max_requests_per_minute: space this hook's requests (retries included) so that no
        minute sees more; MailPartner allows 2000. One hook may be shared by several threads:
        the limit holds for all of them together. Default: no pacing.
    :param strict: refuse a whole list answer for one odd entry (an id of 0, a date in another
        format, an address without ``@``), as version 0.1.0 did. By default an odd entry that
        has an address is kept and flagged, one without is skipped, and both are counted
        (``odd_entries`` of the returned iterator) and logged at WARNING per reason.
    """

    conn_name_attr = "mailpartner_conn_id"
    default_conn_name = "mailpartner_default"
    conn_type = "mailpartner"
    hook_name = "MailPartner"

    def __init__(
        self,
        mailpartner_conn_id: str = default_conn_name,
        *,
        response_format: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_backoff: float | None = None,
        max_requests_per_minute: float | None = None,
        strict: bool = False,
    ) -> None:
        super().__init__()
        self.mailpartner_conn_id = mailpartner_conn_id
        self.strict = strict
        self._pacer = RequestPacer(max_requests_per_minute) if max_requests_per_minute else None
        self._redactor: Redactor | None = None
        self._overrides = HookOverrides(
            response_format=response_format, timeout=timeout, max_retries=max_retries, retry_backoff=retry_backoff
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mailpartner_conn_id={self.mailpartner_conn_id!r})"

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection's validated settings (read once, on first use)."""
        try:
            conn = self.get_connection(self.mailpartner_conn_id)
        except AirflowNotFoundException:
            raise MailPartnerConfigError(
                missing_connection(self.mailpartner_conn_id), conn_id=self.mailpartner_conn_id
            ) from None
        if conn.conn_type and conn.conn_type != self.conn_type:
            raise MailPartnerConfigError(
                f"Connection {self.mailpartner_conn_id!r} has type {conn.conn_type!r}, not 'mailpartner'",
                conn_id=self.mailpartner_conn_id,
            )
        return resolve_settings(
            conn_id=self.mailpartner_conn_id,
            host=conn.host,
            port=conn.port,
            password=conn.password,
            extra=parse_extra(self.mailpartner_conn_id, conn.extra),
            overrides=self._overrides,
        )

    @cached_property
    def client(self) -> MailPartnerClient:
        settings = self.settings
        self._redactor = register_secret(settings.api_key)
        return MailPartnerClient(settings, self._redactor, self._pacer)

    def scrub(self, text: str) -> str:
        """``text`` without the API key in any of its encodings (unchanged while no key has been read)."""
        return self._redactor.scrub(text) if self._redactor is not None else text

    def get_conn(self) -> requests.Session:
        """The one ``requests.Session`` every call of this hook goes through."""
        return self.client.session

    def get_unsubscribes(self, *, response_format: str | None = None) -> list[Unsubscribe]:
        """The whole unsubscribe list (the API has no paging and no filter)."""
        return list(self.iter_unsubscribes(response_format=response_format))

    def iter_unsubscribes(self, *, response_format: str | None = None) -> ListEntries[Unsubscribe]:
        """The whole unsubscribe list, one entry at a time, without holding it in memory.

        The answer is downloaded completely (with retries) before the first entry is yielded, but
        its ``nbData`` count, and that no id repeats, can only be checked at the end: a consumer
        must treat what it wrote as provisional until the iterator is exhausted without error.
        Its ``odd_entries`` counts the odd entries by reason (see ``strict``).
        """
        parser = RecordParser(self.settings.timezone, strict=self.strict)
        return self._stream_list(parser.unsubscribe, parser.odd_entries, response_format)

    def iter_unsubscribe_records(self, *, response_format: str | None = None) -> ListEntries[UnsubscribeRecord]:
        """The same entries, already in their XCom and file shape: ``{"id", "email", "created_at"}``.

        ``created_at`` is ISO 8601 with the offset of the connection's time zone; an odd entry adds
        ``odd``. Made without a datetime per entry, this is the fast path for writers of large
        lists; the same checks apply, and the same provisional-until-exhausted rule as
        :meth:`iter_unsubscribes`.
        """
        parser = RecordParser(self.settings.timezone, strict=self.strict)
        return self._stream_list(parser.parse, parser.odd_entries, response_format)

    def _stream_list(
        self, convert: Callable[[object], _T | None], odd_entries: Counter[str], response_format: str | None
    ) -> ListEntries[_T]:
        return ListEntries(self._list_batches(convert, odd_entries, response_format), odd_entries)

    def _list_batches(
        self, convert: Callable[[object], _T | None], odd_entries: Counter[str], response_format: str | None
    ) -> Iterator[list[_T]]:
        # A generator, so that nothing is sent before the first entry is asked for.
        skipped = 0
        for batch in self.client.stream(self._call(LIST, response_format), convert):
            if skipped != (now_skipped := sum(odd_entries[reason] for reason in SKIPPED_REASONS)):
                skipped, batch = now_skipped, [entry for entry in batch if entry is not None]
            yield batch  # type: ignore[misc]
        for reason, count in odd_entries.items():  # (counts and reasons only: addresses are personal data)
            log.warning("%d odd list entries: %s (%s)", count, reason, ODD_REASONS[reason])

    def add_unsubscribe(self, email: str, *, response_format: str | None = None) -> int | None:
        """Put ``email`` on the unsubscribe list.

        :return: the new entry's id, or None when the address was already listed (code 3): the
            wanted state holds, so a repeat is harmless. None also comes back when an earlier
            attempt of this same call added the address but its answer was lost (the retry then
            meets code 3): the address is listed either way, only its id is unknown.
        """
        try:
            return self.client.call(self._call(ADD, response_format, email=email.strip()), _new_id)
        except MailPartnerError as error:
            if error.code == ApiCode.ALREADY_LISTED:
                return None
            raise

    def delete_unsubscribe(self, unsubscribe_id: int, *, response_format: str | None = None) -> None:
        """Remove the entry ``unsubscribe_id`` (an id from the list).

        An unknown id raises :class:`MailPartnerApiError` with code 4, except when an earlier
        attempt of this same call may have deleted it before its answer was lost: the entry is
        gone either way.
        """
        entry_id = strict_int(unsubscribe_id)
        if entry_id is None or entry_id < 1:
            raise ValueError(f"unsubscribe_id must be a positive integer id from the list, not {unsubscribe_id!r}")
        try:
            self.client.call(self._call(DELETE, response_format, id=str(entry_id)), _nothing)
        except MailPartnerApiError as error:
            if error.code != ApiCode.ID_NOT_FOUND or not error.retries:
                raise
            self.log.info("Entry %d was already gone when a retry reached MailPartner", entry_id)

    def get_credits(self, *, response_format: str | None = None) -> Credits:
        """The account's remaining credit, from ``GET /v1/me``."""
        return self.client.call(self._call(ME, response_format), _credits)

    def test_connection(self) -> tuple[bool, str]:
        """One cheap read-only call (``GET /v1/me``); never raises, never shows the key."""
        try:
            credits = self.get_credits()
        except MailPartnerError as error:
            return False, error.message
        except Exception as error:  # the UI shows the text: keep it, but scrub it
            return False, self.scrub(f"{type(error).__name__}: {error}")
        return True, (
            f"Connected to MailPartner at {self.settings.base_url}: {credits.credit_mail} mail credits, "
            f"balance {credits.balance} {credits.currency}"
        )

    def _call(self, command: Command, response_format: str | None, **values: str) -> Call:
        return Call(command, self._format(response_format), values)

    def _format(self, response_format: str | None) -> ResponseFormat:
        if response_format is None:
            return self.settings.response_format
        chosen = response_format.strip().lower()
        if chosen not in RESPONSE_FORMATS:
            raise MailPartnerConfigError(
                f"Connection {self.mailpartner_conn_id!r}: response_format must be 'json' or 'xml', "
                f"not {response_format!r}",
                conn_id=self.mailpartner_conn_id,
            )
        return chosen


# What the hook makes of each command's trusted fields; a RecordError is reported by the client
# as an untrustworthy answer, with the HTTP status and the start of the body.


def _new_id(fields: dict[str, object]) -> int:
    return parse_int(fields.get("stopId"), "stopId")


def _nothing(fields: dict[str, object]) -> None:
    return None


def _credits(fields: dict[str, object]) -> Credits:
    user, credits = fields.get("user"), fields.get("credits")
    if not isinstance(credits, dict):
        raise RecordError("'credits' is missing or not an object")
    return Credits(
        credit_mail=parse_int(credits.get("creditMail"), "creditMail"),
        currency=parse_text(credits.get("currency"), "currency"),
        balance=parse_decimal(credits.get("balance"), "balance"),
        username=str(user["username"]) if isinstance(user, dict) and user.get("username") else None,
    )
