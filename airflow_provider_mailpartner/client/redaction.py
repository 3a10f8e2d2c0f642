"""Keeping the API key out of every text the package or its libraries print.

MailPartner takes the key in the query string of GET requests, so it sits in URLs: in
``requests`` exception texts, in urllib3's DEBUG request lines, in anything that logs a URL.
Airflow masks the raw password of a connection, but not its URL-encoded copies, so this module
scrubs every encoding the key can take on the wire and registers those encodings with Airflow's
masker as well.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

REDACTED = "***"

# urllib3 logs "GET /v1/...?apiKey=... HTTP/1.1" at DEBUG on this logger, in every process that
# uses the hook, task logs included.
_URLLIB3_LOGGER = "urllib3.connectionpool"


def secret_forms(secret: str) -> list[str]:
    """Every spelling of ``secret`` that can reach a URL, a request body or a log line."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote_plus(secret, safe="/"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        # PHP's json_encode escapes "/" by default.
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        json.dumps(secret, ensure_ascii=False)[1:-1].replace("/", "\\/"),
        # An XML answer echoing the key escapes & < > and quotes.
        escape(secret),
        escape(secret, {'"': "&quot;", "'": "&apos;"}),
    }
    return sorted((form for form in forms if form), key=len, reverse=True)


class Redactor:
    """Replaces a secret, in any of its encodings, with ``***``."""

    def __init__(self, secret: str) -> None:
        forms = secret_forms(secret)
        # Case-insensitive: percent-escapes are case-insensitive (%2F == %2f) and over-masking
        # a case variant of the key costs nothing.
        self._pattern = re.compile("|".join(map(re.escape, forms)), re.IGNORECASE) if forms else None
        self.forms = tuple(forms)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{len(self.forms)} forms>)"

    def scrub(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def scrub_prefix(self, text: str, *, complete: bool) -> str:
        """Scrub the start of a longer text: its tail may hold a cut-off key no pattern matches.

        :param complete: the text is the whole thing, not a prefix; nothing needs trimming.
        """
        scrubbed = self.scrub(text)
        if complete or not self.forms:
            return scrubbed
        return scrubbed[: max(0, len(scrubbed) - len(self.forms[0]))]


class _ScrubbingFilter(logging.Filter):
    """Rewrites records of one logger so that no registered secret survives formatting."""

    def __init__(self) -> None:
        super().__init__()
        self._redactors: dict[tuple[str, ...], Redactor] = {}
        self._lock = threading.Lock()

    def add(self, redactor: Redactor) -> None:
        with self._lock:
            self._redactors.setdefault(redactor.forms, redactor)

    def filter(self, record: logging.LogRecord) -> bool:
        redactors = list(self._redactors.values())
        if not redactors:
            return True
        message = record.getMessage()
        scrubbed = message
        for redactor in redactors:
            scrubbed = redactor.scrub(scrubbed)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_urllib3_filter = _ScrubbingFilter()
logging.getLogger(_URLLIB3_LOGGER).addFilter(_urllib3_filter)


def register_secret(secret: str) -> Redactor:
    """Make ``secret`` unprintable: Airflow's masker learns every encoding, urllib3's log is scrubbed."""
    from airflow.sdk.log import mask_secret

    redactor = Redactor(secret)
    for form in redactor.forms:
        mask_secret(form)
    _urllib3_filter.add(redactor)
    return redactor
