"""Running the example DAGs as a user would: the file in the DAGs folder, dag.test(), the sandbox."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_mailpartner.testing import MailPartnerSandbox
from tests.dag_runs import DagRunResult, dags_folder, run_dag_file

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
ROOT_ENV = "MAILPARTNER_EXAMPLE_ROOT"

RunExample = Callable[..., DagRunResult]


@pytest.fixture
def example_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The examples' data folder (``MAILPARTNER_EXAMPLE_ROOT``), empty, on the local disk."""
    root = tmp_path / "mailpartner-data"
    root.mkdir()
    monkeypatch.setenv(ROOT_ENV, f"file://{root}")
    return root


@pytest.fixture
def mailpartner(sandbox: MailPartnerSandbox, monkeypatch: pytest.MonkeyPatch) -> MailPartnerSandbox:
    """The sandbox behind ``mailpartner_default``, with quick retries so fault runs stay short."""
    for name, value in sandbox.airflow_env("mailpartner_default", extra={"retry_backoff": 0.01}).items():
        monkeypatch.setenv(name, value)
    return sandbox


@pytest.fixture
def run_example(airflow_db: None, example_root: Path) -> RunExample:
    """Copy ``example_dags/<file>`` into the DAGs folder and run one of its DAGs once with dag.test()."""

    def run(file_name: str, dag_id: str, *, logical_date: object = None) -> DagRunResult:
        target = dags_folder() / "examples" / file_name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(EXAMPLES / file_name, target)
        return run_dag_file(target, dag_id, logical_date=logical_date)

    return run
