"""The package's counts as Airflow metrics, sent wherever the deployment sends Airflow's own.

Airflow's metrics go to StatsD, OpenTelemetry or Datadog as ``[metrics]`` configures them; in a task
process the Task SDK sets that up before the task runs. Counts are counters (summed over runs by
the backend: a spike in ``removed`` is what to alert on) and the list's size is a gauge. Every
metric is tagged with the DAG, the task and the connection; no tag or name holds an address.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "mailpartner"


def emit(event: str, counts: Mapping[str, int], *, tags: Mapping[str, str], gauges: Mapping[str, int] = {}) -> None:
    """``mailpartner.<event>.<name>``: each of ``counts`` as a counter, each of ``gauges`` as a gauge."""
    stats = _stats()
    for name, value in counts.items():
        stats.incr(f"{PREFIX}.{event}.{name}", count=value, tags=dict(tags))
    for name, value in gauges.items():
        stats.gauge(f"{PREFIX}.{event}.{name}", value, tags=dict(tags))


def _stats() -> Any:
    try:  # the Task SDK's metrics (Airflow 3.3)
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # earlier 3.x
        from airflow.stats import Stats
    return Stats
