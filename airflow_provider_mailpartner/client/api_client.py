"""The MailPartner client of one connection: each call sent, retried and checked until it can be trusted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TypeVar

import requests

from airflow_provider_mailpartner.client.answer_checks import SMALL_ANSWER_LIMIT, AnswerChecks
from airflow_provider_mailpartner.client.commands import Call
from airflow_provider_mailpartner.client.exchange import Answer, Exchange
from airflow_provider_mailpartner.client.formats import small_fields
from airflow_provider_mailpartner.client.list_reading import ListReading
from airflow_provider_mailpartner.client.pacing import RequestPacer
from airflow_provider_mailpartner.client.redaction import Redactor
from airflow_provider_mailpartner.client.retry import RetryPolicy, with_retries
from airflow_provider_mailpartner.connection_settings import ConnectionSettings
from airflow_provider_mailpartner.records import RecordError

log = logging.getLogger(__name__)

LIST_ANSWER_LIMIT = 2 << 30  # a million entries is ~80 MB; this only stops an endless body
T = TypeVar("T")


class MailPartnerClient:
    """Talks to one MailPartner account, as configured by one Airflow connection."""

    def __init__(self, settings: ConnectionSettings, redactor: Redactor, pacer: RequestPacer | None = None) -> None:
        self.settings = settings
        self.redactor = redactor
        self.pacer = pacer
        self.policy = RetryPolicy(max_retries=settings.max_retries, backoff=settings.retry_backoff)
        self.exchange = Exchange(settings, redactor)
        self.checks = AnswerChecks(settings.conn_id, redactor, self.policy)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.settings.conn_id!r}, base_url={self.settings.base_url!r})"

    @property
    def session(self) -> requests.Session:
        """The one ``requests.Session`` every call goes through."""
        return self.exchange.session

    def call(self, call: Call, convert: Callable[[dict[str, object]], T]) -> T:
        """Send a small command and return what ``convert`` makes of its trusted top-level fields.

        ``convert`` raises :class:`RecordError` for a field it cannot trust: the answer is then
        reported like any untrustworthy one, with its HTTP status and the start of its body.
        """

        def read(answer: Answer) -> T:
            body = answer.head(SMALL_ANSWER_LIMIT)
            fields = self.checks.decode(answer, lambda: small_fields(body, call.command.fields, call.response_format))
            self.checks.check_envelope(answer, fields)
            try:
                return convert(fields)
            except RecordError as exc:
                raise self.checks.response_error(answer, str(exc)) from None

        return with_retries(self.policy, call.command, lambda: self._attempt(call, read, SMALL_ANSWER_LIMIT))

    def stream(self, call: Call, convert: Callable[[object], T]) -> Iterator[list[T]]:
        """Fetch a list command and return an iterator over its entries, each passed through ``convert``,
        in batches (the hook flattens them: no Python frame per entry between the reader and a writer).

        The whole body is downloaded (with retries) before the first entry is handed out, so a
        retry can never repeat entries; ``nbData``, and that no two entries share the command's
        ``key_field``, are checked when the iterator is exhausted.
        ``convert`` raises :class:`RecordError` for an entry it cannot trust.
        """

        def read(answer: Answer) -> tuple[ListReading, int]:
            reading = ListReading(call, answer, self.checks)
            return reading, reading.expected_count()

        attempt = partial(self._attempt, call, read, LIST_ANSWER_LIMIT)
        reading, expected = with_retries(self.policy, call.command, attempt)
        return reading.batches(expected, convert)

    def _attempt(self, call: Call, read: Callable[[Answer], T], body_limit: int) -> T:
        """One attempt: paced, sent, its status checked and its answer read (or closed)."""
        if self.pacer is not None:
            self.pacer.wait()  # every attempt counts against the limit, retries included
        started = time.monotonic()
        answer = self.exchange.send(call, body_limit)
        try:
            self.checks.raise_for_status(call, answer)
            result = read(answer)
        except BaseException:
            answer.body.close()
            raise
        log.debug("%s -> HTTP %s in %.2f s", call.command.label, answer.http_status, time.monotonic() - started)
        return result
