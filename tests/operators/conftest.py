"""Running operators the way Airflow does: in a DAG, with dag.test(), on a SQLite metadata DB."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class DagRunResult:
    state: str
    task_states: dict[str, str]
    xcoms: dict[str, object]


RunDag = Callable[..., DagRunResult]

DAG_FILE = """\
import pendulum
from airflow.sdk import DAG
from airflow_provider_mailpartner.operators.unsubscribe import AddUnsubscribesOperator, UnsubscribeListOperator

with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False) as dag:
{tasks}
"""


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata DB in the test session's AIRFLOW_HOME."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=os.environ, check=True, capture_output=True, timeout=300)


@pytest.fixture
def run_dag(airflow_db: None, request: pytest.FixtureRequest) -> RunDag:
    """Write a DAG file into the DAGs folder (dag.test() needs it there) and run it once."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    counter = iter(range(1000))

    def run(tasks: str, *, logical_date: object = None) -> DagRunResult:
        dag_id = f"{request.node.name}_{next(counter)}".replace("[", "_").replace("]", "").replace("-", "_")
        path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(DAG_FILE.format(dag_id=dag_id, tasks=textwrap.indent(textwrap.dedent(tasks), "    ")))
        dag = DagBag(dag_folder=str(path)).get_dag(dag_id)
        assert dag is not None, f"{path} did not define {dag_id}"
        run = dag.test(logical_date=logical_date) if logical_date else dag.test()
        with create_session() as session:
            instances = run.get_task_instances(session=session)
            xcoms = {
                row.task_id: XComModel.deserialize_value(row)
                for row in session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=dag_id, key="return_value"))
            }
        return DagRunResult(str(run.state), {ti.task_id: str(ti.state) for ti in instances}, xcoms)

    return run
