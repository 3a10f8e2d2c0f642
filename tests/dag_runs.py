"""Running a DAG file the way Airflow does: from the DAGs folder, with dag.test(), on SQLite."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class DagRunResult:
    state: str
    task_states: dict[str, str]
    xcoms: dict[str, object]


def dags_folder() -> Path:
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_dag_file(path: Path, dag_id: str, *, logical_date: object = None) -> DagRunResult:
    """Parse ``path`` (it must be inside the DAGs folder), run ``dag_id`` once, collect its XComs.

    A mapped task's XComs come back as a list in map-index order.
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=str(path))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{path} did not define {dag_id}"
    run = dag.test(logical_date=logical_date) if logical_date else dag.test()
    with create_session() as session:
        instances = run.get_task_instances(session=session)
        rows = sorted(
            session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=dag_id, key="return_value")),
            key=lambda row: (row.task_id, row.map_index),
        )
        xcoms: dict[str, object] = {}
        for row in rows:
            value = XComModel.deserialize_value(row)
            if row.map_index >= 0:
                mapped = xcoms.setdefault(row.task_id, [])
                assert isinstance(mapped, list)
                mapped.append(value)
            else:
                xcoms[row.task_id] = value
    states: dict[str, str] = {}
    for ti in instances:
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = str(ti.state)
    return DagRunResult(str(run.state), states, xcoms)
