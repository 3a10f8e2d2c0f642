"""The one definition of "the same address", shared by every step that compares addresses."""

from __future__ import annotations

import unicodedata

import idna

MAX_LOCAL_PART = 64
MAX_ADDRESS = 254
_SPECIALS = frozenset('<>()[],;:"\\')


class InvalidEmailError(ValueError):
    """The text is not an address that can be compared (or sent); the message says why."""


def normalize_email(text: str) -> str:
    """The comparison key of an address: trimmed, NFC, case-folded, domain in IDNA ASCII form.

    ``" Zoë@Exämple.FR "`` and ``"zoë@xn--exmple-cua.fr"`` give the same key. Anything that is
    not one local part, one ``@`` and a dotted domain raises :class:`InvalidEmailError`.
    """
    if not isinstance(text, str):
        raise InvalidEmailError(f"not text: {type(text).__name__}")
    address = unicodedata.normalize("NFC", text.strip())
    if address.count("@") != 1:
        raise InvalidEmailError("an address has exactly one '@'")
    local, domain = address.split("@")
    if not local or not domain:
        raise InvalidEmailError("empty local part or domain")
    if any(char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") for char in address):
        raise InvalidEmailError("white space or control characters inside the address")
    if any(char in _SPECIALS for char in address):  # "mailto:x@y.fr", "Dupont;x@y.fr", "<x@y.fr>"
        raise InvalidEmailError('a character e-mail reserves for syntax (<>()[],;:"\\) in the address')
    try:
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")  # "x.fr." is "x.fr"
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidEmailError("the domain is not a valid host name") from None
    if "." not in ascii_domain:
        raise InvalidEmailError("the domain has no dot")
    key = f"{local.casefold()}@{ascii_domain.lower()}"
    if len(local) > MAX_LOCAL_PART or len(key) > MAX_ADDRESS:
        raise InvalidEmailError("the address is longer than e-mail allows")
    return key
