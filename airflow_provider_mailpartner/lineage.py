"""OpenLineage datasets for the operators: MailPartner's unsubscribe list, and the files they write or read.

The OpenLineage provider (``apache-airflow-providers-openlineage``) calls an operator's
``get_openlineage_facets_on_complete`` when a task ends; those methods import this module then.
Nothing imports it at DAG-parse time, and it imports OpenLineage only inside its functions, so
without the provider installed nothing here ever runs.

Dataset names follow the OpenLineage naming conventions:

- the unsubscribe list is ``mailpartner://<host>[:<port>]`` / ``unsubscribe/list``, the host
  taken from the connection's base URL (never its user info, path or query: the API key must not
  reach a lineage backend);
- a file in object storage gets the namespace and name the OpenLineage provider gives the same
  path as an Airflow asset (the operator's outlet, or a file another task reads through
  ``ObjectStoragePath``), so the lineage graph joins them: ``file`` / ``/abs/path`` for a local
  file, ``s3://bucket`` / ``key`` for S3, and so on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow.providers.common.compat.openlineage.facet import Dataset, DatasetFacet
    from airflow.sdk import ObjectStoragePath

NAMESPACE_SCHEME = "mailpartner"
UNSUBSCRIBE_LIST_NAME = "unsubscribe/list"
_DEFAULT_PORTS = {"https": 443, "http": 80}
_LOCAL_PROTOCOLS = ("", "file", "local")
_RECORD_FIELDS = (
    ("id", "integer", "MailPartner's id of the entry"),
    ("email", "string", "the address as MailPartner sent it, stripped of surrounding white space"),
    ("created_at", "string", "when the address was listed: ISO 8601 with offset"),
)


def unsubscribe_list_namespace(base_url: str) -> str:
    """``mailpartner://host[:port]`` for a connection's base URL; the port only when not the scheme's default."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return f"{NAMESPACE_SCHEME}://{host}"


def unsubscribe_list_datasets(conn_id: str) -> list[Dataset]:
    """The unsubscribe list behind connection ``conn_id``, as a one-item list; empty when the connection
    cannot be read (the task has failed on that already: lineage must not raise a second error)."""
    from airflow_provider_mailpartner.exceptions import MailPartnerError
    from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook

    try:
        base_url = MailPartnerHook(conn_id).settings.base_url
    except MailPartnerError:
        return []
    return [unsubscribe_list_dataset(base_url)]


def unsubscribe_list_dataset(base_url: str) -> Dataset:
    """The unsubscribe list of the MailPartner account behind ``base_url``, as an OpenLineage dataset."""
    from airflow.providers.common.compat.openlineage.facet import Dataset, DocumentationDatasetFacet

    return Dataset(
        namespace=unsubscribe_list_namespace(base_url),
        name=UNSUBSCRIBE_LIST_NAME,
        facets={
            "schema": _record_schema(),
            "documentation": DocumentationDatasetFacet(
                description="MailPartner's unsubscribe list: every address the account must not send to."
            ),
        },
    )


def storage_dataset(path: ObjectStoragePath, *, records: bool) -> Dataset:
    """``path`` as the OpenLineage dataset the OpenLineage provider derives for the same asset.

    :param records: the file holds unsubscribe records (``id``, ``email``, ``created_at``): give
        it their schema facet.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    facets: dict[str, DatasetFacet] = {"schema": _record_schema()} if records else {}
    local = path.protocol in _LOCAL_PROTOCOLS
    key = path.key.lstrip("/")
    bucket = path.bucket.rpartition("@")[2]  # Airflow 3.1 (universal_pathlib 0.2) keeps "conn_id@" in it
    uri = f"file:///{key}" if local else f"{path.protocol}://{bucket}/{key}"  # no conn id: not in a name
    translated = _translate_asset(uri)
    if translated is not None:
        return Dataset(namespace=translated.namespace, name=translated.name, facets=facets)
    # No converter registered for the scheme (e.g. s3 without the Amazon provider): the same convention.
    if local:
        return Dataset(namespace="file", name=f"/{key}", facets=facets)
    return Dataset(namespace=f"{path.protocol}://{bucket}", name=key, facets=facets)


def _translate_asset(uri: str) -> Dataset | None:
    """What the OpenLineage provider makes of ``uri`` as an Airflow asset, or None when it has no converter."""
    from airflow.providers.common.compat.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    try:
        asset = Asset(uri)
    except ValueError:  # a URI Airflow refuses as an asset: no converter will know it either
        return None
    dataset: Dataset | None = translate_airflow_asset(asset, None)
    return dataset


def _record_schema() -> DatasetFacet:
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacet, SchemaDatasetFacetFields

    return SchemaDatasetFacet(
        fields=[
            SchemaDatasetFacetFields(name=name, type=kind, description=description)
            for name, kind, description in _RECORD_FIELDS
        ]
    )
