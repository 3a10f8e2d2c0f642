"""MailPartner's error codes, and the exception that answers a request with one.

As in moto, the backend and the handlers raise :class:`ApiError`; the server turns it into an
error envelope in the requested format, so every error answer is rendered in one place (``wire``).
"""

from __future__ import annotations

from airflow_provider_mailpartner.client.commands import ApiCode

DEFAULT_MESSAGES: dict[int, str] = {
    ApiCode.API_KEY_REQUIRED: "API key required",
    ApiCode.EMAIL_REQUIRED: "Email required",
    ApiCode.ALREADY_LISTED: "Email already in the unsubscribe list",
    ApiCode.ID_NOT_FOUND: "Id not found",
    ApiCode.INVALID_EMAIL: "Invalid email",
    ApiCode.WRONG_API_KEY: "Wrong API key",
    ApiCode.ACCOUNT_DEACTIVATED: "Account deactivated",
    ApiCode.ACCOUNT_BLOCKED: "Account blocked",
    ApiCode.API_ACCESS_REFUSED: "API access refused",
    ApiCode.IP_NOT_ALLOWED: "IP not allowed",
    ApiCode.TOO_MANY_REQUESTS: "Too many requests",
    ApiCode.SERVER_ERROR: "Internal server error",
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
        self.code = int(code)  # a plain int on the wire, whether given as an ApiCode or not
        self.message = message if message is not None else default_message(code)
        super().__init__(f"MailPartner error {code}: {self.message}")
