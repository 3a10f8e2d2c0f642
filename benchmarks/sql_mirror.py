"""Benchmark: UnsubscribesToSqlOperator mirroring 1,000,000 entries into PostgreSQL (or SQLite).

Measured in-process, against a real server: the first run (an empty table), a rerun (nothing
changes), and a run after 1% of the entries left and 1% joined; beside it, the floor: the same rows
COPYed into an unindexed table, which is what any load must at least do. Medians over repeats.

    MAILPARTNER_TEST_POSTGRES_URI=postgresql://user:pw@127.0.0.1:5432/db .venv/bin/python benchmarks/sql_mirror.py
    .venv/bin/python benchmarks/sql_mirror.py --sqlite --entries 100000

Prints a Markdown table (paste it into docs/benchmarks.md). Never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

CONN_ID = "mailpartner_bench_db"


def records(entries: int, skip_every: int = 0, extra: int = 0) -> list[dict[str, object]]:
    """``entries`` records (every ``skip_every``-th left out), and ``extra`` new ones after them."""
    rows = [
        {"id": n, "email": f"user{n}@example{n % 97}.fr", "created_at": f"2024-03-{1 + n % 28:02d}T10:00:00+01:00"}
        for n in range(1, entries + 1)
        if not skip_every or n % skip_every
    ]
    rows += [
        {"id": entries + n, "email": f"new{n}@example.fr", "created_at": "2024-04-01T10:00:00+02:00"}
        for n in range(1, extra + 1)
    ]
    return rows


def manifest_for(rows: list[dict[str, object]], folder: Path, name: str) -> dict[str, object]:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mailpartner.record_files import write_records

    return dict(write_records(rows, ObjectStoragePath(f"file://{folder}/{name}.jsonl"), "jsonl"))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def connect_postgres(uri: str, schema: str) -> None:
    parts = urlsplit(uri)
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
        {
            "conn_type": "postgres",
            "host": parts.hostname,
            "port": parts.port or 5432,
            "login": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "schema": parts.path.lstrip("/"),
            "extra": {"options": f"-c search_path={schema}"},
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sqlite", action="store_true", help="SQLite in a temporary file instead of PostgreSQL")
    options = parser.parse_args()
    from airflow.sdk import BaseHook

    from airflow_provider_mailpartner.operators.sql import UnsubscribesToSqlOperator

    with tempfile.TemporaryDirectory(prefix="mailpartner-bench-sql-") as workdir:
        folder = Path(workdir)
        os.environ.setdefault("AIRFLOW_HOME", str(folder / "airflow-home"))
        day1 = manifest_for(records(options.entries), folder, "day1")
        day2 = manifest_for(records(options.entries, skip_every=100, extra=options.entries // 100), folder, "day2")
        results: dict[str, list[float]] = {
            "COPY into an unindexed table (floor)": [],
            "first run": [],
            "rerun": [],
            "1% left, 1% joined": [],
        }
        for _ in range(options.repeats):
            schema = f"mailpartner_bench_{uuid.uuid4().hex[:8]}"
            if options.sqlite:
                os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
                    {"conn_type": "sqlite", "host": str(folder / f"{schema}.db")}
                )
            else:
                connect_postgres(os.environ["MAILPARTNER_TEST_POSTGRES_URI"], schema)
            hook = BaseHook.get_connection(CONN_ID).get_hook()  # type: ignore[no-untyped-call]
            if not options.sqlite:
                hook.run(f"CREATE SCHEMA {schema}")

            def load(manifest: dict[str, object]) -> object:
                return UnsubscribesToSqlOperator(task_id="load", unsubscribes=manifest, sql_conn_id=CONN_ID).execute({})  # type: ignore[arg-type]

            results["first run"].append(timed(lambda: load(day1)))
            results["rerun"].append(timed(lambda: load(day1)))
            results["1% left, 1% joined"].append(timed(lambda: load(day2)))
            results["COPY into an unindexed table (floor)"].append(timed(partial(floor, hook, day1)))
            if not options.sqlite:
                hook.run(f"DROP SCHEMA {schema} CASCADE")
    floor_time = statistics.median(results["COPY into an unindexed table (floor)"])
    kind = "SQLite" if options.sqlite else "PostgreSQL"
    print(f"{options.entries:,} entries into {kind}, medians of {options.repeats}\n")
    print("| run | seconds | ratio to the floor |")
    print("|---|---:|---:|")
    for name, samples in results.items():
        print(f"| {name} | {statistics.median(samples):.1f} | {statistics.median(samples) / floor_time:.2f} |")
    return 0


def floor(hook: object, manifest: dict[str, object]) -> None:
    """The least a load does: the rows read from the file and written, in one transaction, no index."""
    from airflow_provider_mailpartner.record_files import manifest_records
    from airflow_provider_mailpartner.sql_mirror import SqlMirror

    conn = hook.get_conn()  # type: ignore[attr-defined]
    try:
        cursor = conn.cursor()
        cursor.execute("CREATE TABLE copy_floor (id BIGINT, email TEXT, created_at TEXT)")
        loader = SqlMirror(conn, hook.placeholder, "copy_floor")  # type: ignore[attr-defined]
        loader._load(
            "copy_floor",
            ("id", "email", "created_at"),
            ((r["id"], r["email"], r["created_at"]) for r in manifest_records(manifest)),
        )
        conn.commit()
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
