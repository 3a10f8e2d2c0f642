"""Running a DAG file the way Airflow does: from the DAGs folder, with dag.test(), on SQLite."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


@dataclass
class DagRunResult:
    run_id: str
    state: str
    task_states: dict[str, str]
    xcoms: dict[str, object]


def dagbag_module() -> ModuleType:
    """Where Airflow keeps DagBag: ``airflow.dag_processing.dagbag`` since 3.2, ``airflow.models.dagbag`` in 3.1."""
    try:
        from airflow.dag_processing import dagbag
    except ImportError:  # Airflow 3.1
        from airflow.models import dagbag
    return dagbag


def write_again_to_the_db(path: Path, dag_id: str) -> None:
    """Airflow 3.1 and 3.2's dag.test() writes a DAG to the metadata DB on its first run only
    (apache/airflow#64884, fixed in 3.3): a changed file, such as an example pointed at another data
    root, would run as first written, assets included. Write it again, as 3.3's dag.test() does.
    """
    import airflow
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.dag_version import DagVersion
    from packaging.version import Version

    if Version(airflow.__version__) >= Version("3.3") or DagVersion.get_version(dag_id) is None:
        return
    bundle = DagBundlesManager().get_bundle("dags-folder")
    module = dagbag_module()
    bag = module.BundleDagBag(dag_folder=str(path), bundle_path=bundle.path)
    module.sync_bag_to_db(bag, bundle.name, bundle.version)


def dags_folder() -> Path:
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_dag_file(path: Path, dag_id: str, *, logical_date: object = None) -> DagRunResult:
    """Parse ``path`` (it must be inside the DAGs folder), run ``dag_id`` once, collect its XComs.

    A mapped task's XComs come back as a list in map-index order.
    """
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    bag = dagbag_module().DagBag(dag_folder=str(path))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{path} did not define {dag_id}"
    write_again_to_the_db(path, dag_id)
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
    return DagRunResult(run.run_id, str(run.state), states, xcoms)
