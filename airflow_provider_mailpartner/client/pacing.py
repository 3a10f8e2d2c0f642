"""Keeping bulk work under MailPartner's request limit (``commands.REQUESTS_PER_MINUTE`` from one IP).

Requests are spaced evenly rather than sent in bursts: any 60-second window then holds at most
the allowed number, whichever moment the server starts counting from, and threads sharing one
pacer together still stay under it.
"""

from __future__ import annotations

import threading
import time

MAX_REQUESTS_PER_MINUTE = 60_000  # one request a millisecond: beyond it, a setting is a typo
# A hair slower than the nominal spacing, so clock jitter never lets N + 1 requests into a window.
_SAFETY = 1.002


class RequestPacer:
    """Hands out evenly spaced send times to any number of threads.

    :param per_minute: the most requests any rolling minute may see.
    """

    def __init__(self, per_minute: float) -> None:
        if not 0 < per_minute <= MAX_REQUESTS_PER_MINUTE:
            raise ValueError(
                f"requests per minute must be above 0 and at most {MAX_REQUESTS_PER_MINUTE}, not {per_minute!r}"
            )
        self.per_minute = per_minute
        self._interval = 60.0 / per_minute * _SAFETY
        self._next = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(per_minute={self.per_minute:g})"

    def wait(self) -> None:
        """Block until this caller's turn; each call takes the next free slot."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)
