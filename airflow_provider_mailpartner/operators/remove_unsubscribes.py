"""Take addresses off MailPartner's unsubscribe list: people who subscribed again, by address.

Only light imports at module level: DAG files import this at parse time.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from airflow_provider_mailpartner.operators.address_push import AddressPushOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_mailpartner.add_outcomes import OutcomeRow
    from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook


class RemoveResult(TypedDict):
    """What the remove operator returns as XCom: how many addresses ended in each state, and where the rows are."""

    removed: int  # addresses taken off the list (every entry listing them)
    not_listed: int
    invalid: int
    failed: int
    would_remove: NotRequired[int]  # dry_run: the listed addresses, none sent
    result_path: NotRequired[str]


class RemoveUnsubscribesOperator(AddressPushOperator):
    """Take addresses off MailPartner's unsubscribe list, e.g. contacts who subscribed again in the CRM.

    The list is read first; every entry whose address normalises (:func:`~airflow_provider_mailpartner.
    suppression.normalize_email`) to a given one is deleted (``/v1/unsubscribe/delete``), paced under
    ``max_requests_per_minute``, retries included. An address not on the list is counted, not an
    error; an entry already gone counts as removed, so a rerun is harmless. If any address still
    fails after the hook's retries, the task fails with :class:`~airflow_provider_mailpartner.
    exceptions.MailPartnerRemoveError`. Logs and errors carry counts and masked forms only;
    ``result_path`` gets each address with its outcome (``removed`` with the ids, ``not_listed``,
    ``invalid``, ``failed``, ``would_remove``).

    ``emails``, ``input_path``, ``email_column``, ``encoding``, ``max_requests_per_minute``,
    ``max_workers``, ``response_format``, ``result_path``, ``dry_run`` and ``strict`` are those of
    :class:`~airflow_provider_mailpartner.operators.unsubscribe.AddUnsubscribesOperator`.

    :param max_removes: refuse, before any delete is sent, to remove more addresses than this in one run.
    :return: ``{"removed", "not_listed", "invalid", "failed"}`` counts (and ``would_remove``, ``result_path``).
    """

    def __init__(self, *, max_removes: int | None = None, **kwargs: Any) -> None:
        super().__init__(cap=("max_removes", max_removes), **kwargs)
        self.max_removes = max_removes

    def execute(self, context: Context) -> RemoveResult:
        from airflow_provider_mailpartner.add_outcomes import outcome_row
        from airflow_provider_mailpartner.exceptions import MailPartnerRemoveError

        started = time.monotonic()
        addresses, invalid = self.read_addresses()
        hook = self.paced_hook()
        listed = _listed_ids(addresses, hook)
        self._check_max_removes(len(listed), len(addresses) - len(listed), len(invalid))
        rows = [outcome_row(value, "invalid", error="not an e-mail address") for value in invalid]
        outcomes = {} if self.send_nothing else self._delete(hook, listed)
        for address in addresses:
            rows.append(_outcome_row(address, listed.get(address), outcomes.get(address), self.send_nothing))
        result = _remove_result(rows, self.send_nothing)
        if (written := self.write_result(rows)) is not None:
            result["result_path"] = written
        self.log.info(
            "%s %d address(es) in %.1f s: %s",
            "Dry run, nothing sent: checked" if self.send_nothing else "Removed from MailPartner's list:",
            len(addresses),
            time.monotonic() - started,
            result,
        )
        self.raise_for_failed(
            [row for row in rows if row["outcome"] == "failed"],
            {name: value for name, value in result.items() if isinstance(value, int)},
            MailPartnerRemoveError,
            logged="Not removed from MailPartner's list",
            summary="address(es) could not be taken off MailPartner's list",
        )
        return result

    def _check_max_removes(self, listed: int, not_listed: int, invalid: int) -> None:
        from airflow_provider_mailpartner.exceptions import MailPartnerRemoveError

        if self.max_removes is None or listed <= self.max_removes or self.send_nothing:
            return
        raise MailPartnerRemoveError(
            f"{listed} address(es) are on MailPartner's list, more than max_removes={self.max_removes}: nothing "
            "was sent. Check the input; if it is right, raise max_removes, or run with dry_run=True and "
            "result_path to see the addresses.",
            counts={"would_remove": listed, "not_listed": not_listed, "invalid": invalid, "removed": 0, "failed": 0},
        )

    def _delete(self, hook: MailPartnerHook, listed: dict[str, list[int | None]]) -> dict[str, Exception | None]:
        """Delete every entry of each address on the pool; an address's outcome is its first error, or None."""

        def delete(address: str) -> Exception | None:
            try:
                for entry_id in filter(None, listed[address]):
                    hook.delete_unsubscribe(entry_id)
            except Exception as error:  # reported per address; the task fails after the rest are done
                return error
            if None in listed[address]:
                return ValueError(
                    "listed by an entry without a usable id, which the API cannot delete (deletion is by id): "
                    "remove it in MailPartner's interface"
                )
            return None

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="mailpartner-delete") as pool:
            return dict(zip(listed, pool.map(delete, listed), strict=True))


def _remove_result(rows: list[OutcomeRow], dry_run: bool) -> RemoveResult:
    counts = Counter(row["outcome"] for row in rows)
    result: RemoveResult = {
        "removed": counts["removed"],
        "not_listed": counts["not_listed"],
        "invalid": counts["invalid"],
        "failed": counts["failed"],
    }
    if dry_run:
        result["would_remove"] = counts["would_remove"]
    return result


def _listed_ids(addresses: list[str], hook: MailPartnerHook) -> dict[str, list[int | None]]:
    """The ids listing each of ``addresses`` (compared by :func:`normalize_email`; None for an entry whose id
    is unusable); unlisted ones left out."""
    from airflow_provider_mailpartner.suppression import InvalidEmailError, normalize_email

    wanted = {normalize_email(address): address for address in addresses}
    listed: dict[str, list[int | None]] = {}
    for record in hook.iter_unsubscribe_records():
        try:
            address = wanted.get(normalize_email(record["email"]))
        except InvalidEmailError:
            continue
        if address is not None:
            listed.setdefault(address, []).append(record["id"])
    return listed


def _outcome_row(address: str, ids: list[int | None] | None, error: Exception | None, dry_run: bool) -> OutcomeRow:
    from airflow_provider_mailpartner.add_outcomes import outcome_row as _row

    if ids is None:
        return _row(address, "not_listed")
    shown_ids = " ".join("none" if entry_id is None else str(entry_id) for entry_id in ids)
    if dry_run:
        return _row(address, "would_remove", unsubscribe_id=shown_ids)
    if error is None:
        return _row(address, "removed", unsubscribe_id=shown_ids)
    code = getattr(error, "code", None)
    return _row(address, "failed", code="" if code is None else code, unsubscribe_id=shown_ids, error=str(error))
