"""The unsubscribe list mirrored into a SQL database, with its history; a contacts table marked from it.

Only light imports at module level: DAG files import this at parse time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_mailpartner.operators.templated import TemplatedOperator
from airflow_provider_mailpartner.sql_names import ContactMarking, checked_identifier

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_mailpartner.records import UnsubscribeRecord
    from airflow_provider_mailpartner.sql_mirror import MirrorSummary

DEFAULT_TABLE = "mailpartner_unsubscribes"


class UnsubscribesToSqlOperator(TemplatedOperator):
    """Mirror MailPartner's unsubscribe list into a SQL table, in one transaction, keeping its history.

    The table (created if missing) holds ``id``, ``email`` (as sent), ``email_key`` (the address
    normalised by :func:`~airflow_provider_mailpartner.suppression.normalize_email`; NULL for an
    entry that is not an address), ``created_at``, and ``valid_from``/``valid_to``: with
    ``keep_history`` an entry that leaves the list, or changes, has its row closed and, if it
    changed, a new row opened, so the table answers "since when, and until when, was this address
    suppressed". Without it, rows that left are deleted. A rerun with the same list changes nothing;
    a failed run changes nothing (one transaction). Works on any ``common.sql`` connection whose
    database takes the portable statements: tested on SQLite and PostgreSQL.

    :param unsubscribes: the list operator's manifest (``fetch.output``): its file is checked
        against its SHA-256 and count, and must hold the whole list (no ``created_since``) (templated).
    :param sql_conn_id: the database's Airflow connection (``sqlite``, ``postgres``, ...) (templated).
    :param table: the mirror table, ``name`` or ``schema.name``.
    :param keep_history: close rows instead of deleting them (SCD type 2).
    :param contacts_table: a table of yours to mark: ``contacts_mark_column`` is set, for every
        contact whose ``contacts_email_column`` normalises to a listed address, to the earliest
        ``created_at`` of that address, and cleared for every other contact. The column is the
        operator's to set and clear. Addresses are compared in Python, never with SQL's ``lower()``.
    :param contacts_key_column: the contacts' unique key.
    :return: ``{"table", "entries", "opened", "closed", "invalid", "not_mirrored", "contacts_marked",
        "contacts_unmarked"}``.
    """

    template_fields: Sequence[str] = ("unsubscribes", "sql_conn_id")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        unsubscribes: Mapping[str, object] | str,
        sql_conn_id: str,
        table: str = DEFAULT_TABLE,
        keep_history: bool = True,
        contacts_table: str | None = None,
        contacts_key_column: str = "id",
        contacts_email_column: str = "email",
        contacts_mark_column: str = "unsubscribed_at",
        **kwargs: Any,
    ) -> None:
        checked_identifier(table, "table")
        marking = None
        if contacts_table is not None:  # the names are checked when the DAG is parsed
            marking = ContactMarking(contacts_table, contacts_key_column, contacts_email_column, contacts_mark_column)
        super().__init__(**kwargs)
        self.unsubscribes = unsubscribes
        self.sql_conn_id = sql_conn_id
        self.table = table
        self.keep_history = keep_history
        self.marking = marking

    def execute(self, context: Context) -> MirrorSummary:
        from airflow.providers.common.sql.hooks.sql import DbApiHook
        from airflow.sdk import BaseHook

        from airflow_provider_mailpartner.metrics import emit
        from airflow_provider_mailpartner.sql_mirror import SqlMirror

        started = time.monotonic()
        hook = BaseHook.get_connection(self.sql_conn_id).get_hook()  # type: ignore[no-untyped-call]
        if not isinstance(hook, DbApiHook):
            raise TypeError(
                f"connection {self.sql_conn_id!r} is not a SQL database (its hook is {type(hook).__name__})"
            )
        conn = hook.get_conn()
        try:
            mirror = SqlMirror(conn, hook.placeholder, self.table, keep_history=self.keep_history)
            summary = mirror.run(_whole_list(self.unsubscribes), datetime.now(UTC), self.marking)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()
        self.log.info(
            "Committed to %s in %.2f s: %d entries in %s, %d rows opened, %d closed; %d invalid addresses; "
            "%d contacts marked, %d unmarked",
            self.sql_conn_id,
            time.monotonic() - started,
            summary["entries"],
            summary["table"],
            summary["opened"],
            summary["closed"],
            summary["invalid"],
            summary["contacts_marked"],
            summary["contacts_unmarked"],
        )
        if summary["not_mirrored"]:
            self.log.warning(
                "%d odd entries without a usable id or date have no row in %s; their addresses still mark contacts",
                summary["not_mirrored"],
                summary["table"],
            )
        counts = {name: value for name, value in summary.items() if isinstance(value, int)}
        emit("sql_mirror", counts, tags={"dag_id": self.dag_id, "task_id": self.task_id})
        return summary


def _whole_list(unsubscribes: Mapping[str, object] | str) -> Iterator[UnsubscribeRecord]:
    """The manifest's records; refused when the list was filtered (a mirror of part of it would delete the rest)."""
    from airflow_provider_mailpartner.operators.suppression import manifest_of
    from airflow_provider_mailpartner.record_files import manifest_records

    manifest = manifest_of(unsubscribes)
    if manifest is None:
        raise ValueError("unsubscribes must be the list operator's manifest (fetch.output), not a path")
    if "fetched" not in manifest:
        raise ValueError(
            "the manifest does not say how many entries the whole list had ('fetched'): give the manifest "
            "of an UnsubscribeListOperator task (fetch.output), which does"
        )
    if manifest["fetched"] != manifest.get("count"):
        raise ValueError(
            f"the manifest describes {manifest.get('count')} of the list's {manifest.get('fetched')} entries "
            "(created_since filtered it): a mirror of part of the list would close every other entry. "
            "Mirror the output of a fetch task without created_since."
        )
    return manifest_records(manifest)
