"""AddUnsubscribesOperator: local opt-outs put on MailPartner's unsubscribe list, paced, each outcome reported.

Its public path is :mod:`airflow_provider_mailpartner.operators.unsubscribe`, which imports it.
Only light imports at module level: DAG files import this at parse time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from airflow_provider_mailpartner.operators.address_push import AddressPushOperator
from airflow_provider_mailpartner.storage import storage_path

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_mailpartner.add_outcomes import Outcome, OutcomeRow
    from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook

_NOT_SENT = RuntimeError("not sent: an earlier error stopped the task")


class AddResult(TypedDict):
    """What the add operator returns as XCom: how many addresses ended in each state, and where the rows are."""

    added: int
    already_listed: int
    invalid: int
    failed: int
    would_add: NotRequired[int]  # dry_run: the addresses not on the list, none sent
    result_path: NotRequired[str]


def _split_listed(addresses: list[str], hook: MailPartnerHook) -> tuple[list[str], dict[str, None]]:
    """The addresses not on MailPartner's list now, and those that are (as outcomes: already listed)."""
    from airflow_provider_mailpartner.suppression import SuppressionSet

    listed = SuppressionSet.from_records(hook.iter_unsubscribe_records())
    new = [address for address in addresses if address not in listed]
    return new, {address: None for address in addresses if address in listed}


def _would_add(addresses: list[str]) -> dict[str, Outcome]:
    from airflow_provider_mailpartner.add_outcomes import WOULD_ADD

    return dict.fromkeys(addresses, WOULD_ADD)


def result_counts(result: AddResult) -> dict[str, int]:
    return {name: value for name, value in result.items() if isinstance(value, int)}


def _add_result(rows: list[OutcomeRow], dry_run: bool) -> AddResult:
    counts = Counter(row["outcome"] for row in rows)
    result: AddResult = {
        "added": counts["added"],
        "already_listed": counts["already_listed"],
        "invalid": counts["invalid"],
        "failed": counts["failed"] + counts["not_sent"],
    }
    if dry_run:
        result["would_add"] = counts["would_add"]
    return result


