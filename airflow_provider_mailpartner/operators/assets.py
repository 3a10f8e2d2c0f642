"""Output paths declared as Airflow assets, so that other DAGs can be scheduled on the files the operators write."""

from __future__ import annotations

import posixpath
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import Asset


def asset_uri(path: str) -> str:
    """The path as an asset URI: one URI however the path is spelled.

    Without the connection id some storage URLs carry (``s3://conn@bucket``) or a trailing ``/``; a
    local path as ``file://`` with its ``//`` and ``/./`` folded. Two spellings would make two
    assets, and Airflow deactivates one of them, failing the task that declares it. A DAG scheduled
    on the file declares ``Asset(asset_uri(path))`` to meet the same asset.
    """
    parts = urlsplit(path)
    if parts.scheme in ("", "file"):
        return f"file://{posixpath.normpath(parts.path)}"
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], path=parts.path.rstrip("/")))


def outlets_declaring(path: str, given: object) -> list[object]:
    """The ``outlets`` argument given (one, a list, or None), with an :class:`Asset` for ``path`` unless it has one."""
    outlets = [] if given is None else list(given) if isinstance(given, (list, tuple)) else [given]
    uri = asset_uri(path)
    if all(getattr(outlet, "uri", None) != uri for outlet in outlets):
        outlets.append(Asset(uri))
    return outlets


def untemplated(path: object) -> str | None:
    """``path`` as text when it is a fixed path (no Jinja template), the kind that can be an asset."""
    return None if path is None or "{{" in str(path) else str(path)
