"""``[core] hostname_callable`` for the Celery workers the deployment tests start on one machine.

Real workers run on machines of their own, each with its hostname; these share one, so each
worker's environment names it, and its task instances record that name.
"""

from __future__ import annotations

import os

WORKER_HOSTNAME_ENV = "MAILPARTNER_TEST_WORKER_HOSTNAME"


def hostname() -> str:
    return os.environ[WORKER_HOSTNAME_ENV]
