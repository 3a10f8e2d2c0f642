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

REDACTED = "***"

# urllib3 logs "GET /v1/...?apiKey=... HTTP/1.1" at DEBUG on this logger, in every process that
# uses the hook, task logs included.
_URLLIB3_LOGGER = "urllib3.connectionpool"


def secret_forms(secret: str) -> list[str]:
    """Every spelling of ``secret`` that can reach a URL, a request body or a log line."""
    forms = {*_plain_forms(secret), *_plain_forms(_double_encoded(secret))}
    return sorted((form for form in forms if form), key=len, reverse=True)


def _double_encoded(secret: str) -> str:
    """``secret``'s UTF-8 bytes read as Latin-1 (``ë`` as ``Ã«``): what a server that decodes the query
    string wrongly echoes back, and encodes again."""
    return secret.encode("utf-8").decode("latin-1")


def _plain_forms(secret: str) -> set[str]:
    return {
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
        _xml_escaped(secret),
        _xml_escaped(secret).replace('"', "&quot;").replace("'", "&apos;"),
    }


def _xml_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Redactor:
    """Replaces a secret, in any of its encodings, with ``***``."""

    def __init__(self, secret: str) -> None:
        self._set_forms(secret_forms(secret))

    @classmethod
    def of_forms(cls, forms: list[str]) -> Redactor:
        """A redactor for several secrets' forms at once: the longest is replaced first, so no
        short secret can break a longer one into pieces that no longer match."""
        redactor = cls.__new__(cls)
        redactor._set_forms(sorted(set(forms), key=len, reverse=True))
        return redactor

    def _set_forms(self, forms: list[str]) -> None:
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
        self._redactor: Redactor | None = None
        self._lock = threading.Lock()

    def add(self, redactor: Redactor) -> None:
        with self._lock:
            known = list(self._redactor.forms) if self._redactor else []
            self._redactor = Redactor.of_forms(known + list(redactor.forms))

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self._redactor
        if redactor is None:
            return True
        message = record.getMessage()
        scrubbed = redactor.scrub(message)
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