class AddUnsubscribesOperator(AddressPushOperator):
    """Put local opt-outs on MailPartner's unsubscribe list, so no other tool sends to them.

    Addresses are trimmed, checked and de-duplicated (by :func:`~airflow_provider_mailpartner.
    suppression.normalize_email`); invalid ones are skipped and counted. The rest are added
    concurrently but paced under ``max_requests_per_minute``, retries included. An address
    already listed (code 3) counts as done, so a rerun is harmless. If any address still fails
    after the hook's retries, the task fails with :class:`~airflow_provider_mailpartner.exceptions.
    MailPartnerAddError`: an opt-out that silently did not reach MailPartner is the worst outcome.
    Addresses are personal data: the log and the error show counts and masked forms
    (``j***@e***.fr``); ``result_path`` gets each address with its outcome.

    :param mailpartner_conn_id: the ``mailpartner`` connection holding the API key.
    :param emails: the addresses, e.g. from an upstream XCom (templated).
    :param input_path: or a file in object storage: one address per line, or a CSV (any separator)
        whose header names the address column (templated). Read as spreadsheets write it: UTF-8,
        UTF-8 with a BOM or cp1252, found from the file's start.
    :param email_column: the address column's name in ``input_path``, if the header does not make it
        plain (by default the one column named like an address: ``email``, ``E-mail Address``,
        ``Adresse e-mail``, ``courriel``...).
    :param encoding: ``input_path``'s encoding (``utf-8``, ``utf-8-sig`` or ``cp1252``), if not the one found.
    :param max_requests_per_minute: the pace for this task's requests; MailPartner allows 2000
        per minute from one IP. Lower it when other jobs share the account's IP.
    :param max_workers: concurrent requests, enough to reach the pace over a real network.
    :param response_format: ``json`` or ``xml``; overrides the connection's.
    :param result_path: where to write one row per address with its outcome: a CSV
        ``address,outcome,code,unsubscribe_id,error`` (templated), published whole, also when the
        task fails. ``outcome`` is ``added``, ``already_listed``, ``invalid``, ``failed`` or ``not_sent``.
    :param dry_run: read the list as it is, count what would be added and what is already listed,
        and send nothing (``would_add`` in the result; ``result_path`` rows say ``would_add``).
    :param max_adds: refuse, before anything is sent, to add more addresses than this in one run
        (those not on the list now; it is read first): a wrong file or column must not put a
        whole CRM on the list. Default: no cap.
    :param strict: read MailPartner's list first, and refuse it, sending nothing, when one of its entries
        is odd. By default the list is read only for ``dry_run`` and ``max_adds``, and odd entries are
        kept, as the list operator keeps them.
    :return: ``{"added", "already_listed", "invalid", "failed"}`` counts (and ``would_add``, ``result_path``).
    """

    def __init__(self, *, max_adds: int | None = None, **kwargs: Any) -> None:
        super().__init__(cap=("max_adds", max_adds), **kwargs)
        self.max_adds = max_adds

    def execute(self, context: Context) -> AddResult:
        from airflow_provider_mailpartner.add_outcomes import outcome_rows
        from airflow_provider_mailpartner.exceptions import MailPartnerAddError
        from airflow_provider_mailpartner.personal_data import mask_address, masked_list

        addresses, invalid = self.read_addresses()
        if invalid:
            self.log.warning("Skipped %d value(s) that are not addresses: %s", len(invalid), masked_list(invalid))
        if invalid and not addresses:
            raise ValueError(
                f"None of the {len(invalid)} input value(s) is an address (first: {mask_address(invalid[0])!r}). "
                "A list templated from XCom arrives as text unless the DAG sets render_template_as_native_obj=True; "
                "pass emails=upstream_task.output instead."
            )
        hook = self.paced_hook()
        started = time.monotonic()
        new, listed = addresses, dict[str, None]()
        if self.send_nothing or self.max_adds is not None or self.strict:  # what is new, from the list as it is
            new, listed = _split_listed(addresses, hook)
            self._check_max_adds(len(new), len(listed), len(invalid))
        sent, stopped = (_would_add(new), None) if self.send_nothing else self._push(hook, new)
        outcomes = {address: sent[address] if address in sent else listed[address] for address in addresses}
        rows = outcome_rows(invalid, outcomes, _NOT_SENT)
        result = _add_result(rows, self.send_nothing)
        if (written := self.write_result(rows)) is not None:
            result["result_path"] = written
        if stopped is not None:  # a credential or configuration error: the same for every address
            raise stopped
        self.log.info(
            "%s %d address(es) to MailPartner in %.1f s: %s",
            "Dry run, nothing sent: checked" if self.send_nothing else "Pushed",
            len(addresses),
            time.monotonic() - started,
            result,
        )
        failed = [row for row in rows if row["outcome"] in ("failed", "not_sent")]
        self.raise_for_failed(
            failed,
            result_counts(result),
            MailPartnerAddError,
            logged="Not added to MailPartner",
            summary="opt-out(s) did not reach MailPartner",
        )
        return result

    def _check_max_adds(self, new: int, listed: int, invalid: int) -> None:
        """Refuse, before anything is sent, to add more than ``max_adds`` addresses in one run."""
        from airflow_provider_mailpartner.exceptions import MailPartnerAddError

        if self.max_adds is None or new <= self.max_adds or self.send_nothing:
            return
        raise MailPartnerAddError(
            f"{new} address(es) are not on MailPartner's list yet, more than max_adds={self.max_adds}: nothing "
            "was sent. Check the input (a wrong file or column adds the wrong people); if it is right, raise "
            "max_adds, or run once with dry_run=True and result_path to see the addresses.",
            counts={"would_add": new, "already_listed": listed, "invalid": invalid, "added": 0, "failed": 0},
        )

    def _push(
        self, hook: MailPartnerHook, addresses: list[str]
    ) -> tuple[dict[str, int | Exception | None], Exception | None]:
        """Add each address on the pool; the first credential or configuration error stops the rest (and is
        returned, for the task to raise once the outcomes are written)."""
        from airflow_provider_mailpartner.exceptions import MailPartnerAuthError, MailPartnerConfigError

        stop = threading.Event()
        fatal: list[Exception] = []

        def add(address: str) -> int | Exception | None:
            if stop.is_set():
                return _NOT_SENT
            try:
                return hook.add_unsubscribe(address)
            except (MailPartnerAuthError, MailPartnerConfigError) as error:  # the same for every address
                stop.set()
                fatal.append(error)
                return error
            except Exception as error:  # reported per address; the task fails after the rest are done
                return error

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="mailpartner-add") as pool:
            outcomes = dict(zip(addresses, pool.map(add, addresses), strict=True))
        return outcomes, fatal[0] if fatal else None

    def get_openlineage_facets_on_complete(self, task_instance: object) -> OperatorLineage[Any, Any]:
        """Lineage for the OpenLineage provider: the input file (if any) in, MailPartner's unsubscribe list out."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        from airflow_provider_mailpartner.lineage import storage_dataset, unsubscribe_list_datasets

        inputs = [] if self.input_path is None else [storage_dataset(storage_path(self.input_path), records=False)]
        return OperatorLineage(inputs=inputs, outputs=unsubscribe_list_datasets(self.mailpartner_conn_id))
