"""OpenLineage: what the operators report when the provider is installed, and that nothing changes without it.

With ``apache-airflow-providers-openlineage`` (in the test extras), a DAG runs in a fresh process
whose listener writes every event to a file, and the events are read back. Without it, the same
kind of run happens in a venv that holds every package of this one except the OpenLineage ones (a
real absence: no module, no distribution, no entry point), and no OpenLineage module may be loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_mailpartner.lineage import (
    UNSUBSCRIBE_LIST_NAME,
    storage_dataset,
    unsubscribe_list_datasets,
    unsubscribe_list_namespace,
)
from airflow_provider_mailpartner.operators.suppression import SuppressContactsOperator
from airflow_provider_mailpartner.operators.unsubscribe import AddUnsubscribesOperator, UnsubscribeListOperator
from tests.dag_runs import dags_folder
from tests.key_leaks import assert_no_key
from tests.linked_venv import installed_names, linked_venv
from tests.nasty_key import NASTY_KEY

REPO = Path(__file__).resolve().parents[2]
RECORD_FIELDS = [("id", "integer"), ("email", "string"), ("created_at", "string")]

DAG_FILE = """\
import pendulum
from airflow.sdk import DAG
from airflow_provider_mailpartner.operators.suppression import SuppressContactsOperator
from airflow_provider_mailpartner.operators.unsubscribe import AddUnsubscribesOperator, UnsubscribeListOperator

with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False) as dag:
    UnsubscribeListOperator(task_id="to_file", output_path="file://{root}/{{{{ ds }}}}/unsubscribes.jsonl")
    UnsubscribeListOperator(task_id="to_xcom")
    AddUnsubscribesOperator(task_id="push_optouts", input_path="file://{root}/optouts.csv")
"""

# Run in a fresh interpreter: parses the example DAGs, runs the DAG under test with dag.test(), and
# reports the OpenLineage modules loaded after each step, and every OpenLineage import that code of
# this package (or a DAG file) set off, found or not.
PROBE = """\
import importlib.util, json, os, sys
from importlib.metadata import distributions
from pathlib import Path

OURS = (os.path.dirname(importlib.util.find_spec("airflow_provider_mailpartner").origin), sys.argv[2], sys.argv[1])
attempts = {"import": [], "parse": [], "run": []}
step = "import"


class Watch:
    def find_spec(self, name, path=None, target=None):
        if "openlineage" in name:
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_code.co_filename.startswith(OURS):
                    attempts[step].append(name)
                    break
                frame = frame.f_back
        return None


sys.meta_path.insert(0, Watch())


def lineage_modules():
    return sorted(name for name, module in sys.modules.items() if module is not None and "openlineage" in name)


report = {
    "provider_findable": importlib.util.find_spec("airflow.providers.openlineage") is not None,
    "distributions": sorted({d.metadata["Name"] for d in distributions() if "openlineage" in d.metadata["Name"]}),
}
import airflow.sdk  # Airflow itself reads every installed provider's metadata here
from airflow.providers_manager import ProvidersManager

ProvidersManager().initialize_providers_list()  # Airflow 3.1 reads it later, parsing the first DAG file
report["baseline"] = lineage_modules()
import airflow_provider_mailpartner.operators.unsubscribe
report["after_import"] = lineage_modules()
step = "parse"
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1 keeps it in airflow.models
    from airflow.models.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[2])  # the example DAGs: what a DAG processor parses
report["example_import_errors"] = {str(k): str(v) for k, v in bag.import_errors.items()}
report["example_dags"] = sorted(bag.dag_ids)
report["after_parse"] = lineage_modules()
report["lineage_helpers_loaded_at_parse"] = "airflow_provider_mailpartner.lineage" in sys.modules
step = "run"
from tests.dag_runs import run_dag_file

result = run_dag_file(Path(sys.argv[1]), sys.argv[3])
report["run"] = {"state": result.state, "tasks": result.task_states}
report["after_run"] = lineage_modules()
report["attempts"] = attempts
Path(sys.argv[4]).write_text(json.dumps(report))
"""


@pytest.fixture
def openlineage_provider() -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="apache-airflow-providers-openlineage not installed")


@pytest.fixture
def connection(sandbox, monkeypatch):
    sandbox.backend.seed([{"email": "gone@example.com"}, {"email": "left@example.org"}])
    monkeypatch.setenv("AIRFLOW_CONN_MAILPARTNER_DEFAULT", sandbox.connection_json(extra={"retry_backoff": 0.01}))
    return sandbox


@pytest.fixture
def dag_under_test(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, Path, Path]:
    """A DAG using both operators, in the DAGs folder; its data folder with an opt-out file."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "optouts.csv").write_text("email\nnew.optout@example.net\n")
    dag_id = f"openlineage_{request.node.name}".replace("[", "_").replace("]", "").replace("-", "_")
    path = dags_folder() / f"{dag_id}.py"
    path.write_text(DAG_FILE.format(dag_id=dag_id, root=root))
    return dag_id, path, root


