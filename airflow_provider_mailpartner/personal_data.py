"""Subscriber addresses are personal data: what logs and error texts may show of them.

Task logs are readable by everyone with access to the DAG and are kept for months, so they carry
counts, positions and masked forms (``j***@e***.fr``); the addresses themselves go only to files
the user asked for (``result_path``).
"""

from __future__ import annotations

import re

# Anything shaped like an address inside a longer text: no white space, quotes or brackets around the @.
_ADDRESS_IN_TEXT = re.compile(r"[^\s'\"<>()\[\]{},;:=]+@[^\s'\"<>()\[\]{},;:=]+")


def mask_address(value: str) -> str:
    """``j***@e***.fr``: the first character of the local part and of the domain, and the top-level
    domain. A value without an ``@`` (a phone number, a name) keeps only its first character."""
    text = value.strip()
    local, at, domain = text.rpartition("@")
    if not at:
        return f"{text[:1]}***"
    name, dot, top = domain.rpartition(".")
    return f"{local[:1]}***@{domain[:1]}***" + (f".{top}" if dot and name else "")


def mask_addresses(text: str) -> str:
    """``text`` with every address in it masked (an error message, an excerpt of an answer)."""
    return _ADDRESS_IN_TEXT.sub(lambda found: mask_address(found.group()), text)


def masked_list(values: list[str], limit: int = 20) -> str:
    """At most ``limit`` values, masked, for a log line: ``'j***@e***.fr', 'a***@b***.com' and 3 more``."""
    shown = ", ".join(repr(mask_address(value)) for value in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
