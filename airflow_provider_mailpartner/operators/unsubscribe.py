"""UnsubscribeListOperator: MailPartner's unsubscribe list fetched to XCom or storage, with its changes.

``AddUnsubscribesOperator`` lives in :mod:`~airflow_provider_mailpartner.operators.add_unsubscribes`
and is imported here too: this is its public path. Only light imports at module level: DAG files
import this at parse time. The hook, requests and object storage load when a task runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from airflow.sdk import Asset

from airflow_provider_mailpartner.list_changes import CHANGE_KINDS, Guards
from airflow_provider_mailpartner.list_state import default_state_root
from airflow_provider_mailpartner.operators.add_unsubscribes import AddUnsubscribesOperator as AddUnsubscribesOperator
from airflow_provider_mailpartner.operators.address_push import DEFAULT_CONN_ID
from airflow_provider_mailpartner.operators.assets import asset_uri, outlets_declaring, untemplated
from airflow_provider_mailpartner.operators.templated import TemplatedOperator
from airflow_provider_mailpartner.record_files import (
    OUTPUT_FORMATS,
    ListManifest,
    OutputFormat,
    blocks,
    write_records,
)
from airflow_provider_mailpartner.records import Counted, ListEntries, UnsubscribeRecord
from airflow_provider_mailpartner.storage import refuse_relative, storage_path

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_mailpartner.hashed_lists import HashedListPublication

DEFAULT_MAX_XCOM_RECORDS = 20_000
"""Airflow 3 tasks hang or die on large XComs; past this many records, write to storage."""

RATIO_PARAM = "mailpartner_max_removed_ratio"
"""DAG param (or run conf key) that sets the list operator's ``max_removed_ratio`` for one run."""
ALLOW_EMPTY_PARAM = "mailpartner_allow_empty"
"""DAG param (or run conf key) that sets the list operator's ``allow_empty`` for one run."""


