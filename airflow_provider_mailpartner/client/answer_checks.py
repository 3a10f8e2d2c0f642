"""Whether an answer can be trusted: its HTTP status, then its envelope; and the errors that say why not.

Every error text is scrubbed of the API key before it is cut, and quotes at most a short
excerpt of the body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from airflow_provider_mailpartner.client.commands import AUTH_CODES, REQUESTS_PER_MINUTE, ApiCode, Call
from airflow_provider_mailpartner.client.envelope import DocumentError, Envelope
from airflow_provider_mailpartner.client.exchange import Answer
from airflow_provider_mailpartner.client.formats import small_fields
from airflow_provider_mailpartner.client.redaction import Redactor
from airflow_provider_mailpartner.client.retry import Retryable, RetryPolicy
from airflow_provider_mailpartner.exceptions import (
    MailPartnerApiError,
    MailPartnerAuthError,
    MailPartnerError,
    MailPartnerRateLimitError,
    MailPartnerResponseError,
)
from airflow_provider_mailpartner.personal_data import mask_addresses

SMALL_ANSWER_LIMIT = 1 << 20  # every answer but the list is a few hundred bytes
EXCERPT_LENGTH = 160
PROBLEM_LENGTH = 300
EXCERPT_SCAN = 4096  # bytes scrubbed to make the excerpt: white space may shrink a long head to it
_RATE_LIMIT_NOTE = f"MailPartner allows {REQUESTS_PER_MINUTE} requests per minute"


class AnswerChecks:
    """The checks every answer of one connection goes through, and its error texts."""

    def __init__(self, conn_id: str, redactor: Redactor, policy: RetryPolicy) -> None:
        self.conn_id = conn_id
        self.redactor = redactor
        self.policy = policy

    def raise_for_status(self, call: Call, answer: Answer) -> None:
        """Classify a non-2xx answer; its envelope, when it carries one, is more precise than the status."""
        status = answer.http_status
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise self._redirect_error(call, answer)
        fields = envelope_if_any(answer)
        envelope = Envelope.from_fields(fields) if fields else None
        if envelope is not None and envelope.is_error:
            self.raise_for_envelope(envelope, answer)
        if status == ApiCode.TOO_MANY_REQUESTS:
            text = f"rate limited (HTTP 429); {_RATE_LIMIT_NOTE}"
            raise Retryable(self._api_error(MailPartnerRateLimitError, text, status, 429), answer.retry_after)
        if self.policy.retryable_status(status):
            text = f"HTTP {status}: {self.excerpt(answer)}"
            raise Retryable(self._api_error(MailPartnerApiError, text, status), answer.retry_after)
        raise self.response_error(answer, f"unexpected HTTP {status}")

    def check_envelope(self, answer: Answer, fields: dict[str, object]) -> None:
        """Trust an answer whose ``success`` is true and ``code`` 200; raise the error it carries otherwise."""
        envelope = Envelope.from_fields(fields)
        if envelope.ok:
            return
        if envelope.is_error:
            self.raise_for_envelope(envelope, answer)
        if envelope.success is None:
            problem = "'success' is missing or not a boolean"
        elif envelope.code is None:
            problem = "'code' is missing or not an integer"
        else:
            problem = f"success={str(envelope.success).lower()} contradicts code={envelope.code}"
        raise self.response_error(answer, problem)

    def raise_for_envelope(self, envelope: Envelope, answer: Answer) -> NoReturn:
        """An error envelope: auth codes at once, codes 429/500 (or a 429/5xx status) retried."""
        error = self._envelope_error(envelope, answer.http_status)
        if isinstance(error, MailPartnerAuthError):
            raise error
        if self.policy.retryable_code(error.code or 0) or self.policy.retryable_status(answer.http_status):
            raise Retryable(error, answer.retry_after)
        raise error

    def decode(self, answer: Answer, parse: Callable[[], dict[str, object]]) -> dict[str, object]:
        """The answer's top-level fields, or a response error saying why there are none."""
        try:
            return parse()
        except DocumentError as exc:
            problem = str(exc)
        # An error may come in the other format than the one asked for: read it if it does.
        fields = envelope_if_any(answer)
        if fields is not None and Envelope.from_fields(fields).is_error:
            return fields
        if _looks_like_html(answer):
            problem = "answered with an HTML page instead of the API envelope"
        raise self.response_error(answer, problem)

    def response_error(self, answer: Answer, problem: str) -> MailPartnerResponseError:
        return MailPartnerResponseError(
            f"{self.prefix()}untrustworthy answer (HTTP {answer.http_status}): {self._scrubbed(problem)}; "
            f"body starts {self.excerpt(answer)}",
            http_status=answer.http_status,
            conn_id=self.conn_id,
        )

    def excerpt(self, answer: Answer) -> str:
        """The start of the body, scrubbed before it is cut so that no part of the key survives."""
        head = answer.head(EXCERPT_SCAN)
        text = self.redactor.scrub_prefix(head.decode("utf-8", "replace"), complete=len(head) < EXCERPT_SCAN)
        text = " ".join(mask_addresses(text).split())  # a list answer holds subscribers' addresses
        return repr(text[:EXCERPT_LENGTH] + ("..." if len(text) > EXCERPT_LENGTH else ""))

    def _scrubbed(self, problem: str) -> str:
        """A reader's account of the problem, scrubbed before it is cut: it may quote the answer."""
        text = mask_addresses(self.redactor.scrub(problem))
        return text if len(text) <= PROBLEM_LENGTH else text[:PROBLEM_LENGTH] + "..."

    def shown(self, value: object) -> str:
        """A value from the answer, fit to quote in an error: scrubbed first, then cut."""
        return repr(mask_addresses(self.redactor.scrub(str(value)))[:40])

    def prefix(self, call: Call | None = None) -> str:
        where = f" {call.command.label}" if call else ""
        return f"MailPartner connection {self.conn_id!r}{where}: "

    def _envelope_error(self, envelope: Envelope, http_status: int) -> MailPartnerError:
        code = envelope.code
        message = mask_addresses(self.redactor.scrub(envelope.message)) if envelope.message else ""
        detail = f"code {code}" + (f": {message[:200]}" if message else "")
        if http_status != 200:
            detail += f", HTTP {http_status}"
        if code in AUTH_CODES:
            text = (
                f"MailPartner refused the credentials ({detail}); "
                "check the API key in the connection's password and the account's API access"
            )
            return self._api_error(MailPartnerAuthError, text, http_status, code)
        if ApiCode.TOO_MANY_REQUESTS in (code, http_status):
            text = f"rate limited ({detail}); {_RATE_LIMIT_NOTE}"
            return self._api_error(MailPartnerRateLimitError, text, http_status, code)
        return self._api_error(MailPartnerApiError, f"MailPartner answered {detail}", http_status, code)

    def _api_error(
        self, kind: type[MailPartnerError], text: str, http_status: int, code: int | None = None
    ) -> MailPartnerError:
        return kind(f"{self.prefix()}{text}", http_status=http_status, code=code, conn_id=self.conn_id)

    def _redirect_error(self, call: Call, answer: Answer) -> MailPartnerResponseError:
        target = self.redactor.scrub(answer.location.split("?")[0])[:120]
        return MailPartnerResponseError(
            f"{self.prefix(call)}HTTP {answer.http_status} redirect to {target!r} not followed: the API key "
            "travels in the URL; point the connection's host at the final address",
            http_status=answer.http_status,
            conn_id=self.conn_id,
        )


def envelope_if_any(answer: Answer) -> dict[str, object] | None:
    """The error envelope of a non-2xx answer, in whichever format it came, when it carries one."""
    body = answer.head(SMALL_ANSWER_LIMIT)
    for response_format in ("json", "xml"):
        try:
            fields = small_fields(body, (), response_format)
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
