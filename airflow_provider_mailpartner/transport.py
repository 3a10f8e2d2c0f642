"""Sending one MailPartner command and deciding whether its answer can be trusted.

The client owns the ``requests.Session``, the retry loop (driven by :class:`RetryPolicy`), body
spooling, parsing and the mapping of every failure to one of the package's errors. Nothing here
lets the API key out: URLs are never logged with their query string, error texts pass through
the :class:`Redactor`, and no ``requests`` exception is ever chained under our errors (its text
and its ``request`` both carry the full URL).
"""

from __future__ import annotations

import logging
import operator
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import compress, islice
from typing import IO, NoReturn, TypeVar, cast

import requests
import urllib3

from airflow_provider_mailpartner.connection_settings import (
    ConnectionSettings,
    ResponseFormat,
)
from airflow_provider_mailpartner.envelope import Command, DocumentError, Envelope, Event, FieldSpec
from airflow_provider_mailpartner.exceptions import (
    AUTH_ERROR_CODES,
    MailPartnerApiError,
    MailPartnerAuthError,
    MailPartnerError,
    MailPartnerRateLimitError,
    MailPartnerResponseError,
    MailPartnerTransportError,
)
from airflow_provider_mailpartner.json_stream import json_events
from airflow_provider_mailpartner.records import RecordError, strict_int
from airflow_provider_mailpartner.redaction import Redactor
from airflow_provider_mailpartner.request_pacing import RequestPacer
from airflow_provider_mailpartner.retry_policy import RetryPolicy, parse_retry_after
from airflow_provider_mailpartner.xml_positional import xml_events, xml_fields

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
SMALL_ANSWER_LIMIT = 1 << 20  # every answer but the list is a few hundred bytes
SPOOL_IN_MEMORY = 4 << 20  # larger list bodies go to a temporary file, not to RAM
LIST_ANSWER_LIMIT = 2 << 30  # a million entries is ~80 MB; this only stops an endless body
ATTEMPT_TIMEOUTS = 30  # one attempt may take 30 x the connection's timeout in all (5 min by default)
# requests drops None-valued entries after merging, so these keys shut out the environment's proxies.
_NO_PROXY = cast("dict[str, str]", {"http": None, "https": None, "all": None})
EXCERPT_LENGTH = 160
EXCERPT_SCAN = 4096  # bytes scrubbed to make the excerpt: white space may shrink a long head to it
USER_AGENT = "airflow-provider-mailpartner"
POOL_SIZE = 32  # kept-alive connections per host; the add operator's worker threads share them

T = TypeVar("T")


@dataclass
class Answer:
    """An HTTP answer whose body has been read completely into a spool."""

    http_status: int
    content_type: str
    retry_after: str | None
    body: IO[bytes]

    def chunks(self) -> Iterator[bytes]:
        self.body.seek(0)
        while chunk := self.body.read(CHUNK_SIZE):
            yield chunk

    def head(self, size: int = 512) -> bytes:
        self.body.seek(0)
        return self.body.read(size)


class _Retryable(Exception):
    """A failure worth another attempt; carries the error to raise once attempts run out."""

    def __init__(self, final: MailPartnerError, retry_after: str | None = None) -> None:
        super().__init__(final.message)
        self.final = final
        self.retry_after = retry_after

    def given_up(self, retries: int, why: str | None = None) -> MailPartnerError:
        """The final error, saying how many retries were spent on it, and why no more were made."""
        final = self.final
        notes = [why] if why else []
        if retries:
            notes.append(f"gave up after {retries} {'retry' if retries == 1 else 'retries'}")
        message = f"{final.message} ({'; '.join(notes)})" if notes else final.message
        return type(final)(
            message, http_status=final.http_status, code=final.code, conn_id=final.conn_id, retries=retries
        )


