"""The main job as one operator: a contact file, minus everyone on the unsubscribe list.

Only light imports at module level: DAG files import this at parse time.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_mailpartner.contact_files import check_options
from airflow_provider_mailpartner.operators.assets import outlets_declaring, untemplated
from airflow_provider_mailpartner.operators.templated import TemplatedOperator
from airflow_provider_mailpartner.storage import refuse_relative

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_mailpartner.suppression import SuppressionSet


class SuppressContactsOperator(TemplatedOperator):
    """Remove every unsubscribed address from a contact CSV: a clean file to send to, and a report of the rest.

    The contact file is read as a spreadsheet wrote it (UTF-8, UTF-8 with a BOM or cp1252; ``,``
    ``;`` tab or ``|``; the address column by its usual names), its kept rows copied byte for byte,
    in order; the report (``row,email,reason,unsubscribe_id``) is written in the same dialect. It
    fails closed: a list file that is not what its manifest describes, an unreadable contact file or
    any other error publishes nothing, and the previous clean file stays as it was. See
    :func:`~airflow_provider_mailpartner.suppression.suppress_csv`.

    :param unsubscribes: the unsubscribe list: best the list operator's manifest
        (``fetch.output``), whose file is checked against its SHA-256 and count; or the path of a
        record file that operator wrote (``.jsonl``, ``.csv``, ``.json``) (templated).
    :param contacts_path: the contact CSV, any ``ObjectStoragePath`` URL (templated).
    :param clean_path: where the contacts that may be mailed go (templated). A path without a
        template is declared as an :class:`~airflow.sdk.Asset` outlet.
    :param report_path: where the rows left out are listed, with the reason and unsubscribe id (templated).
    :param email_column: the address column's name; by default the one named like an address.
    :param delimiter: the separator; by default the one that splits the header line into the most cells.
    :param encoding: ``utf-8``, ``utf-8-sig`` or ``cp1252``; by default found from the file's start.
    :param output_encoding: the clean file's and the report's, when the tool that reads them wants
        another than the contact file's (``utf-8`` for a cp1252 export); by default the same.
    :return: ``{"rows_in", "rows_out", "suppressed", "invalid", "clean_path", "report_path", "seconds"}``.
    """

    template_fields: Sequence[str] = ("unsubscribes", "contacts_path", "clean_path", "report_path")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        unsubscribes: Mapping[str, object] | str,
        contacts_path: str | ObjectStoragePath,
        clean_path: str | ObjectStoragePath,
        report_path: str | ObjectStoragePath,
        email_column: str | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        output_encoding: str | None = None,
        **kwargs: Any,
    ) -> None:
        for name, path in (("contacts_path", contacts_path), ("clean_path", clean_path), ("report_path", report_path)):
            if not str(path).strip():
                raise ValueError(f"{name} is empty: give the path of a file")
            refuse_relative(path, name)
        check_options(encoding, delimiter)
        check_options(output_encoding)
        if (fixed := untemplated(clean_path)) is not None:
            kwargs["outlets"] = outlets_declaring(fixed, kwargs.pop("outlets", None))
        super().__init__(**kwargs)
        self.unsubscribes = unsubscribes
        self.contacts_path = contacts_path
        self.clean_path = clean_path
        self.report_path = report_path
        self.email_column = email_column
        self.delimiter = delimiter
        self.encoding = encoding
        self.output_encoding = output_encoding

    def execute(self, context: Context) -> dict[str, object]:
        from airflow_provider_mailpartner.metrics import emit
        from airflow_provider_mailpartner.storage import storage_path
        from airflow_provider_mailpartner.suppression import suppress_csv

        summary = suppress_csv(
            storage_path(self.contacts_path, "contacts_path"),  # rendered: checked again, by name
            suppression_set(self.unsubscribes),
            storage_path(self.clean_path, "clean_path"),
            storage_path(self.report_path, "report_path"),
            email_column=self.email_column,
            delimiter=self.delimiter,
            encoding=self.encoding,
            output_encoding=self.output_encoding,
        )
        counts = {"rows_in": summary.rows_in, "rows_out": summary.rows_out, "suppressed": summary.suppressed}
        emit(
            "suppression", {**counts, "invalid": summary.invalid}, tags={"dag_id": self.dag_id, "task_id": self.task_id}
        )
        return summary.as_dict()

    def get_openlineage_facets_on_complete(self, task_instance: object) -> OperatorLineage[Any, Any]:
        """Lineage for the OpenLineage provider: the contact file and the list in, the clean file and report out."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        from airflow_provider_mailpartner.lineage import storage_dataset
        from airflow_provider_mailpartner.storage import storage_path

        inputs = [storage_dataset(storage_path(self.contacts_path), records=False)]
        list_path = _list_path(self.unsubscribes)
        if list_path is not None:
            inputs.append(storage_dataset(storage_path(list_path), records=True))
        outputs = [storage_dataset(storage_path(path), records=False) for path in (self.clean_path, self.report_path)]
        return OperatorLineage(inputs=inputs, outputs=outputs)


def suppression_set(unsubscribes: Mapping[str, object] | str) -> SuppressionSet:
    """The set ``unsubscribes`` describes: a manifest (checked against its file), or a record file's path.

    A manifest templated from XCom arrives as its text (``"{'path': ...}"``) and is read back.
    """
    from airflow_provider_mailpartner.record_files import read_records
    from airflow_provider_mailpartner.storage import storage_path
    from airflow_provider_mailpartner.suppression import SuppressionSet

    manifest = manifest_of(unsubscribes)
    if manifest is not None:
        return SuppressionSet.from_manifest(manifest)
    return SuppressionSet.from_records(read_records(storage_path(str(unsubscribes), "unsubscribes")))


def manifest_of(unsubscribes: Mapping[str, object] | str) -> Mapping[str, object] | None:
    """``unsubscribes`` as a manifest, or None for a path (one templated from XCom arrives as text: read back).

    Records (a list operator's XCom without ``output_path``) are refused, without quoting them: they
    hold addresses.
    """
    if isinstance(unsubscribes, Mapping):
        return unsubscribes
    text = str(unsubscribes).strip()
    if not isinstance(unsubscribes, str) or text.startswith("["):
        raise ValueError(
            "unsubscribes holds records, not the list operator's manifest: give the fetch task an output_path "
            "and pass its output (the manifest: paths and counts, no addresses in XCom)"
        )
    if not text.startswith("{"):
        return None
    from airflow_provider_mailpartner.personal_data import mask_addresses

    shown = repr(mask_addresses(text)[:200])  # (it may be records: addresses are personal data)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"unsubscribes is neither a manifest nor a path: {shown}") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"unsubscribes is neither a manifest nor a path: {shown}")
    return value


def _list_path(unsubscribes: Mapping[str, object] | str) -> str | None:
    """The list file's path, for lineage; None when it cannot be told (lineage must not raise)."""
    try:
        manifest = manifest_of(unsubscribes)
    except ValueError:
        return None
    path = manifest.get("path") if manifest is not None else unsubscribes
    return path if isinstance(path, str) else None
