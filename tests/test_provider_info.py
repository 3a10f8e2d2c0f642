"""Airflow discovers the provider, its hook and its connection form, and says nothing alarming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import pytest
from packaging.version import Version

import airflow_provider_mailpartner
from airflow_provider_mailpartner import get_provider_info

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
EXTRA_KEYS = {"response_format", "timeout", "max_retries", "retry_backoff", "timezone", "allow_insecure_http"}


def test_provider_info_is_valid_against_airflows_schema():
    from airflow.providers_manager import _create_provider_info_schema_validator

    _create_provider_info_schema_validator().validate(get_provider_info())


def test_connection_form_declares_every_extra_field_and_hides_the_unused_ones():
    (conn,) = get_provider_info()["connection-types"]
    assert conn["hook-class-name"] == "airflow_provider_mailpartner.hooks.mailpartner.MailPartnerHook"
    assert set(conn["conn-fields"]) == EXTRA_KEYS
    assert conn["conn-fields"]["response_format"]["schema"]["enum"][:2] == ["json", "xml"]
    behaviour = conn["ui-field-behaviour"]
    assert behaviour["relabeling"]["password"] == "API Key"
    assert behaviour["placeholders"]["host"] == "https://api.mailpartner.fr"
    assert set(behaviour["hidden-fields"]) <= {"description", "host", "port", "login", "password", "schema", "extra"}
    assert "password" not in behaviour["hidden-fields"]
    assert "host" not in behaviour["hidden-fields"]


def test_form_metadata_matches_the_settings_the_hook_reads():
    from airflow_provider_mailpartner.connection_settings import KNOWN_EXTRA_KEYS

    assert set(get_provider_info()["connection-types"][0]["conn-fields"]) == KNOWN_EXTRA_KEYS


def test_providers_manager_discovers_the_provider():
    from airflow.providers_manager import ProvidersManager

    provider = ProvidersManager().providers["airflow-provider-mailpartner"]
    assert provider.version == airflow_provider_mailpartner.__version__


@pytest.mark.skipif(
    Version(airflow.__version__) < Version("3.2"),
    reason="Airflow 3.1 does not read the declarative form (conn-fields, ui-field-behaviour): its UI shows "
    "the generic connection form (docs/compatibility.md)",
)
def test_providers_manager_reads_the_declarative_form():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.field_behaviours["mailpartner"]["relabeling"]["password"] == "API Key"
    widgets = {name for name in manager.connection_form_widgets if name.startswith("extra__mailpartner__")}
    assert widgets == {f"extra__mailpartner__{key}" for key in EXTRA_KEYS}


def test_task_runtime_resolves_the_hook_class():
    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as Manager
    except ImportError:  # Airflow 3.1: tasks resolve hooks through the core ProvidersManager
        from airflow.providers_manager import ProvidersManager as Manager

    hook_info = Manager().hooks["mailpartner"]
    assert hook_info is not None
    assert hook_info.hook_class_name.endswith("MailPartnerHook")
    assert hook_info.connection_id_attribute_name == "mailpartner_conn_id"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["providers", "list", "-o", "json"], "airflow-provider-mailpartner"),
        (["providers", "hooks", "-o", "json"], "airflow_provider_mailpartner.hooks.mailpartner.MailPartnerHook"),
        (["providers", "get", "airflow-provider-mailpartner", "-o", "json"], "airflow-provider-mailpartner"),
    ],
)
def test_airflow_cli_shows_the_provider_without_warnings(args, expected, tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    result = subprocess.run([AIRFLOW, *args], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    json.loads(result.stdout)
    noise = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "warn" in line.lower() or "error" in line.lower()
    ]
    assert noise == []
