"""Every example DAG parses cleanly, quickly, and without touching a connection or the network."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from tests.example_dags.conftest import EXAMPLES

FILES = sorted(EXAMPLES.glob("*.py"))
EXPECTED_DAGS = {
    "example_mailpartner_assets.py": ["example_mailpartner_asset_consumer", "example_mailpartner_asset_producer"],
    "example_mailpartner_multi_account.py": ["example_mailpartner_multi_account"],
    "example_mailpartner_suppress_file.py": ["example_mailpartner_suppress_file"],
    "example_mailpartner_suppress_sql.py": ["example_mailpartner_suppress_sql"],
    "example_mailpartner_sync_optouts.py": ["example_mailpartner_sync_optouts"],
}

# Runs in a fresh interpreter: imports airflow.sdk, then forbids every way a DAG file could reach a
# connection, a variable or the network at parse time, and parses each file on its own.
PARSE_UNDER_GUARD = """
import json, socket, sys, time
import airflow.sdk
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1 keeps it in airflow.models
    from airflow.models.dagbag import DagBag

def forbidden(*args, **kwargs):
    raise RuntimeError("looked up a connection, a variable or the network at parse time")

airflow.sdk.BaseHook.get_connection = classmethod(forbidden)
airflow.sdk.Connection.get = classmethod(forbidden)
airflow.sdk.Variable.get = staticmethod(forbidden)
socket.socket.connect = forbidden
socket.create_connection = forbidden
loaded_by_airflow = set(sys.modules)  # Airflow 3.1 itself imports psycopg2 (SQLAlchemy's dialects)
results = {}
for path in sys.argv[1:]:
    started = time.perf_counter()
    bag = DagBag(dag_folder=path)
    seconds = time.perf_counter() - started
    results[path] = {
        "errors": {k: str(v) for k, v in bag.import_errors.items()},
        "seconds": seconds,
        "dags": {
            dag_id: {"catchup": dag.catchup, "tags": sorted(dag.tags), "schedule": type(dag.timetable).__name__,
                     "doc": bool(dag.doc_md)}
            for dag_id, dag in bag.dags.items()
        },
    }
heavy = ["requests", "xmltodict", "airflow_provider_mailpartner.hooks.mailpartner",
         "airflow_provider_mailpartner.client.exchange", "airflow_provider_mailpartner.suppression", "psycopg2"]
loaded = [m for m in heavy if m in sys.modules and m not in loaded_by_airflow]
print(json.dumps({"results": results, "heavy_modules_loaded": loaded}))
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    env = {**os.environ, "MAILPARTNER_EXAMPLE_ROOT": f"file://{tmp_path_factory.mktemp('root')}"}
    env = {name: value for name, value in env.items() if not name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    done = subprocess.run(
        [sys.executable, "-c", PARSE_UNDER_GUARD, *map(str, FILES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_examples_are_the_five_documented_ones():
    assert [path.name for path in FILES] == sorted(EXPECTED_DAGS)


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_each_example_parses_without_error_or_lookup_and_quickly(parsed, path):
    result = parsed["results"][str(path)]
    assert result["errors"] == {}
    assert sorted(result["dags"]) == EXPECTED_DAGS[path.name]
    assert result["seconds"] < 0.5, f"{path.name} took {result['seconds']:.2f} s to parse beyond airflow.sdk"
    for dag_id, dag in result["dags"].items():
        assert dag["catchup"] is False, dag_id
        assert {"mailpartner", "example"} <= set(dag["tags"]), dag_id
        assert dag["doc"], f"{dag_id} has no doc_md"
        assert dag["schedule"] != "NullTimetable", f"{dag_id} has no schedule"


def test_parsing_the_examples_imports_nothing_heavy(parsed):
    assert parsed["heavy_modules_loaded"] == []


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_each_example_says_what_it_shows_and_runs_as_a_script(path):
    tree = ast.parse(path.read_text())
    docstring = ast.get_docstring(tree)
    assert docstring is not None
    assert len(docstring.splitlines()) > 5, "a docstring saying what it shows and how to run it"
    main_guards = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("__name__ == '__main__'", '__name__ == "__main__"')
    ]
    assert main_guards
    assert ".test()" in ast.unparse(main_guards[0])


def test_a_broken_example_would_be_caught(tmp_path):
    """The guard is real: a DAG file that looks up a connection at parse time fails the check."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from airflow.sdk import BaseHook, DAG\nBaseHook.get_connection('mailpartner_default')\nwith DAG('bad'): pass\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", PARSE_UNDER_GUARD, str(bad)], capture_output=True, text=True, timeout=120, check=True
    )
    errors = json.loads(done.stdout.strip().splitlines()[-1])["results"][str(bad)]["errors"]
    assert "parse time" in json.dumps(errors)
