"""A MailPartner sandbox: a real HTTP server on 127.0.0.1 that behaves like the MailPartner API.

It serves ``/v1/unsubscribe/list``, ``/v1/unsubscribe/add``, ``/v1/unsubscribe/delete`` and
``/v1/me`` in JSON and positional XML, checks the API key, enforces the rate limit, and injects
faults on demand (latency, HTTP 5xx, 429, error envelopes, resets, truncated or malformed bodies,
HTML pages). Standard library only; it imports neither Airflow nor ``requests``.

In Python::

    from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox

    with MailPartnerSandbox(api_key="k") as sandbox:
        sandbox.backend.generate(1000)
        sandbox.faults.script(Fault.http_error(503), command="unsubscribe/list")
        os.environ.update(sandbox.airflow_env())

In pytest: ``pytest_plugins = ["airflow_provider_mailpartner.testing.pytest_plugin"]`` provides the
``mailpartner_sandbox`` fixture, and ``mailpartner_connection``, which also sets
``AIRFLOW_CONN_MAILPARTNER_DEFAULT`` for the test. From a shell:
``mailpartner-sandbox --port 8025 --seed 1000``. Over HTTP: ``POST /_sandbox/reset``,
``/_sandbox/seed``, ``/_sandbox/faults``, ``GET /_sandbox/state``. The guide is ``docs/sandbox.md``.
"""

from __future__ import annotations

from .backend import Credits, SandboxBackend, UnsubscribeEntry
from .errors import ApiError
from .faults import TRANSIENT_KINDS, Fault, FaultKind, FaultPlan
from .request_log import RequestRecord
from .sandbox import DEFAULT_API_KEY, ConnectionDict, MailPartnerSandbox

__all__ = [
    "DEFAULT_API_KEY",
    "TRANSIENT_KINDS",
    "ApiError",
    "ConnectionDict",
    "Credits",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "MailPartnerSandbox",
    "RequestRecord",
    "SandboxBackend",
    "UnsubscribeEntry",
]
