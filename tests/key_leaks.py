"""Finding the test API key in a text or in bytes, in every encoding it can take on its way out.

Shared by the secret tests: ``tests/test_secrets.py`` (the hook's texts) and
``tests/reliability/test_secret_audit.py`` (everything a run leaves behind).
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

from tests.nasty_key import NASTY_KEY

FRAGMENT = 12  # no run this long of any text encoding may survive either (a key cut off by an excerpt)


def key_encodings(key: str = NASTY_KEY) -> dict[str, str]:
    """Every spelling of ``key`` worth looking for, by name (names say which encoding leaked)."""
    utf8 = key.encode("utf-8")
    json_ascii = json.dumps(key)[1:-1]
    json_utf8 = json.dumps(key, ensure_ascii=False)[1:-1]
    return {
        "raw": key,
        "quote": quote(key),
        "quote(safe='')": quote(key, safe=""),
        "quote_plus": quote_plus(key),
        "quote_plus(safe='/')": quote_plus(key, safe="/"),
        "json": json_ascii,
        "json(ensure_ascii=False)": json_utf8,
        "json with \\/": json_ascii.replace("/", "\\/"),  # PHP's json_encode escapes "/"
        "json(ensure_ascii=False) with \\/": json_utf8.replace("/", "\\/"),
        "xml": xml_escape(key),
        "xml with quotes": xml_escape(key, {'"': "&quot;", "'": "&apos;"}),
        "utf-8 read as latin-1": utf8.decode("latin-1"),
        "base64": base64.b64encode(utf8).decode(),
        "urlsafe base64": base64.urlsafe_b64encode(utf8).decode(),
        "hex": binascii.hexlify(utf8).decode(),
    }


# Forms whose 12-character runs are searched too; base64 and hex are searched whole (their runs
# do not line up with the key's characters).
_WHOLE_ONLY = frozenset({"base64", "urlsafe base64", "hex"})


def _needles(key: str) -> list[tuple[str, str]]:
    needles: dict[str, str] = {}
    for name, form in key_encodings(key).items():
        needles.setdefault(form.lower(), name)
    for name, form in key_encodings(key).items():
        if name in _WHOLE_ONLY:
            continue
        for start in range(len(form) - FRAGMENT + 1):
            needles.setdefault(form[start : start + FRAGMENT].lower(), f"a {FRAGMENT}-character run of {name}")
    return list(needles.items())


_NEEDLES = {NASTY_KEY: _needles(NASTY_KEY)}


def find_key(text: str | bytes, key: str = NASTY_KEY) -> str | None:
    """What of ``key`` ``text`` holds (case-insensitively: percent-escapes are), or None.

    Bytes are read as UTF-8 (undecodable bytes kept as they are), so the raw key's UTF-8 bytes
    show as the key and every ASCII encoding as itself.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    folded = text.lower()
    needles = _NEEDLES.get(key) or _needles(key)
    for needle, name in needles:
        if needle in folded:
            return f"the key leaked as {name}: {needle!r}"
    return None


def assert_no_key(text: str | bytes, key: str = NASTY_KEY) -> None:
    leak = find_key(text, key)
    assert leak is None, leak