def subprocess_env(**extra: str) -> dict[str, str]:
    """This session's environment (its AIRFLOW_HOME and connections) with no OpenLineage setting but ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE_", "AIRFLOW__OPENLINEAGE__"))}
    env.pop("PYTHONPATH", None)
    return {**env, **extra}


def run_probe(python: str | Path, dag: tuple[str, Path, Path], env: dict[str, str]) -> dict:
    dag_id, path, root = dag
    report_file = root.parent / "probe-report.json"
    completed = subprocess.run(
        [str(python), "-c", PROBE, str(path), str(REPO / "example_dags"), dag_id, str(report_file)],
        cwd=REPO,  # so that `tests` imports
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    report = json.loads(report_file.read_text())
    report["output"] = output
    return report


def assert_ran(report: dict) -> None:
    assert report["example_import_errors"] == {}
    assert len(report["example_dags"]) >= 5
    assert report["run"] == {
        "state": "success",
        "tasks": {"to_file": "success", "to_xcom": "success", "push_optouts": "success"},
    }


def names(datasets: list) -> list[tuple[str, str]]:
    return [(dataset["namespace"], dataset["name"]) for dataset in datasets]


def test_without_the_provider_the_dags_parse_and_run_and_load_no_openlineage_module(
    connection, dag_under_test, airflow_db, tmp_path
):
    venv = tmp_path / "venv-without-openlineage"
    linked_venv(venv, leave_out=installed_names("openlineage"))
    report = run_probe(venv / "bin" / "python", dag_under_test, subprocess_env())

    # A real absence: nothing to import, no distribution for Airflow's provider discovery.
    assert report["provider_findable"] is False
    assert report["distributions"] == []
    assert_ran(report)
    # Nothing of this package looked for OpenLineage, even to find it missing; no module of it is loaded.
    assert report["attempts"] == {"import": [], "parse": [], "run": []}
    assert report["lineage_helpers_loaded_at_parse"] is False
    for modules in (report["baseline"], report["after_parse"], report["after_run"]):
        assert [name for name in modules if name.startswith(("openlineage", "airflow.providers.openlineage"))] == []
    assert (dag_under_test[2] / "optouts.csv").exists()
    assert "new.optout@example.net" in [entry["email"] for entry in connection.backend.entries()]


def test_with_the_provider_the_listener_reports_the_datasets_and_never_the_key(
    openlineage_provider, connection, dag_under_test, airflow_db, tmp_path
):
    events_file = tmp_path / "openlineage-events.jsonl"
    transport = json.dumps({"type": "file", "log_file_path": str(events_file), "append": True})
    report = run_probe(sys.executable, dag_under_test, subprocess_env(AIRFLOW__OPENLINEAGE__TRANSPORT=transport))

    assert_ran(report)
    # Importing the operators and parsing DAGs loads nothing of OpenLineage beyond what Airflow itself does;
    # the lineage code runs only when the listener asks, after a task (in a process it forks).
    assert report["after_import"] == report["after_parse"] == report["baseline"]
    assert report["attempts"]["import"] == report["attempts"]["parse"] == []
    assert report["lineage_helpers_loaded_at_parse"] is False

    root = dag_under_test[2]
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    complete = {e["job"]["name"].rpartition(".")[2]: e for e in events if e["eventType"] == "COMPLETE"}
    the_list = (f"mailpartner://127.0.0.1:{connection.port}", UNSUBSCRIBE_LIST_NAME)
    (written,) = root.glob("*/unsubscribes.jsonl")
    assert set(complete) >= {"to_file", "to_xcom", "push_optouts"}
    assert names(complete["to_file"]["inputs"]) == [the_list]
    assert names(complete["to_file"]["outputs"]) == [("file", str(written))]  # the rendered path, not the staging file
    assert names(complete["to_xcom"]["inputs"]) == [the_list]
    assert names(complete["to_xcom"]["outputs"]) == []
    assert names(complete["push_optouts"]["inputs"]) == [("file", str(root / "optouts.csv"))]
    assert names(complete["push_optouts"]["outputs"]) == [the_list]
    schema = complete["to_file"]["outputs"][0]["facets"]["schema"]["fields"]
    assert [(field["name"], field["type"]) for field in schema] == RECORD_FIELDS
    assert_no_key(events_file.read_bytes())
    assert_no_key(report["output"])


def test_the_datasets_of_an_executed_list_operator(openlineage_provider, connection, tmp_path):
    from openlineage.client.serde import Serde

    target = tmp_path / "out" / "list.csv"
    operator = UnsubscribeListOperator(task_id="fetch", output_path=f"file://{target}", output_format="csv")
    manifest = operator.execute({})
    lineage = operator.get_openlineage_facets_on_complete(None)

    assert manifest["count"] == 2
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (f"mailpartner://127.0.0.1:{connection.port}", "unsubscribe/list")
    ]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", str(target))]
    for dataset in [*lineage.inputs, *lineage.outputs]:
        assert [(f.name, f.type) for f in dataset.facets["schema"].fields] == RECORD_FIELDS
        assert_no_key(Serde.to_json(dataset))


def test_the_output_has_the_name_the_provider_gives_the_operators_outlet(openlineage_provider, tmp_path):
    """The file the operator writes and the asset it declares are one node in the lineage graph."""
    from airflow.providers.common.compat.openlineage.utils.utils import translate_airflow_asset

    operator = UnsubscribeListOperator(task_id="fetch", output_path=f"file://{tmp_path}/list.jsonl")
    (outlet,) = operator.outlets
    expected = translate_airflow_asset(outlet, None)
    (output,) = operator.get_openlineage_facets_on_complete(None).outputs

    assert (output.namespace, output.name) == (expected.namespace, expected.name) == ("file", f"{tmp_path}/list.jsonl")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("file:///data/mp/list.jsonl", ("file", "/data/mp/list.jsonl")),
        ("/data/mp/list.jsonl", ("file", "/data/mp/list.jsonl")),
        # The connection id in the URL is Airflow's business, not the dataset's name.
        ("s3://aws_conn@bucket/mailpartner/list.jsonl", ("s3://bucket", "mailpartner/list.jsonl")),
        ("s3://bucket/list.jsonl", ("s3://bucket", "list.jsonl")),
        ("gs://bucket/a/list.csv", ("gs://bucket", "a/list.csv")),
    ],
)
def test_storage_paths_become_the_provider_s_dataset_names(openlineage_provider, path, expected):
    from airflow.sdk import ObjectStoragePath

    dataset = storage_dataset(ObjectStoragePath(path), records=False)

    assert (dataset.namespace, dataset.name) == expected
    assert dataset.facets == {}


@pytest.mark.parametrize(
    ("base_url", "namespace"),
    [
        ("https://api.mailpartner.fr", "mailpartner://api.mailpartner.fr"),
        ("https://API.MailPartner.fr:443/proxy", "mailpartner://api.mailpartner.fr"),
        ("https://gateway.example.com:8443/mailpartner", "mailpartner://gateway.example.com:8443"),
        ("http://127.0.0.1:8025", "mailpartner://127.0.0.1:8025"),
        ("http://[::1]:8025", "mailpartner://[::1]:8025"),
    ],
)
def test_the_list_namespace_is_scheme_host_and_a_non_default_port(base_url, namespace):
    assert unsubscribe_list_namespace(base_url) == namespace


def test_the_default_connection_host_is_mailpartner_s_api(openlineage_provider, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MP_LINEAGE", json.dumps({"conn_type": "mailpartner", "password": NASTY_KEY}))

    (dataset,) = unsubscribe_list_datasets("mp_lineage")

    assert (dataset.namespace, dataset.name) == ("mailpartner://api.mailpartner.fr", "unsubscribe/list")


def test_an_unreadable_connection_gives_no_input_rather_than_a_second_error(openlineage_provider, tmp_path):
    operator = AddUnsubscribesOperator(
        task_id="push", mailpartner_conn_id="not_defined_anywhere", input_path=f"file://{tmp_path}/in.txt"
    )

    lineage = operator.get_openlineage_facets_on_complete(None)

    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", f"{tmp_path}/in.txt")]
    assert lineage.outputs == []


@pytest.mark.parametrize(
    ("unsubscribes", "list_input"),
    [
        ({"path": "file:///data/runs/r1/unsubscribes.jsonl", "format": "jsonl", "count": 2, "sha256": "0" * 64}, True),
        ("file:///data/runs/r1/unsubscribes.jsonl", True),
        ("{'not': 'a manifest'", False),  # unreadable: lineage gives what it can, never a second error
    ],
    ids=["manifest", "record-file-path", "unreadable"],
)
def test_suppression_lineage_is_the_contacts_and_the_list_in_the_clean_file_and_report_out(
    openlineage_provider, unsubscribes, list_input
):
    operator = SuppressContactsOperator(
        task_id="suppress",
        unsubscribes=unsubscribes,
        contacts_path="s3://crm_conn@crm/contacts.csv",
        clean_path="file:///data/clean.csv",
        report_path="file:///data/report.csv",
    )

    lineage = operator.get_openlineage_facets_on_complete(None)

    inputs = [("s3://crm", "contacts.csv")] + ([("file", "/data/runs/r1/unsubscribes.jsonl")] if list_input else [])
    assert [(d.namespace, d.name) for d in lineage.inputs] == inputs
    assert [(d.namespace, d.name) for d in lineage.outputs] == [
        ("file", "/data/clean.csv"),
        ("file", "/data/report.csv"),
    ]
