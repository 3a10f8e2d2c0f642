"""Subscriber addresses are personal data: what logs and error texts may show of them.

Task logs are readable by everyone with access to the DAG and are kept for months, so they carry
counts, positions and masked forms (``j***@e***.fr``); the addresses themselves go only to files
the user asked for (``result_path``).
"""

from __future__ import annotations

import re

# Anything shaped like an address inside a longer text: no white space, quotes or brackets around the @.
_ADDRESS_IN_TEXT = re.compile(r"[^\s'\"<>()\[\]{},;:=]+@[^\s'\"<>()\[\]{},;:=]+")
# The address field of a list entry, in JSON ("email": <any value>) and in positional XML (the second
# field of a record: the text after <entry><entry>id</entry><entry>, CDATA or not).
_JSON_ADDRESS_FIELD = re.compile(r'("email"\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)')
_XML_TEXT = r"(?:<!\[CDATA\[.*?\]\]>|[^<])*"
_XML_ADDRESS_FIELD = re.compile(rf"(<entry>\s*<entry>{_XML_TEXT}</entry>\s*<entry>)({_XML_TEXT})", re.DOTALL)
# A phone number where an address should be (MailPartner's own example list holds one): international
# (+33 6 12 34 56 78) or French national (06 12 34 56 78) form. Dates and ids do not take these shapes.
_PHONE_IN_TEXT = re.compile(r"\+[0-9][0-9 .-]{6,18}[0-9]|(?<![0-9-])0[1-9](?:[ .-]?[0-9]{2}){4}(?![0-9])")


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
    """``text`` with every address, and every phone number, in it masked (an error message, an excerpt
    of an answer): ``j***@e***.fr``, ``+3***``. In an answer's text, whatever the address field holds
    is masked, whatever its shape (a number, an escaped ``@``)."""
    text = _JSON_ADDRESS_FIELD.sub(_masked_json_value, text)
    text = _XML_ADDRESS_FIELD.sub(lambda found: found[1] + _masked_text(found[2]), text)
    text = _ADDRESS_IN_TEXT.sub(lambda found: mask_address(found.group()), text)
    return _PHONE_IN_TEXT.sub(lambda found: f"{found.group()[:2]}***", text)


def _masked_json_value(found: re.Match[str]) -> str:
    value = found[2]
    if value.startswith('"'):  # (a string the excerpt may have cut: its closing quote is optional)
        closing = '"' if len(value) > 1 and value.endswith('"') else ""
        return f'{found[1]}"{_masked_text(value[1 : len(value) - len(closing)])}{closing}'
    return found[1] + _masked_text(value)


def _masked_text(value: str) -> str:
    if value.startswith("<![CDATA[") and value.endswith("]]>"):
        return f"<![CDATA[{_masked_text(value[9:-3])}]]>"
    return mask_address(value) if value.strip() else value


def masked_list(values: list[str], limit: int = 20) -> str:
    """At most ``limit`` values, masked, for a log line: ``'j***@e***.fr', 'a***@b***.com' and 3 more``."""
    shown = ", ".join(repr(mask_address(value)) for value in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
