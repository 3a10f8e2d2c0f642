"""The address rules the sandbox applies: what ``unsubscribe/add`` accepts and when two addresses match.

The real service's exact rules are undocumented; these are a reasonable syntax check (code 9) and a
duplicate test on the stripped, lower-cased address (code 3).
"""

from __future__ import annotations

MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_LENGTH = 64
_FORBIDDEN = frozenset('<>()[],;:"\\')


def normalize(email: str) -> str:
    """The key two addresses are compared by: stripped and lower-cased.

    Returns ``email`` itself (not a copy) when it is already normal, so a million generated
    addresses and their keys share storage.
    """
    key = email.strip().lower()
    return email if key == email else key


def forbidden_character(text: str) -> str | None:
    """The first character of ``text`` that no address (nor any text the sandbox sends) may hold.

    That is a C0 or C1 control character (tab and line breaks included), DEL, a lone surrogate
    (UTF-8 cannot encode it) or U+FFFE/U+FFFF: characters XML 1.0 cannot carry, or that make the
    positional XML list malformed. ``None`` when there is none.
    """
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            return ch
    return None


def is_valid_address(address: str) -> bool:
    """Whether ``address`` (already stripped) passes the sandbox's syntax check.

    One ``@``, a non-empty local part, a domain with a dot and no empty label, no white space,
    no :func:`forbidden_character` and no RFC 5322 specials.
    """
    if not address or len(address) > MAX_ADDRESS_LENGTH or address.count("@") != 1:
        return False
    if forbidden_character(address) is not None or any(ch.isspace() or ch in _FORBIDDEN for ch in address):
        return False
    local, domain = address.split("@")
    if not local or len(local) > MAX_LOCAL_LENGTH or local.startswith(".") or local.endswith("."):
        return False
    if ".." in local or "." not in domain:
        return False
    labels = domain.split(".")
    if any(not label or label.startswith("-") or label.endswith("-") for label in labels):
        return False
    return len(labels[-1]) >= 2
