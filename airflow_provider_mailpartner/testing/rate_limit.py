"""MailPartner's rate limit: at most N requests in any rolling 60 seconds (2000 on the real service).

A sliding log of accepted request times, so ``Retry-After`` can say exactly when a slot frees.
Refused requests are not counted: a client that waits as told gets through.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class RollingWindowLimiter:
    """Admits at most ``per_minute`` requests per rolling window; ``None`` or ``0`` admits all.

    :param per_minute: the limit.
    :param window: the window length in seconds (60 for the real service).
    :param clock: the time source, :func:`time.monotonic` unless a test injects one.
    """

    def __init__(
        self,
        per_minute: int | None,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._accepted: deque[float] = deque()
        self._window = window
        self._clock = clock
        self._limit = self._check(per_minute)

    @staticmethod
    def _check(per_minute: int | None) -> int:
        if per_minute is None:
            return 0
        if per_minute < 0:
            raise ValueError("the rate limit must be None, 0 (off) or a positive number of requests")
        return per_minute

    @property
    def per_minute(self) -> int | None:
        """The limit, or ``None`` when off."""
        return self._limit or None

    @per_minute.setter
    def per_minute(self, value: int | None) -> None:
        with self._lock:
            self._limit = self._check(value)

    def acquire(self) -> int | None:
        """Count one request; ``None`` when admitted, else the ``Retry-After`` seconds (>= 1)."""
        with self._lock:
            if not self._limit:
                return None
            now = self._clock()
            horizon = now - self._window
            accepted = self._accepted
            while accepted and accepted[0] <= horizon:
                accepted.popleft()
            if len(accepted) < self._limit:
                accepted.append(now)
                return None
            # The oldest request that still counts leaves the window at accepted[-limit] + window.
            frees_at = accepted[-self._limit] + self._window
            return max(1, math.ceil(frees_at - now))

    def reset(self) -> None:
        """Forget every counted request."""
        with self._lock:
            self._accepted.clear()
