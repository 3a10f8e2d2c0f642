"""When to try a request again, and how long to wait first: the retry policy as a value.

Why repeating each request is safe:
- ``GET unsubscribe/list`` and ``GET me`` only read.
- ``POST unsubscribe/add``: a repeat of an add that did land answers code 3 (already listed),
  which the hook treats as done, so the list ends in the same state.
- ``GET unsubscribe/delete``: a repeat of a delete that did land answers code 4 (id not found);
  the hook reports it as such, and the entry is gone either way.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_SECONDS = re.compile(r"[0-9]{1,9}")
RETRYABLE_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRYABLE_API_CODES = frozenset({429, 500})


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
        return code in RETRYABLE_API_CODES

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