class UnsubscribeListOperator(TemplatedOperator):
    """Fetch MailPartner's whole unsubscribe list, to XCom or to a file in object storage.

    Without ``output_path`` the records (``id``, ``email``, ``created_at`` in ISO 8601 with offset)
    are returned as XCom, up to ``max_xcom_records``. With it, they are streamed to the file
    (memory does not grow with the list) and published atomically: a failed run leaves any
    previous file intact and no partial file behind; a rerun replaces the file.

    :param mailpartner_conn_id: the ``mailpartner`` connection holding the API key.
    :param output_path: where to write, e.g.
        ``file:///data/mailpartner/{{ dag.dag_id }}/{{ run_id }}/unsubscribes.jsonl`` or
        ``s3://aws_conn@bucket/key`` (templated; ``{{ ds }}`` is undefined in manual and
        asset-triggered runs). A path without a template is declared as an
        :class:`~airflow.sdk.Asset` outlet, so downstream DAGs can be scheduled on it; each asset
        event carries the manifest in its ``extra``, so the consumer can check the file it reads.
    :param output_format: ``jsonl`` (default), ``csv`` (header ``id,email,created_at``) or ``json``.
    :param response_format: ``json`` or ``xml``; overrides the connection's.
    :param created_since: keep only entries created at or after this moment: an ISO 8601 string
        or a datetime (templated). The API has no filter, so the whole list is fetched and filtered
        here. A value without an offset is read in the connection's time zone.
    :param max_xcom_records: without ``output_path``, fail rather than push more records than this.
    :param track_changes: with ``output_path``, compare the list with the previous run's snapshot:
        write the changes beside the file (``<name>.changes.<ext>``: ``added``, ``removed``,
        ``changed`` entries, matched by id), count them in the manifest, and refuse (publishing
        nothing) a list that lost too much. False turns tracking and the guards off.
    :param state_path: the folder of the tracking state and its snapshots (templated). By default
        ``.mailpartner-state`` in the folder of ``output_path`` up to its first template.
    :param max_removed_ratio: refuse the list when more than this share of the previous snapshot's
        entries are gone (default 0.05). The DAG param ``mailpartner_max_removed_ratio`` overrides it
        for one run.
    :param allow_empty: accept an empty list when the previous one had entries (refused by default,
        whatever the ratio). The DAG param ``mailpartner_allow_empty`` overrides it for one run.
    :param hashed_path: with ``output_path``, also write the whole list hashed here (templated): one
        hex digest of each normalised address per line, sorted, each once, and
        ``<hashed_path>.manifest.json`` beside it, to exchange with partners who must not see the
        addresses. A fixed path is declared as an asset too.
    :param hash_algorithm: ``sha256`` (default), ``md5`` (for ASCII addresses both are the common
        convention: the digest of the trimmed, lower-cased address), or ``hmac-sha256``.
    :param hash_conn_id: for ``hmac-sha256``: the connection whose password is the secret shared with
        the partner (masked in logs, never written).
    :param strict: refuse the whole list for one odd entry. By default an odd entry (an id of 0, a
        date in another format, an address without ``@``) is kept with ``odd`` set to its reasons
        and a null ``id``/``created_at`` where those could not be read; one without an address is
        skipped. Both are counted in the manifest's ``odd_entries`` and logged at WARNING per reason.
    :return: the records (XCom mode), or the manifest (storage mode): ``{"path", "format", "count",
        "sha256", "fetched", "odd_entries"}``, and with change tracking ``added``, ``removed``,
        ``changed``, ``previous_count``, ``previous_sha256``, ``snapshot_sha256``, ``first_snapshot``,
        ``changes_path``, ``changes_sha256``; with ``hashed_path``, ``hashed_list``: the hashed list's
        manifest.
    """

    template_fields: Sequence[str] = ("output_path", "created_since", "state_path", "hashed_path")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        mailpartner_conn_id: str = DEFAULT_CONN_ID,
        output_path: str | ObjectStoragePath | None = None,
        output_format: OutputFormat = "jsonl",
        response_format: str | None = None,
        created_since: str | datetime | None = None,
        max_xcom_records: int = DEFAULT_MAX_XCOM_RECORDS,
        track_changes: bool = True,
        state_path: str | ObjectStoragePath | None = None,
        max_removed_ratio: float = 0.05,
        allow_empty: bool = False,
        hashed_path: str | ObjectStoragePath | None = None,
        hash_algorithm: str = "sha256",
        hash_conn_id: str | None = None,
        strict: bool = False,
        **kwargs: Any,
    ) -> None:
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, not {output_format!r}")
        if output_path is not None:
            if not str(output_path).strip():
                raise ValueError("output_path is empty: give a path, or leave it out to return the records as XCom")
            refuse_relative(output_path, "output_path")
            _check_suffix(output_path, output_format)
        if (fixed := untemplated(output_path)) is not None:
            kwargs["outlets"] = outlets_declaring(fixed, kwargs.pop("outlets", None))
        if hashed_path is not None:
            _check_hashed(hashed_path, output_path, hash_algorithm, hash_conn_id)
            if (fixed_hashed := untemplated(hashed_path)) is not None:
                kwargs["outlets"] = outlets_declaring(fixed_hashed, kwargs.pop("outlets", None))
        Guards(max_removed_ratio, allow_empty)  # refuses a ratio outside [0, 1] when the DAG is parsed
        if state_path is not None:
            refuse_relative(state_path, "state_path")
        super().__init__(**kwargs)
        self.mailpartner_conn_id = mailpartner_conn_id
        self.output_path = output_path
        self.output_format = output_format
        self.response_format = response_format
        self.created_since = created_since
        self.max_xcom_records = max_xcom_records
        self.track_changes = track_changes
        self.state_path = state_path
        # From the path as written: its part before the first template stays the same from run to run.
        self._default_state_root = None if output_path is None else default_state_root(output_path)
        self.max_removed_ratio = max_removed_ratio
        self.allow_empty = allow_empty
        self.hashed_path = hashed_path
        self.hash_algorithm = hash_algorithm
        self.hash_conn_id = hash_conn_id
        self.strict = strict

    def execute(self, context: Context) -> list[UnsubscribeRecord] | ListManifest:
        from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook

        hook = MailPartnerHook(self.mailpartner_conn_id, response_format=self.response_format, strict=self.strict)
        since = _moment(self.created_since, hook.settings.timezone)
        started = time.monotonic()
        records = hook.iter_unsubscribe_records()
        keep = None if since is None else partial(_created_since, since)  # the API has no filter
        if self.output_path is not None:
            _check_suffix(self.output_path, self.output_format)  # rendered: checked again
            manifest = self._publish(context, records, keep)
            self.log.info(
                "%d unsubscribes fetched from MailPartner, %d kept%s, written to %s in %.2f s",
                manifest["fetched"],
                manifest["count"],
                f" (created since {since.isoformat()})" if since else "",
                manifest["path"],
                time.monotonic() - started,
            )
            self._describe_asset_event(context, str(self.output_path), manifest)
            changes: dict[str, int] = {name: cast(int, v) for name, v in manifest.items() if name in CHANGE_KINDS}
            self._emit_metrics(manifest["fetched"], manifest["count"], {**changes, **_odd_counts(records)})
            return manifest
        fetched = Counted(records)
        result = self._to_xcom(fetched if keep is None else filter(keep, fetched))
        self.log.info(
            "%d unsubscribes fetched from MailPartner, %d kept%s, returned as XCom in %.2f s",
            fetched.count,
            len(result),
            f" (created since {since.isoformat()})" if since else "",
            time.monotonic() - started,
        )
        self._emit_metrics(fetched.count, len(result), _odd_counts(records))
        return result

    def _emit_metrics(self, fetched: int, kept: int, changes: Mapping[str, int]) -> None:
        """``mailpartner.unsubscribe_list.*``: fetched, kept, odd and the changes as counters, the list's size as a
        gauge."""
        from airflow_provider_mailpartner.metrics import emit

        tags = {"dag_id": self.dag_id, "task_id": self.task_id, "conn_id": self.mailpartner_conn_id}
        emit("unsubscribe_list", {"fetched": fetched, "kept": kept, **changes}, tags=tags, gauges={"size": fetched})

    def _publish(
        self,
        context: Context,
        records: ListEntries[UnsubscribeRecord],
        keep: Callable[[UnsubscribeRecord], bool] | None,
    ) -> ListManifest:
        if self.hashed_path is None:
            manifest = self._published(context, records, keep)
        else:
            manifest = self._published_with_hashed_list(context, records, keep)
        manifest["odd_entries"] = dict(records.odd_entries)
        return manifest

    def _published_with_hashed_list(
        self,
        context: Context,
        records: Iterable[UnsubscribeRecord],
        keep: Callable[[UnsubscribeRecord], bool] | None,
    ) -> ListManifest:
        """:meth:`_published`, the whole list hashed on the way: every file is complete in staging before
        any is moved, the hashed list last (a refused run publishes neither)."""
        from airflow_provider_mailpartner.hashed_lists import hasher_from_connection, publishing_hashed_list

        output = storage_path(str(self.output_path), "output_path")
        hashed = storage_path(str(self.hashed_path), "hashed_path")
        _check_distinct_targets(str(hashed), str(output))  # (rendered: checked again)
        hasher = hasher_from_connection(self.hash_algorithm, self.hash_conn_id)
        with publishing_hashed_list(hashed, hasher, lineage=False) as publication:  # (lineage: OpenLineage, below)
            manifest = self._published(context, _hashed_on_the_way(records, publication), keep)
        manifest["hashed_list"] = dict(publication.finish())
        self._describe_asset_event(context, str(hashed), manifest["hashed_list"])
        return manifest

    def _published(
        self,
        context: Context,
        records: Iterable[UnsubscribeRecord],
        keep: Callable[[UnsubscribeRecord], bool] | None,
    ) -> ListManifest:
        path = storage_path(str(self.output_path), "output_path")
        if not self.track_changes:
            fetched = Counted(records)
            # lineage=False: get_openlineage_facets_on_complete reports the file.
            written = write_records(
                fetched if keep is None else filter(keep, fetched), path, self.output_format, lineage=False
            )
            # (with fetched, a consumer can tell the whole list from a filtered one)
            return cast(ListManifest, {**written, "fetched": fetched.count, "odd_entries": {}})
        from airflow_provider_mailpartner.list_snapshots import Tracking, publish_with_changes
        from airflow_provider_mailpartner.list_state import state_folder

        root = self.state_path or self._default_state_root
        if root is None:
            raise ValueError(
                "output_path leaves no folder for the change-tracking state before its first template: give "
                "state_path (a folder that stays the same from run to run), or track_changes=False"
            )
        folder = state_folder(root, self.dag_id, self.task_id, self.mailpartner_conn_id)
        tracking = Tracking(folder, self._guards(context), self.mailpartner_conn_id, context.get("run_id"))
        return publish_with_changes(records, path, self.output_format, tracking, keep)

    def _guards(self, context: Context) -> Guards:
        """The task's guards, with this run's DAG params over them (:data:`RATIO_PARAM`, :data:`ALLOW_EMPTY_PARAM`)."""
        params = context.get("params") or {}
        ratio = params.get(RATIO_PARAM)
        allow_empty = params.get(ALLOW_EMPTY_PARAM)
        guards = Guards(
            self.max_removed_ratio if ratio is None else _ratio(ratio),
            self.allow_empty if allow_empty is None else _flag(allow_empty, ALLOW_EMPTY_PARAM),
        )
        if (guards.max_removed_ratio, guards.allow_empty) != (self.max_removed_ratio, self.allow_empty):
            self.log.warning(
                "Guards for this run set by DAG params: max_removed_ratio=%s, allow_empty=%s (the task says %s, %s)",
                guards.max_removed_ratio,
                guards.allow_empty,
                self.max_removed_ratio,
                self.allow_empty,
            )
        return guards

    def _to_xcom(self, entries: Iterable[UnsubscribeRecord]) -> list[UnsubscribeRecord]:
        records: list[UnsubscribeRecord] = []
        for entry in entries:
            if len(records) >= self.max_xcom_records:
                raise ValueError(
                    f"More than max_xcom_records={self.max_xcom_records} unsubscribes: too many for XCom, "
                    "which Airflow 3 handles badly at this size. Set output_path to write them to storage "
                    "(the task then returns a small manifest), or raise max_xcom_records."
                )
            records.append(entry)
        return records

    def _describe_asset_event(self, context: Context, path: str, manifest: Mapping[str, object]) -> None:
        """Put the manifest on the asset event, so a consumer can check the file it is handed (and see the changes)."""
        uri = asset_uri(path)
        outlet_events = context.get("outlet_events")
        for outlet in self.outlets:
            if outlet_events is not None and isinstance(outlet, Asset) and outlet.uri == uri:
                outlet_events[outlet].extra.update(manifest)  # type: ignore[arg-type]  # (JSON values only)

    def get_openlineage_facets_on_complete(self, task_instance: object) -> OperatorLineage[Any, Any]:
        """Lineage for the OpenLineage provider: MailPartner's unsubscribe list in, the written file out.

        Called by the provider's listener when the task ends (never at DAG-parse time), with the
        templates rendered. The list is ``mailpartner://<host>`` / ``unsubscribe/list``; the file has
        the name the provider gives the same path as an asset. In XCom mode there is no output.
        """
        from airflow.providers.openlineage.extractors import OperatorLineage

        from airflow_provider_mailpartner.lineage import storage_dataset, unsubscribe_list_datasets

        outputs = [] if self.output_path is None else [storage_dataset(storage_path(self.output_path), records=True)]
        if self.hashed_path is not None:
            outputs.append(storage_dataset(storage_path(self.hashed_path), records=False))
        return OperatorLineage(inputs=unsubscribe_list_datasets(self.mailpartner_conn_id), outputs=outputs)


