"""MailPartner's error codes, and the exception that answers a request with one.

As in moto, the backend and the handlers raise :class:`ApiError`; the server turns it into an
error envelope in the requested format, so every error answer is rendered in one place (``wire``).
"""

from __future__ import annotations

API_KEY_REQUIRED = 1
EMAIL_REQUIRED = 2
ALREADY_LISTED = 3  # unsubscribe/add: the address is already on the list
ID_REQUIRED = 3  # unsubscribe/delete reuses code 3 for a missing id
ID_NOT_FOUND = 4
INVALID_EMAIL = 9
WRONG_API_KEY = 10
ACCOUNT_DEACTIVATED = 20
ACCOUNT_BLOCKED = 30
API_ACCESS_REFUSED = 40
IP_NOT_ALLOWED = 96
TOO_MANY_REQUESTS = 429
SERVER_ERROR = 500

DEFAULT_MESSAGES: dict[int, str] = {
    API_KEY_REQUIRED: "API key required",
    EMAIL_REQUIRED: "Email required",
    ALREADY_LISTED: "Email already in the unsubscribe list",
    ID_NOT_FOUND: "Id not found",
    INVALID_EMAIL: "Invalid email",
    WRONG_API_KEY: "Wrong API key",
    ACCOUNT_DEACTIVATED: "Account deactivated",
    ACCOUNT_BLOCKED: "Account blocked",
    API_ACCESS_REFUSED: "API access refused",
    IP_NOT_ALLOWED: "IP not allowed",
    TOO_MANY_REQUESTS: "Too many requests",
    SERVER_ERROR: "Internal server error",
}


def default_message(code: int) -> str:
    """The message the sandbox sends with ``code`` when none is given."""
    return DEFAULT_MESSAGES.get(code, f"Error {code}")


class ApiError(Exception):
    """A non-OK MailPartner envelope: ``{"success": false, "code": code, "message": message}``.

    :param code: the API error code.
    :param message: the text to send; defaults to the sandbox's English message for ``code``.
    """

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message if message is not None else default_message(code)
        super().__init__(f"MailPartner error {code}: {self.message}")
