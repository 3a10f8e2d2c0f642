"""Errors raised by the MailPartner provider.

Catch :class:`MailPartnerError` for "anything MailPartner", or a subclass by category. Every
error carries structured fields (``http_status``, ``code``) so callers never parse the text, and
every text has already been scrubbed of the API key.
"""

from __future__ import annotations

from airflow.exceptions import AirflowException


class MailPartnerError(AirflowException):
    """Base of every error this package raises."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        conn_id: str | None = None,
        retries: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.conn_id = conn_id
        self.retries = retries
        """How many retries the call had made when this error ended it."""

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only fields must survive pickling (Airflow ships task errors between processes).
        fields = (self.message, self.http_status, self.code, self.conn_id, self.retries)
        return (_rebuild, (type(self), *fields))


def _rebuild(
    cls: type[MailPartnerError],
    message: str,
    http_status: int | None,
    code: int | None,
    conn_id: str | None,
    retries: int,
) -> MailPartnerError:
    return cls(message, http_status=http_status, code=code, conn_id=conn_id, retries=retries)


class MailPartnerConfigError(MailPartnerError):
    """The connection cannot be used as configured: no key, bad host, insecure scheme, bad extra."""


class MailPartnerAuthError(MailPartnerError):
    """The API refused the key or the account (codes 1, 10, 20, 30, 40, 96); never retried."""


class MailPartnerApiError(MailPartnerError):
    """The API answered with a well-formed error envelope; ``code`` and ``message`` say which."""


class MailPartnerRateLimitError(MailPartnerApiError):
    """The API kept answering 429 (too many requests) after every retry."""


class MailPartnerResponseError(MailPartnerError):
    """The answer could not be trusted: unparseable, inconsistent, or not what the API sends."""


class MailPartnerTransportError(MailPartnerError):
    """The API could not be reached or stopped answering (connection refused, reset, timeout)."""


class MailPartnerGuardError(MailPartnerError):
    """A fetched list was refused because it lost too much against the previous snapshot (or all of it).

    Nothing was published. ``count`` is the new list's size, ``previous_count`` the previous
    snapshot's, ``removed`` how many of its entries are gone.
    """

    def __init__(self, message: str, *, count: int, previous_count: int, removed: int) -> None:
        super().__init__(message)
        self.count = count
        self.previous_count = previous_count
        self.removed = removed

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_guard_error, (self.message, self.count, self.previous_count, self.removed))


def _rebuild_guard_error(message: str, count: int, previous_count: int, removed: int) -> MailPartnerGuardError:
    return MailPartnerGuardError(message, count=count, previous_count=previous_count, removed=removed)


class MailPartnerPushError(MailPartnerError):
    """Some addresses were not added to (or removed from) the list, or none were sent: a cap refused the run.

    ``counts`` says how many ended in each state; the addresses and each one's error are in the
    operator's ``result_path`` file, never in this text (addresses are personal data).
    """

    def __init__(self, message: str, *, counts: dict[str, int], result_path: str | None = None) -> None:
        super().__init__(message)
        self.counts = counts
        self.result_path = result_path

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_push_error, (type(self), self.message, self.counts, self.result_path))


def _rebuild_push_error(
    cls: type[MailPartnerPushError], message: str, counts: dict[str, int], result_path: str | None
) -> MailPartnerPushError:
    return cls(message, counts=counts, result_path=result_path)


class MailPartnerAddError(MailPartnerPushError):
    """Opt-outs that did not reach MailPartner after the retries (``AddUnsubscribesOperator``)."""


class MailPartnerRemoveError(MailPartnerPushError):
    """Addresses that could not be taken off the list after the retries (``RemoveUnsubscribesOperator``)."""
