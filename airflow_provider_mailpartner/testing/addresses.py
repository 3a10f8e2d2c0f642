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


def is_valid_address(address: str) -> bool:
    """Whether ``address`` (already stripped) passes the sandbox's syntax check.

    One ``@``, a non-empty local part, a domain with a dot and no empty label, no white space,
    control characters or RFC 5322 specials.
    """
    if not address or len(address) > MAX_ADDRESS_LENGTH or address.count("@") != 1:
        return False
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" or ch in _FORBIDDEN for ch in address):
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
