"""Benchmark: what the provider adds to importing ``airflow.sdk``, and to parsing a DAG file.

Airflow 3's dag-processor parses each DAG file in a fresh child process (forked from a manager
that has Airflow imported, not the provider), every ``min_file_process_interval`` (30 s by
default). So the figure that matters is a first parse in a process where ``airflow.sdk`` is
already imported: each child process here imports it, then times one thing.

- **import**: ``import airflow_provider_mailpartner.operators.unsubscribe`` (and the other
  operator module) after ``import airflow.sdk``;
- **parse**: ``DagBag(dag_folder=<file>)`` for each example DAG file, against a DAG file of the
  same shape with no provider import (one ``EmptyOperator``).

Processes alternate between variants, so drift on a shared machine hits each alike; figures are
medians. Prints Markdown tables; never asserts on time.

    .venv/bin/python benchmarks/parse_cost.py --repeats 15
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"

TIME_IMPORT = """
import sys, time
import airflow.sdk
started = time.perf_counter()
for name in sys.argv[1:]:
    __import__(name)
print(time.perf_counter() - started)
"""

TIME_PARSE = """
import sys, time
import airflow.sdk
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - started
if bag.import_errors or not bag.dags:
    raise SystemExit(f"{sys.argv[1]} did not parse: {bag.import_errors}")
print(elapsed)
"""

EMPTY_DAG = '''
"""A DAG file with no provider import: the floor for parsing."""
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("empty_dag", schedule=None, catchup=False):
    EmptyOperator(task_id="nothing")
'''

IMPORTS = {
    "operators.unsubscribe": ["airflow_provider_mailpartner.operators.unsubscribe"],
    "operators.unsubscribe + operators.suppression": [
        "airflow_provider_mailpartner.operators.unsubscribe",
        "airflow_provider_mailpartner.operators.suppression",
    ],
}


def timed(code: str, args: list[str], env: dict[str, str]) -> float:
    output = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True
    ).stdout
    return float(output.strip().splitlines()[-1])


def measure(variants: dict[str, tuple[str, list[str]]], repeats: int, env: dict[str, str]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (code, args) in variants.items():
            samples[name].append(timed(code, args, env))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    options = parser.parse_args()
    # As an installed wheel is: compiled (with PYTHONDONTWRITEBYTECODE set, every child would compile again).
    compileall.compile_dir(ROOT / "airflow_provider_mailpartner", quiet=1)
    with tempfile.TemporaryDirectory(prefix="mailpartner-parse-") as workdir:
        env = {**os.environ, "AIRFLOW_HOME": workdir, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        empty = Path(workdir) / "empty_dag.py"
        empty.write_text(EMPTY_DAG)
        imports = measure(
            {"nothing more": (TIME_IMPORT, [])} | {name: (TIME_IMPORT, mods) for name, mods in IMPORTS.items()},
            options.repeats,
            env,
        )
        files = {"empty DAG file": empty} | {path.name: path for path in sorted(EXAMPLES.glob("example_*.py"))}
        parses = measure({name: (TIME_PARSE, [str(path)]) for name, path in files.items()}, options.repeats, env)
    if options.json:
        print(json.dumps({"imports": imports, "parses": parses}, indent=2))
        return 0
    print(f"medians of {options.repeats} processes, each with airflow.sdk already imported\n")
    print("| import after `airflow.sdk` | time (ms) |\n|---|---:|")
    for name, seconds in imports.items():
        print(f"| {name} | {seconds * 1000:.1f} |")
    floor = parses["empty DAG file"]
    print("\n| DAG file | parse (ms) | more than the empty DAG file (ms) |\n|---|---:|---:|")
    for name, seconds in parses.items():
        print(f"| {name} | {seconds * 1000:.1f} | {(seconds - floor) * 1000:+.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
