"""The API key, searched for in everything a deployment wrote: files, processes' output, the metadata DB."""

from __future__ import annotations

import glob
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tests.deployment.airflow_deployment import Deployment
from tests.key_leaks import find_key


def pg_dump() -> str:
    """Debian's ``pg_dump`` of the newest installed server (the wrapper on PATH may want a cluster)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump")) or [shutil.which("pg_dump") or "pg_dump"]
    return found[-1]


def metadata_dump(deployment: Deployment) -> bytes:
    """Every row of the metadata DB: XComs, rendered template fields, the audit log, connections, variables..."""
    uri = deployment.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://")
    done = subprocess.run([pg_dump(), "--no-owner", uri], capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def task_logs(deployment: Deployment) -> list[Path]:
    return sorted(path for path in deployment.logs.rglob("*.log") if "task_id=" in str(path))


def files_under(folders: Iterable[Path]) -> list[Path]:
    return [path for folder in folders for path in sorted(folder.rglob("*")) if path.is_file()]


def assert_no_key_anywhere(deployment: Deployment, *, extra_folders: Iterable[Path] = ()) -> None:
    """The key in none of its encodings (raw, quote, quote(safe=''), quote_plus, JSON, ...) anywhere.

    The ``connection`` table holds the key only Fernet-encrypted, so it is searched like the rest.
    """
    assert task_logs(deployment), "no task log to search"
    searched = files_under([deployment.home, *extra_folders])
    leaks = [f"{path}: {leak}" for path in searched if (leak := find_key(path.read_bytes()))]
    dump = metadata_dump(deployment)
    for table in (b"xcom", b"rendered_task_instance_fields", b"log", b"connection"):
        assert b"COPY public." + table + b" " in dump, f"the dump lacks the table {table.decode()}"
    if leak := find_key(dump):
        leaks.append(f"pg_dump of the metadata DB: {leak}")
    assert leaks == [], "\n".join(leaks)
