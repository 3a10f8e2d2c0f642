"""Apache Airflow provider for MailPartner: fetch the unsubscribe list, keep mailing lists clean."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_HOOK_CLASS = "airflow_provider_mailpartner.hooks.mailpartner.MailPartnerHook"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ProvidersManager (and the connection form of its UI).

    The form is declared here and only here: Airflow 3 reads ``conn-fields`` and
    ``ui-field-behaviour`` without importing the hook.
    """
    return {
        "package-name": "airflow-provider-mailpartner",
        "name": "MailPartner",
        "description": "MailPartner (mailpartner.fr) e-mail API: unsubscribe list, opt-out sync, suppression.",
        "integrations": [
            {
                "integration-name": "MailPartner",
                "external-doc-url": "https://www.mailpartner.fr/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "MailPartner",
                "python-modules": ["airflow_provider_mailpartner.hooks.mailpartner"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "mailpartner",
                "hook-class-name": _HOOK_CLASS,
                "hook-name": "MailPartner",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "port", "schema", "extra"],
                    "relabeling": {"password": "API Key", "host": "Base URL"},
                    "placeholders": {
                        "host": "https://api.mailpartner.fr",
                        "password": "your MailPartner API key",
                        "timeout": "10",
                        "max_retries": "5",
                        "retry_backoff": "1.0",
                        "timezone": "Europe/Paris",
                    },
                },
                "conn-fields": {
                    "response_format": {
                        "label": "Response format",
                        "schema": {"type": ["string", "null"], "enum": ["json", "xml"], "default": "json"},
                        "description": "Format MailPartner answers in (_format). Both give identical records.",
                    },
                    "timeout": {
                        "label": "Timeout (s)",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                        "description": "Seconds to wait to connect and between bytes of an answer. Default 10.",
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "schema": {"type": ["integer", "null"], "minimum": 0},
                        "description": "Retries on connection errors, timeouts, HTTP 429/5xx and codes 429/500. "
                        "Default 5. Authentication errors are never retried.",
                    },
                    "retry_backoff": {
                        "label": "Retry backoff (s)",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                        "description": "Base of the exponential backoff between retries (with jitter; "
                        "Retry-After is honoured). Default 1.",
                    },
                    "timezone": {
                        "label": "Time zone of createdAt",
                        "schema": {"type": ["string", "null"]},
                        "description": "IANA zone MailPartner's dates are read in. Default Europe/Paris.",
                    },
                    "allow_insecure_http": {
                        "label": "Allow plain http",
                        "schema": {"type": ["boolean", "null"], "default": False},
                        "description": "The API key travels in the URL: plain http is refused for any host but "
                        "loopback unless this is set.",
                    },
                },
            }
        ],
    }
