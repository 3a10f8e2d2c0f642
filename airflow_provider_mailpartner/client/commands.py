"""What the package knows of MailPartner's API: its codes, its commands, and one call of a command."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

ResponseFormat = Literal["json", "xml"]
RESPONSE_FORMATS: tuple[ResponseFormat, ...] = ("json", "xml")

REQUESTS_PER_MINUTE = 2000
"""MailPartner's limit: more requests than this in a minute from one IP are answered 429."""


class ApiCode(IntEnum):
    """Every envelope code the package knows (``shared`` API notes: codes are per command)."""

    OK = 200
    API_KEY_REQUIRED = 1
    EMAIL_REQUIRED = 2
    ALREADY_LISTED = 3  # unsubscribe/add: the wanted state already holds
    ID_REQUIRED = 3  # unsubscribe/delete gives code 3 its own meaning
    ID_NOT_FOUND = 4
    INVALID_EMAIL = 9
    WRONG_API_KEY = 10
    ACCOUNT_DEACTIVATED = 20
    ACCOUNT_BLOCKED = 30
    API_ACCESS_REFUSED = 40
    IP_NOT_ALLOWED = 96
    TOO_MANY_REQUESTS = 429
    SERVER_ERROR = 500


AUTH_CODES = frozenset(
    {
        ApiCode.API_KEY_REQUIRED,
        ApiCode.WRONG_API_KEY,
        ApiCode.ACCOUNT_DEACTIVATED,
        ApiCode.ACCOUNT_BLOCKED,
        ApiCode.API_ACCESS_REFUSED,
        ApiCode.IP_NOT_ALLOWED,
    }
)
"""The key or the account is refused: retrying cannot heal it."""

RETRYABLE_CODES = frozenset({ApiCode.TOO_MANY_REQUESTS, ApiCode.SERVER_ERROR})
"""Codes that may heal by waiting (the reasons each request is safe to repeat: ``retry``)."""

FieldSpec = str | tuple[str, "Sequence[FieldSpec]"]
"""A field name, or a name with the names of its positional children (XML carries no names)."""


@dataclass(frozen=True)
class Command:
    """One API command: its path, method, and the order of its fields in positional XML.

    ``stream_field`` names the list read entry by entry; ``key_field``, the field of an entry
    that no two entries of that list may share.
    """

    path: str
    method: Literal["GET", "POST"]
    fields: Sequence[FieldSpec]
    stream_field: str | None = None
    key_field: str | None = None

    @property
    def label(self) -> str:
        """``GET /v1/unsubscribe/list``: how logs and errors name the command (no query string)."""
        return f"{self.method} /v1/{self.path}"


ERROR_FIELDS: Sequence[FieldSpec] = ("success", "code", "message", "error")
RECORD_FIELDS: Sequence[FieldSpec] = ("id", "email", "createdAt")

LIST = Command("unsubscribe/list", "GET", ("success", "code", "nbData", "data"), stream_field="data", key_field="id")
ADD = Command("unsubscribe/add", "POST", ("success", "code", "stopId"))
# The API page's header says POST, every official sample sends GET: GET is what works.
DELETE = Command("unsubscribe/delete", "GET", ("success", "code"))
ME = Command(
    "me",
    "GET",
    ("success", "code", ("user", ("username",)), ("credits", ("creditMail", "currency", "balance"))),
)


@dataclass(frozen=True)
class Call:
    """One command as it is to be sent: the command, the answer's format and the parameters."""

    command: Command
    response_format: ResponseFormat
    values: Mapping[str, str] = field(default_factory=dict)

    def payload(self, api_key: str) -> dict[str, str]:
        """The parameters on the wire: query string for GET, JSON body for POST (the key included)."""
        return {"apiKey": api_key, "_format": self.response_format, **self.values}


def spec_name(spec: FieldSpec) -> str:
    return spec if isinstance(spec, str) else spec[0]
