from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_mailpartner.connection_settings import HookOverrides, resolve_settings
from airflow_provider_mailpartner.exceptions import MailPartnerConfigError


def settings(
    host: str | None = "https://api.mailpartner.fr",
    *,
    password: str | None = "key",
    port: int | None = None,
    extra: dict[str, Any] | None = None,
    **overrides: Any,
):
    return resolve_settings(
        conn_id="mp",
        host=host,
        port=port,
        password=password,
        extra=extra or {},
        overrides=HookOverrides(**overrides),
    )


@pytest.mark.parametrize(
    ("name", "hook_value", "extra_value", "expected"),
    [
        ("timeout", None, None, 10.0),
        ("timeout", None, "7.5", 7.5),
        ("timeout", 3.0, 7.5, 3.0),
        ("timeout", None, "", 10.0),
        ("max_retries", None, None, 5),
        ("max_retries", None, "2", 2),
        ("max_retries", 0, 2, 0),
        ("retry_backoff", None, None, 1.0),
        ("retry_backoff", None, 0.25, 0.25),
        ("retry_backoff", 2.0, 0.25, 2.0),
        ("response_format", None, None, "json"),
        ("response_format", None, "XML", "xml"),
        ("response_format", "json", "xml", "json"),
    ],
)
def test_hook_argument_beats_extra_which_beats_default(name, hook_value, extra_value, expected):
    extra = {} if extra_value is None else {name: extra_value}
    assert getattr(settings(extra=extra, **{name: hook_value}), name) == expected


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://api.mailpartner.fr"),
        ("", None, "https://api.mailpartner.fr"),
        ("api.mailpartner.fr", None, "https://api.mailpartner.fr"),
        ("https://api.mailpartner.fr/", None, "https://api.mailpartner.fr"),
        ("https://api.mailpartner.fr/v1/", None, "https://api.mailpartner.fr"),
        ("http://127.0.0.1", 8025, "http://127.0.0.1:8025"),
        ("http://localhost:8025", None, "http://localhost:8025"),
        ("http://[::1]:8025", None, "http://[::1]:8025"),
        ("https://proxy.example.com/mailpartner", None, "https://proxy.example.com/mailpartner"),
    ],
)
def test_base_url_is_built_from_host_and_port(host, port, expected):
    assert settings(host, port=port).base_url == expected


def test_plain_http_to_a_public_host_is_refused_unless_explicitly_allowed():
    with pytest.raises(MailPartnerConfigError, match=r"Connection 'mp': plain http to 'api.mailpartner.fr'"):
        settings("http://api.mailpartner.fr")
    assert settings("http://api.mailpartner.fr", extra={"allow_insecure_http": "true"}).base_url.startswith("http:")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"password": None}, "no API key"),
        ({"password": "   "}, "no API key"),
        ({"extra": {"response_format": "yaml"}}, "response_format must be one of"),
        ({"extra": {"timeout": "-1"}}, "timeout must be a number from 0.001 to 300"),
        ({"extra": {"timeout": "3600"}}, "timeout must be a number from 0.001 to 300"),
        ({"extra": {"max_retries": 1000}}, "max_retries must be a whole number from 0 to 20"),
        ({"extra": {"retry_backoff": "inf"}}, "retry_backoff must be a number"),
        ({"extra": {"timeout": "soon"}}, "timeout must be a number"),
        ({"extra": {"timeout": "nan"}}, "timeout must be a number"),
        ({"extra": {"max_retries": "1.5"}}, "max_retries must be a whole number"),
        ({"extra": {"max_retries": True}}, "max_retries must be a whole number"),
        ({"extra": {"timezone": "Mars/Olympus"}}, "timezone 'Mars/Olympus' is not a known"),
        ({"extra": {"allow_insecure_http": "maybe"}}, "allow_insecure_http must be true or false"),
        ({"extra": {"respone_format": "xml"}}, "unknown extra field"),
        ({"host": "ftp://api.mailpartner.fr"}, "must be an http"),
        ({"host": "https://"}, "must be an http"),
        ({"host": "https://api.mailpartner.fr:99999"}, "is not a valid URL"),
        ({"host": "https://user:pw@api.mailpartner.fr"}, "plain base URL"),
        ({"host": "https://api.mailpartner.fr/?apiKey=x"}, "plain base URL"),
    ],
)
def test_bad_configuration_names_the_connection_and_the_field(kwargs, message):
    with pytest.raises(MailPartnerConfigError, match=message) as info:
        settings(**kwargs)
    assert str(info.value).startswith("Connection 'mp': ")
    assert info.value.conn_id == "mp"


def test_settings_repr_never_shows_the_key():
    assert "s3cr3t-value" not in repr(settings(password="s3cr3t-value"))


def test_created_at_zone_defaults_to_paris_and_follows_the_extra():
    assert settings().timezone.key == "Europe/Paris"
    assert settings(extra={"timezone": "UTC"}).timezone.key == "UTC"