def _check_hashed(hashed_path: object, output_path: object, algorithm: str, conn_id: str | None) -> None:
    """The hashed list's arguments, checked when the DAG is parsed (no connection is read)."""
    from airflow_provider_mailpartner.hashed_lists import check_hash_arguments

    if output_path is None:
        raise ValueError("hashed_path needs output_path: the hashed list is written beside the list's file")
    refuse_relative(hashed_path, "hashed_path")
    check_hash_arguments(algorithm, conn_id)
    if untemplated(hashed_path) is not None and untemplated(output_path) is not None:
        _check_distinct_targets(str(hashed_path), str(output_path))


def _hashed_on_the_way(
    records: Iterable[UnsubscribeRecord], publication: HashedListPublication
) -> Iterator[UnsubscribeRecord]:
    """``records`` passed through, each block also hashed (the whole list: before any filter); once they are
    all read, the hashed list is finished in staging, before the list's own files are moved."""
    for block in blocks(records):
        publication.write(block)
        yield from block
    publication.finish()


def _check_distinct_targets(hashed_path: str, output_path: str) -> None:
    """Refuse a hashed list that would overwrite the list, its changes file, or the other way round."""
    from airflow_provider_mailpartner.hashed_lists import MANIFEST_SUFFIX

    hashed = {asset_uri(hashed_path), asset_uri(hashed_path + MANIFEST_SUFFIX)}
    stem, dot, suffix = output_path.rpartition(".")
    if hashed & {asset_uri(output_path), asset_uri(f"{stem}.changes{dot}{suffix}" if dot else output_path)}:
        raise ValueError(f"hashed_path {hashed_path!r} would overwrite output_path or its changes file: give another")