class MailPartnerClient:
    """Talks to one MailPartner account, as configured by one Airflow connection."""

    def __init__(self, settings: ConnectionSettings, redactor: Redactor, pacer: RequestPacer | None = None) -> None:
        self.settings = settings
        self.redactor = redactor
        self.pacer = pacer
        self.policy = RetryPolicy(max_retries=settings.max_retries, backoff=settings.retry_backoff)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE)  # threads may share one hook
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # Plain http (loopback, or an explicit opt-in) must not travel through an environment
        # proxy: the key is in the URL. https may, since the proxy only sees a tunnel.
        self._proxies = _NO_PROXY if settings.base_url.startswith("http://") else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.settings.conn_id!r}, base_url={self.settings.base_url!r})"

    def call(
        self,
        command: Command,
        response_format: ResponseFormat,
        convert: Callable[[dict[str, object]], T],
        values: dict[str, str] | None = None,
    ) -> T:
        """Send a small command and return what ``convert`` makes of its trusted top-level fields.

        ``convert`` raises :class:`RecordError` for a field it cannot trust: the answer is then
        reported like any untrustworthy one, with its HTTP status and the start of its body.
        """

        def read(command: Command, response_format: ResponseFormat, answer: Answer) -> T:
            fields = self._read_small(command, response_format, answer)
            try:
                return convert(fields)
            except RecordError as exc:
                raise self._response_error(answer, str(exc)) from None

        return self._with_retries(command, response_format, values or {}, read, SMALL_ANSWER_LIMIT)

    def _read_small(self, command: Command, response_format: ResponseFormat, answer: Answer) -> dict[str, object]:
        body = answer.head(SMALL_ANSWER_LIMIT)
        fields = self._decode(answer, lambda: _small_fields(body, command.fields, response_format))
        self._check_envelope(answer, fields)
        return fields

    @contextmanager
    def stream(
        self, command: Command, response_format: ResponseFormat, convert: Callable[[object], T]
    ) -> Iterator[Iterator[T]]:
        """Fetch a list command and yield an iterator over its entries, each passed through ``convert``.

        The whole body is downloaded (with retries) before the first entry is handed out, so a
        retry can never repeat entries; ``nbData``, and that no two entries share the command's
        ``key_field``, are checked when the iterator is exhausted.
        ``convert`` raises :class:`RecordError` for an entry it cannot trust.
        """
        header, answer = self._with_retries(command, response_format, {}, self._read_header, LIST_ANSWER_LIMIT)
        try:
            yield self._entries(command, response_format, answer, header, convert)
        finally:
            answer.body.close()

    def _read_header(
        self, command: Command, response_format: ResponseFormat, answer: Answer
    ) -> tuple[dict[str, object], Answer]:
        def header() -> dict[str, object]:
            fields: dict[str, object] = {}
            for kind, name, value in _events(answer, command, response_format):
                if kind == "field":
                    fields[name] = value
                elif kind == "data" and {"success", "code", "nbData"} <= fields.keys():
                    break  # the usual order: the header is complete before the data starts
            return fields

        fields = self._decode(answer, header)
        self._check_envelope(answer, fields)
        expected = strict_int(fields.get("nbData"))
        if expected is None or expected < 0:
            raise self._response_error(answer, f"nbData is missing or not a count: {self._shown(fields.get('nbData'))}")
        return {**fields, "nbData": expected}, answer

    def _entries(
        self,
        command: Command,
        response_format: ResponseFormat,
        answer: Answer,
        header: dict[str, object],
        convert: Callable[[object], T],
    ) -> Iterator[T]:
        """Each entry, converted; at the end, the count checked against ``nbData`` and the keys for repeats.

        The document must be exactly one envelope with one list: a missing, null or repeated
        ``data``, or a field given twice (a second ``success`` after the data, say), would
        otherwise read as a short list, which for a suppression job means "nobody unsubscribed".
        """
        count = 0
        key_field = command.key_field
        last_key, rising = 0, True  # keys are positive; while they rise, none can repeat
        seen: set[str] = set()
        started = time.monotonic()
        try:
            for kind, name, value in _events(answer, command, response_format):
                if kind == "item" or kind == "items":
                    batch: list[object] = value if kind == "items" else [value]  # type: ignore[assignment]
                    try:
                        yield from map(convert, batch)  # no Python loop per entry: lists run to millions
                    except RecordError as exc:
                        number = count + _position_refused(batch, convert)
                        raise self._response_error(answer, f"entry {number}: {exc}") from None
                    if key_field and rising:
                        if kind == "item":  # XML: an event per entry, so the cheapest check
                            key = int(value[key_field])  # type: ignore[index]  # (convert accepted it)
                            rising = key > last_key
                        else:
                            keys = _keys(batch, key_field)
                            rising = keys[0] > last_key and all(map(operator.lt, keys, islice(keys, 1, None)))
                            key = keys[-1]
                        last_key = key
                    count += len(batch)
                elif kind == "field" and name == command.stream_field:
                    raise self._response_error(answer, f"{name!r} is not a list: {self._shown(value)}")
                elif name in seen:
                    raise self._response_error(answer, f"the answer gives {name!r} twice")
                else:
                    seen.add(name)
        except DocumentError as exc:
            raise self._response_error(answer, str(exc)) from None
        if command.stream_field not in seen:
            raise self._response_error(answer, f"the answer has no {command.stream_field!r} list")
        if count != header["nbData"]:
            raise self._response_error(
                answer, f"nbData says {header['nbData']} entries but the answer holds {count}: truncated or corrupt"
            )
        # Keys that rose all along (the sandbox's id order) cannot repeat, and cost no memory to check;
        # the API does not document its order: in any other, the keys are read again from the spool.
        repeated = None
        if not rising and key_field:
            repeated = _repeated_key(_events(answer, command, response_format), key_field)
        if repeated is not None:
            # An id is the handle delete takes and the key a mirror table upserts on: with one id
            # given twice, one of its entries would be lost downstream.
            key, times = repeated
            raise self._response_error(
                answer,
                f"{key_field} {key} is given {times} times (entries must have distinct {key_field}s)",
            )
        log.info(
            "Read %d entries from MailPartner's %s answer (connection %r) in %.2f s",
            count,
            command.path,
            self._conn_id,
            time.monotonic() - started,
        )

    def _with_retries(
        self,
        command: Command,
        response_format: ResponseFormat,
        values: dict[str, str],
        read: Callable[[Command, ResponseFormat, Answer], T],
        body_limit: int,
    ) -> T:
        """The one retry loop: transport failures, retryable statuses and retryable codes."""
        retry_number = 0
        while True:
            try:
                return self._attempt(command, response_format, values, read, body_limit)
            except _Retryable as failure:
                delay = self.policy.delay(retry_number, failure.retry_after)
                if delay is None:
                    raise failure.given_up(retry_number, self._why_not_waiting(retry_number, failure)) from None
                retry_number += 1
                log.warning(
                    "%s /v1/%s failed (%s); retry %d of %d in %.1f s",
                    command.method,
                    command.path,
                    failure.final.message,
                    retry_number,
                    self.policy.max_retries,
                    delay,
                )
                time.sleep(delay)
            except MailPartnerError as error:
                # A repeat may meet the consequence of an attempt whose answer was lost (code 3
                # on add, code 4 on delete): callers read .retries to tell.
                error.retries = retry_number
                raise

    def _attempt(
        self,
        command: Command,
        response_format: ResponseFormat,
        values: dict[str, str],
        read: Callable[[Command, ResponseFormat, Answer], T],
        body_limit: int,
    ) -> T:
        if self.pacer is not None:
            self.pacer.wait()  # every attempt counts against the limit, retries included
        started = time.monotonic()
        answer = self._exchange(command, response_format, values, body_limit)
        try:
            self._raise_for_status(answer)
            result = read(command, response_format, answer)
        except BaseException:
            answer.body.close()
            raise
        log.debug(
            "%s /v1/%s -> HTTP %s in %.2f s",
            command.method,
            command.path,
            answer.http_status,
            time.monotonic() - started,
        )
        return result

    def _why_not_waiting(self, retry_number: int, failure: _Retryable) -> str | None:
        asked = parse_retry_after(failure.retry_after)
        if retry_number < self.policy.max_retries and asked is not None and asked > self.policy.retry_after_max:
            return (
                f"MailPartner asked to wait {asked:.0f} s (Retry-After), longer than the "
                f"{self.policy.retry_after_max:.0f} s a task waits"
            )
        return None

    def _exchange(
        self,
        command: Command,
        response_format: ResponseFormat,
        values: dict[str, str],
        body_limit: int,
    ) -> Answer:
        """One HTTP round trip, the body read to the end; transport failures become _Retryable."""
        url = f"{self.settings.base_url}/v1/{command.path}"
        payload = {"apiKey": self.settings.api_key, "_format": response_format, **values}
        timeout = (self.settings.timeout, self.settings.timeout)
        failure: str | None = None
        tls_failure: str | None = None
        too_large = False
        deadline = time.monotonic() + self.settings.timeout * ATTEMPT_TIMEOUTS
        # Closed below on failure, else by whoever consumes the Answer.
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            with self.session.request(
                command.method,
                url,
                params=payload if command.method == "GET" else None,
                json=payload if command.method == "POST" else None,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
                proxies=self._proxies,
            ) as response:
                size = 0
                # read1 returns as soon as any bytes arrive (iter_content waits for a whole chunk),
                # so the deadline below is checked even while a server trickles.
                while chunk := response.raw.read1(CHUNK_SIZE, decode_content=True):
                    size += len(chunk)
                    if size > body_limit:
                        too_large = True
                        break
                    if time.monotonic() > deadline:
                        # The read timeout bounds each pause; this bounds a server that trickles.
                        failure = f"the answer took longer than {self.settings.timeout * ATTEMPT_TIMEOUTS:g} s"
                        break
                    spool.write(chunk)
                answer = Answer(
                    response.status_code,
                    response.headers.get("Content-Type", ""),
                    response.headers.get("Retry-After"),
                    spool,
                )
                location = response.headers.get("Location", "")
        except requests.exceptions.SSLError as exc:
            tls_failure = self._describe_tls(exc)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            failure = self._describe(exc)
        if tls_failure is not None:  # a handshake that failed once fails again: not retried
            spool.close()
            raise MailPartnerTransportError(self._prefix(command) + tls_failure, conn_id=self._conn_id)
        if failure is not None:
            spool.close()
            # Raised outside the except block: the requests exception (full URL) must not be chained.
            raise _Retryable(MailPartnerTransportError(self._prefix(command) + failure, conn_id=self._conn_id))
        if too_large:
            spool.close()
            raise MailPartnerResponseError(
                f"{self._prefix(command)}answer larger than {body_limit} bytes, far beyond what this command sends",
                http_status=answer.http_status,
                conn_id=self._conn_id,
            )
        if 300 <= answer.http_status < 400:
            spool.close()
            raise MailPartnerResponseError(
                f"{self._prefix(command)}HTTP {answer.http_status} redirect to "
                f"{self.redactor.scrub(location.split('?')[0])[:120]!r} not followed: the API key travels in "
                "the URL; point the connection's host at the final address",
                http_status=answer.http_status,
                conn_id=self._conn_id,
            )
        return answer

    def _describe(self, exc: requests.RequestException | urllib3.exceptions.HTTPError) -> str:
        """A short account of a transport failure, without the URL requests puts in every text."""
        if isinstance(exc, requests.ConnectTimeout):
            return f"could not connect within {self.settings.timeout:g} s"
        if isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError)):
            return f"no answer within {self.settings.timeout:g} s"
        if isinstance(exc, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError)):
            return "the connection broke before the whole answer arrived (truncated body)"
        reason: object = exc.args[0] if exc.args else exc
        reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the real cause
        text = self.redactor.scrub(str(reason))  # scrubbed before it is cut: no fragment survives
        if isinstance(reason, Exception):
            text = text.split(": ", 1)[-1]
        return f"{type(exc).__name__}: {text[:200]}"

    def _describe_tls(self, exc: requests.exceptions.SSLError) -> str:
        """A TLS handshake failure, with what to do about it: the commonest is https to a plain-http server."""
        detail = self._describe(exc)
        if "WRONG_VERSION_NUMBER" in detail or "wrong version number" in detail:
            return (
                f"the server at {self.settings.base_url} does not speak TLS (https). If it serves plain http, "
                "write http://... as the connection's host (allowed on loopback, or with allow_insecure_http); "
                f"not retried ({detail})"
            )
        return f"the TLS handshake with {self.settings.base_url} failed; not retried ({detail})"

    def _raise_for_status(self, answer: Answer) -> None:
        """Classify a non-2xx answer; its envelope, when it carries one, is more precise than the status."""
        status = answer.http_status
        if 200 <= status < 300:
            return
        fields = _envelope_if_any(answer)
        envelope = Envelope.from_fields(fields) if fields else None
        if envelope is not None and envelope.is_error:
            self._raise_for_envelope(envelope, answer)
        if self.policy.retryable_status(status):
            if status == 429:
                raise _Retryable(
                    MailPartnerRateLimitError(
                        f"{self._prefix()}rate limited (HTTP 429); MailPartner allows 2000 requests per minute",
                        http_status=status,
                        code=429,
                        conn_id=self._conn_id,
                    ),
                    answer.retry_after,
                )
            raise _Retryable(
                MailPartnerApiError(
                    f"{self._prefix()}HTTP {status}: {self._excerpt(answer)}", http_status=status, conn_id=self._conn_id
                ),
                answer.retry_after,
            )
        raise self._response_error(answer, f"unexpected HTTP {status}")

    def _check_envelope(self, answer: Answer, fields: dict[str, object]) -> None:
        envelope = Envelope.from_fields(fields)
        if envelope.ok:
            return
        if envelope.is_error:
            self._raise_for_envelope(envelope, answer)
        if envelope.success is None:
            problem = "'success' is missing or not a boolean"
        elif envelope.code is None:
            problem = "'code' is missing or not an integer"
        else:
            problem = f"success={str(envelope.success).lower()} contradicts code={envelope.code}"
        raise self._response_error(answer, problem)

    def _raise_for_envelope(self, envelope: Envelope, answer: Answer) -> NoReturn:
        """An error envelope: auth codes at once, codes 429/500 (or a 429/5xx status) retried."""
        error = self._api_error(envelope, answer.http_status)
        if isinstance(error, MailPartnerAuthError):
            raise error
        if self.policy.retryable_code(error.code or 0) or self.policy.retryable_status(answer.http_status):
            raise _Retryable(error, answer.retry_after)
        raise error

    def _api_error(self, envelope: Envelope, http_status: int) -> MailPartnerError:
        code = envelope.code
        detail = f"code {code}" + (f": {self.redactor.scrub(envelope.message)[:200]}" if envelope.message else "")
        if http_status != 200:
            detail += f", HTTP {http_status}"
        kind: type[MailPartnerError] = MailPartnerApiError
        text = f"MailPartner answered {detail}"
        if code in AUTH_ERROR_CODES:
            kind = MailPartnerAuthError
            text = (
                f"MailPartner refused the credentials ({detail}); "
                "check the API key in the connection's password and the account's API access"
            )
        elif code == 429 or http_status == 429:
            kind = MailPartnerRateLimitError
            text = f"rate limited ({detail}); MailPartner allows 2000 requests per minute"
        return kind(f"{self._prefix()}{text}", http_status=http_status, code=code, conn_id=self._conn_id)

    def _decode(self, answer: Answer, parse: Callable[[], dict[str, object]]) -> dict[str, object]:
        """The answer's top-level fields, or a response error saying why there are none."""
        try:
            return parse()
        except DocumentError as exc:
            problem = str(exc)
        # An error may come in the other format than the one asked for: read it if it does.
        fields = _envelope_if_any(answer)
        if fields is not None and Envelope.from_fields(fields).is_error:
            return fields
        if _looks_like_html(answer):
            problem = "answered with an HTML page instead of the API envelope"
        raise self._response_error(answer, problem)

    def _response_error(self, answer: Answer, problem: str) -> MailPartnerResponseError:
        return MailPartnerResponseError(
            f"{self._prefix()}untrustworthy answer (HTTP {answer.http_status}): {self.redactor.scrub(problem)}; "
            f"body starts {self._excerpt(answer)}",
            http_status=answer.http_status,
            conn_id=self._conn_id,
        )

    def _excerpt(self, answer: Answer) -> str:
        """The start of the body, scrubbed before it is cut so that no part of the key survives."""
        head = answer.head(EXCERPT_SCAN)
        text = self.redactor.scrub_prefix(head.decode("utf-8", "replace"), complete=len(head) < EXCERPT_SCAN)
        text = " ".join(text.split())
        return repr(text[:EXCERPT_LENGTH] + ("..." if len(text) > EXCERPT_LENGTH else ""))

    def _shown(self, value: object) -> str:
        """A value from the answer, fit to quote in an error: scrubbed first, then cut."""
        return repr(self.redactor.scrub(str(value))[:40])

    def _prefix(self, command: Command | None = None) -> str:
        where = f" {command.method} /v1/{command.path}" if command else ""
        return f"MailPartner connection {self._conn_id!r}{where}: "

    @property
    def _conn_id(self) -> str:
        return self.settings.conn_id


