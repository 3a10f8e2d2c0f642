"""What the add and remove operators share: the addresses they read, the paced hook, the outcomes they write.

Only light imports at module level: DAG files import this at parse time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_mailpartner.client.commands import REQUESTS_PER_MINUTE
from airflow_provider_mailpartner.client.pacing import MAX_REQUESTS_PER_MINUTE
from airflow_provider_mailpartner.contact_files import check_options
from airflow_provider_mailpartner.operators.templated import TemplatedOperator
from airflow_provider_mailpartner.storage import refuse_relative, storage_path

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mailpartner.add_outcomes import OutcomeRow
    from airflow_provider_mailpartner.exceptions import MailPartnerPushError
    from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook

DEFAULT_CONN_ID = "mailpartner_default"


class AddressPushOperator(TemplatedOperator):
    """Addresses in (``emails`` or ``input_path``), one request per address out, paced; outcomes to ``result_path``.

    :param cap: refuse, before anything is sent, a run that would change more addresses than this
        (the subclass names it: ``max_adds``, ``max_removes``).
    """

    template_fields: Sequence[str] = ("emails", "input_path", "result_path")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        mailpartner_conn_id: str = DEFAULT_CONN_ID,
        emails: Iterable[str] | str | None = None,
        input_path: str | ObjectStoragePath | None = None,
        email_column: str | None = None,
        encoding: str | None = None,
        max_requests_per_minute: float = REQUESTS_PER_MINUTE,
        max_workers: int = 8,
        response_format: str | None = None,
        result_path: str | ObjectStoragePath | None = None,
        dry_run: bool = False,
        cap: tuple[str, int | None] = ("cap", None),
        strict: bool = False,
        **kwargs: Any,
    ) -> None:
        cap_name, cap_value = cap
        if cap_value is not None and cap_value < 0:
            raise ValueError(f"{cap_name} must be a count (0 or more), not {cap_value!r}")
        if result_path is not None:
            refuse_relative(result_path, "result_path")
        if (emails is None) == (input_path is None):
            raise ValueError("give exactly one of emails or input_path")
        if input_path is not None:
            if not str(input_path).strip():
                raise ValueError("input_path is empty: give the path of the file of addresses")
            refuse_relative(input_path, "input_path")
        check_options(encoding)
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if not 0 < max_requests_per_minute <= MAX_REQUESTS_PER_MINUTE:
            raise ValueError(f"max_requests_per_minute must be above 0 (and at most {MAX_REQUESTS_PER_MINUTE})")
        super().__init__(**kwargs)
        self.mailpartner_conn_id = mailpartner_conn_id
        self.emails = emails
        self.input_path = input_path
        self.email_column = email_column
        self.encoding = encoding
        self.max_requests_per_minute = max_requests_per_minute
        self.max_workers = max_workers
        self.response_format = response_format
        self.result_path = result_path
        self.send_nothing = dry_run  # (not "dry_run": BaseOperator.dry_run() is a method)
        self.strict = strict

    def read_addresses(self) -> tuple[list[str], list[str]]:
        """The distinct addresses (first spelling of each) and the values that are not addresses, in input order."""
        from airflow_provider_mailpartner.opt_out_addresses import address_values, addresses_in_file, unique_addresses

        if self.input_path is None:
            return unique_addresses(address_values(self.emails))
        path = storage_path(self.input_path, "input_path")
        return unique_addresses(addresses_in_file(path, self.encoding, self.email_column))

    def paced_hook(self) -> MailPartnerHook:
        """The hook, its connection read once before worker threads share it, paced under the limit."""
        from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook

        hook = MailPartnerHook(
            self.mailpartner_conn_id,
            response_format=self.response_format,
            max_requests_per_minute=self.max_requests_per_minute,
            strict=self.strict,
        )
        hook.get_conn()
        return hook

    def write_result(self, rows: list[OutcomeRow]) -> str | None:
        """The rows to ``result_path``, if set; the path written."""
        from airflow_provider_mailpartner.add_outcomes import write_outcomes

        if self.result_path is None:
            return None
        return write_outcomes(rows, storage_path(self.result_path, "result_path"))["path"]

    def raise_for_failed(
        self,
        failed: list[OutcomeRow],
        counts: dict[str, int],
        error: type[MailPartnerPushError],
        *,
        logged: str,
        summary: str,
    ) -> None:
        """Log each address that did not get through (``logged``: masked address), and fail the task with
        the counts (``summary``: what did not happen, after the number)."""
        from airflow_provider_mailpartner.personal_data import mask_address, mask_addresses, masked_list

        for row in failed:
            self.log.error("%s: %s (%s)", logged, mask_address(row["address"]), mask_addresses(row["error"]))
        if not failed:
            return
        where = (
            f"each address and its error are in {self.result_path}"
            if self.result_path is not None
            else "set result_path to get each address and its error in a file"
        )
        raise error(
            f"{len(failed)} {summary} after retries: {masked_list([row['address'] for row in failed])}; "
            f"{where}. The others are done ({counts}); rerunning the task is harmless.",
            counts=counts,
            result_path=None if self.result_path is None else str(self.result_path),
        )