def _odd_counts(records: ListEntries[UnsubscribeRecord]) -> dict[str, int]:
    return {f"odd.{reason}": count for reason, count in records.odd_entries.items()}


def _created_since(since: datetime, record: UnsubscribeRecord) -> bool:
    # An entry whose date could not be read is kept: dropping an unsubscribe is the failure to avoid.
    return record["created_at"] is None or datetime.fromisoformat(record["created_at"]) >= since


def _ratio(value: object) -> float:
    try:
        ratio = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ratio = -1.0
    if not 0 <= ratio <= 1:
        raise ValueError(f"the DAG param {RATIO_PARAM} must be a number between 0 and 1, not {value!r}")
    return ratio


def _flag(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("true", "false"):
        return str(value).strip().lower() == "true"
    raise ValueError(f"the DAG param {name} must be true or false, not {value!r}")


def _moment(value: str | datetime | None, zone: ZoneInfo) -> datetime | None:
    if value is None or str(value).strip() in ("", "None"):  # e.g. a first run's {{ prev_... }}
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"created_since must be an ISO 8601 date or datetime, not {value!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _check_suffix(path: str | ObjectStoragePath, output_format: OutputFormat) -> None:
    """Refuse a file named for one record format and written in another (``list.csv`` holding JSON Lines)."""
    text = str(path)
    if "{{" in text:
        return
    suffix = PurePosixPath(urlsplit(text).path).suffix.lstrip(".").lower()
    if suffix in OUTPUT_FORMATS and suffix != output_format:
        raise ValueError(
            f"output_path {text!r} is named .{suffix} but output_format is {output_format!r}: set "
            f"output_format={suffix!r}, or name the file .{output_format}"
        )
