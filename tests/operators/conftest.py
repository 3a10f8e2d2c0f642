"""Running operators the way Airflow does: in a DAG, with dag.test(), on a SQLite metadata DB."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from airflow_provider_mailpartner.testing import MailPartnerSandbox
from tests.dag_runs import DagRunResult, dags_folder, run_dag_file

RunDag = Callable[..., DagRunResult]

DAG_FILE = """\
import pendulum
from airflow.sdk import DAG
from airflow_provider_mailpartner.operators.suppression import SuppressContactsOperator
from airflow_provider_mailpartner.operators.unsubscribe import AddUnsubscribesOperator, UnsubscribeListOperator

with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False) as dag:
{tasks}
"""


@pytest.fixture
def run_dag(airflow_db: None, request: pytest.FixtureRequest) -> RunDag:
    """Write a DAG file into the DAGs folder (dag.test() needs it there) and run it once."""
    counter = iter(range(1000))

    def run(tasks: str, *, logical_date: object = None) -> DagRunResult:
        dag_id = f"{request.node.name}_{next(counter)}".replace("[", "_").replace("]", "").replace("-", "_")
        path = dags_folder() / f"{dag_id}.py"
        path.write_text(DAG_FILE.format(dag_id=dag_id, tasks=textwrap.indent(textwrap.dedent(tasks), "    ")))
        return run_dag_file(path, dag_id, logical_date=logical_date)

    return run


@pytest.fixture
def connection(sandbox: MailPartnerSandbox, monkeypatch: pytest.MonkeyPatch) -> MailPartnerSandbox:
    """``mailpartner_default`` on the sandbox, with quick retries (2 at most)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_MAILPARTNER_DEFAULT", sandbox.connection_json(extra={"retry_backoff": 0.01, "max_retries": 2})
    )
    return sandbox
