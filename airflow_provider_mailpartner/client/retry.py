"""When to try a request again, and how long to wait first: the retry policy as a value.

Why repeating each request is safe:
- ``GET unsubscribe/list`` and ``GET me`` only read.
- ``POST unsubscribe/add``: a repeat of an add that did land answers code 3 (already listed),
  which the hook treats as done, so the list ends in the same state.
- ``GET unsubscribe/delete``: a repeat of a delete that did land answers code 4 (id not found);
  the hook reports it as such, and the entry is gone either way.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from airflow_provider_mailpartner.client.commands import RETRYABLE_CODES, Command
from airflow_provider_mailpartner.exceptions import MailPartnerError

log = logging.getLogger(__name__)

_SECONDS = re.compile(r"[0-9]{1,9}")
RETRYABLE_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded, honouring ``Retry-After`` up to a cap.

    :param max_retries: retries after the first attempt (0 disables retrying).
    :param backoff: base delay in seconds; attempt ``n`` waits about ``backoff * 2**n``.
    :param backoff_max: no computed delay exceeds this.
    :param retry_after_max: a ``Retry-After`` longer than this is not waited for: the request
        fails at once rather than holding a worker slot for minutes.
    """

    max_retries: int
    backoff: float
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def retryable_status(self, http_status: int) -> bool:
        return http_status in RETRYABLE_HTTP_STATUSES

    def retryable_code(self, code: int) -> bool:
        return code in RETRYABLE_CODES

    def delay(self, retry_number: int, retry_after: str | None = None) -> float | None:
        """Seconds to wait before retry ``retry_number`` (0-based), or None when none is left.

        Jitter is "equal jitter": half the exponential step is kept, the other half is random,
        so clients that failed together do not come back together, yet never retry at once.
        """
        if retry_number >= self.max_retries:
            return None
        step = min(self.backoff_max, self.backoff * (2 ** min(retry_number, 32)))
        wait: float = step / 2 + self.rng.uniform(0, step / 2)
        asked = parse_retry_after(retry_after)
        if asked is not None:
            if asked > self.retry_after_max:
                return None
            wait = max(wait, asked)
        return wait


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date; None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class Retryable(Exception):
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


def with_retries(policy: RetryPolicy, command: Command, attempt: Callable[[], T]) -> T:
    """The one retry loop: ``attempt`` raises :class:`Retryable` for what may heal by waiting."""
    retry_number = 0
    while True:
        try:
            return attempt()
        except Retryable as failure:
            delay = policy.delay(retry_number, failure.retry_after)
            if delay is None:
                raise failure.given_up(retry_number, _why_not_waiting(policy, retry_number, failure)) from None
            retry_number += 1
            log.warning(
                "%s failed (%s); retry %d of %d in %.1f s",
                command.label,
                failure.final.message,
                retry_number,
                policy.max_retries,
                delay,
            )
            time.sleep(delay)
        except MailPartnerError as error:
            # A repeat may meet the consequence of an attempt whose answer was lost (code 3 on
            # add, code 4 on delete): callers read .retries to tell.
            error.retries = retry_number
            raise


def _why_not_waiting(policy: RetryPolicy, retry_number: int, failure: Retryable) -> str | None:
    asked = parse_retry_after(failure.retry_after)
    if retry_number < policy.max_retries and asked is not None and asked > policy.retry_after_max:
        return (
            f"MailPartner asked to wait {asked:.0f} s (Retry-After), longer than the "
            f"{policy.retry_after_max:.0f} s a task waits"
        )
    return None
