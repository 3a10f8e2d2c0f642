"""The MailPartner answer envelope, independent of the wire format.

Both list readers (JSON and positional XML) emit the same events; this module defines them and
reads the ``success``/``code`` header that decides whether an answer can be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from airflow_provider_mailpartner.client.commands import ApiCode
from airflow_provider_mailpartner.records import strict_int

EventKind = Literal["field", "data", "items"]
Event = tuple[EventKind, str, object]
"""``("field", name, value)`` for a whole top-level field, ``("data", name, None)`` where the
list starts, then ``("items", name, [entry, ...])`` for its entries, a batch at a time."""


class DocumentError(ValueError):
    """The body is not a well-formed answer; the client reports it as a response error."""


def field_event(name: str, value: object) -> Event:
    return ("field", name, value)


def data_event(name: str) -> Event:
    return ("data", name, None)


@dataclass(frozen=True)
class Envelope:
    """The header every answer carries. ``success`` is None when it is not a boolean."""

    success: bool | None
    code: int | None
    message: str | None

    @classmethod
    def from_fields(cls, fields: dict[str, object]) -> Envelope:
        return cls(
            success=_as_bool(fields.get("success")),
            code=strict_int(fields.get("code")),
            message=_as_message(fields.get("message")),
        )

    @property
    def ok(self) -> bool:
        return self.success is True and self.code == ApiCode.OK

    @property
    def is_error(self) -> bool:
        """A well-formed error: ``success`` false with a code other than 200."""
        return self.success is False and self.code is not None and self.code != ApiCode.OK


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # PHP back ends sometimes send 1/0
        return bool(value)
    if isinstance(value, str):  # positional XML: booleans arrive as text
        return {"true": True, "1": True, "false": False, "0": False, "": False}.get(value.strip().lower())
    return None


def _as_message(value: object) -> str | None:
    # Not cut here: a message is scrubbed of the key before it is shortened for display.
    if isinstance(value, str):
        return value.strip() or None
    return None