def _events(answer: Answer, command: Command, response_format: ResponseFormat) -> Iterator[Event]:
    if response_format == "xml":
        return xml_events(answer.chunks(), command.fields, command.stream_field)
    return json_events(answer.chunks(), command.stream_field)


def _small_fields(body: bytes, fields: Sequence[FieldSpec], response_format: ResponseFormat) -> dict[str, object]:
    if response_format == "xml":
        return xml_fields(body, fields)
    return {name: value for kind, name, value in json_events([body], None) if kind == "field"}


def _envelope_if_any(answer: Answer) -> dict[str, object] | None:
    """The error envelope of a non-2xx answer, in whichever format it came, when it carries one."""
    body = answer.head(SMALL_ANSWER_LIMIT)
    formats: tuple[ResponseFormat, ...] = ("json", "xml")
    for response_format in formats:
        try:
            fields = _small_fields(body, (), response_format)
        except DocumentError:
            continue
        if "success" in fields:
            return fields
    return None


def _looks_like_html(answer: Answer) -> bool:
    if "html" in answer.content_type.lower():
        return True
    start = answer.head(64).lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _keys(batch: list[object], field: str) -> list[int]:
    """The keys of entries that ``convert`` accepted (each an int or ASCII digits), read by int() in C."""
    return list(map(int, map(operator.itemgetter(field), cast("list[dict[str, int | str]]", batch))))


def _repeated_key(events: Iterator[Event], field: str) -> tuple[int, int] | None:
    """A key the list gives more than once, and how many times; None when every key is distinct."""
    keys: list[int] = []
    for kind, _, value in events:
        if kind == "item" or kind == "items":
            keys.extend(_keys(value if kind == "items" else [value], field))  # type: ignore[arg-type]
    keys.sort()
    repeated = next(compress(keys, map(operator.eq, keys, islice(keys, 1, None))), None)
    return None if repeated is None else (repeated, keys.count(repeated))


def _position_refused(batch: list[object], convert: Callable[[object], object]) -> int:
    """The 1-based position in ``batch`` of the first entry ``convert`` refuses (it is deterministic)."""
    for number, element in enumerate(batch, 1):
        try:
            convert(element)
        except RecordError:
            return number
    return len(batch)
