"""What the example DAGs work on in a deployment, and what each run must have left behind.

A MailPartner account (the sandbox) with a known list; a contact file and a CRM table in which some
of those addresses hide in another case or spacing; one opt-out file per day a run can stand for;
a second account for the multi-account DAG. Expected outputs are worked out here from the data,
independently of the package: plain ASCII addresses, compared stripped and lower-cased.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deployment.airflow_deployment import Deployment

SUPPRESS_FILE = "example_mailpartner_suppress_file"
SUPPRESS_SQL = "example_mailpartner_suppress_sql"
SYNC_OPTOUTS = "example_mailpartner_sync_optouts"
PRODUCER = "example_mailpartner_asset_producer"
CONSUMER = "example_mailpartner_asset_consumer"
MULTI_ACCOUNT = "example_mailpartner_multi_account"
TIMETABLE_DAGS = (SUPPRESS_FILE, SUPPRESS_SQL, SYNC_OPTOUTS, PRODUCER, MULTI_ACCOUNT)
ALL_DAGS = (*TIMETABLE_DAGS, CONSUMER)
DAG_FILES = (
    "example_mailpartner_suppress_file.py",
    "example_mailpartner_suppress_sql.py",
    "example_mailpartner_sync_optouts.py",
    "example_mailpartner_assets.py",
    "example_mailpartner_multi_account.py",
)

LISTED = 120  # entries on the main account
HIDDEN = 60  # of them, also among the contacts, in another case or spacing
STRANGERS = 240  # contacts nobody unsubscribed


def listed_entries(prefix: str, count: int) -> list[dict[str, str]]:
    return [
        {"email": f"{prefix}{n}@example.com", "created_at": f"2024-{n % 12 + 1:02d}-15 10:{n % 60:02d}:00"}
        for n in range(count)
    ]


def key(address: str) -> str:
    return address.strip().lower()


def disguise(address: str, n: int) -> str:
    return (" " if n % 3 == 0 else "") + (address.upper() if n % 2 else address.title()) + ("\t" if n % 5 == 0 else "")


@dataclass(frozen=True)
class OptOutFile:
    """One day's opt-outs and what pushing them must report the first time and after."""

    day: str
    lines: tuple[str, ...]
    new: int  # valid addresses not on the list yet
    already_listed: int
    invalid: int


class ExampleWorld:
    """The data the examples read, on disk and in a database, and the expected results."""

    def __init__(self, root: Path, main_listed: list[dict[str, str]]) -> None:
        self.root = root
        self.main_keys = {key(entry["email"]) for entry in main_listed}
        hidden = [entry["email"] for entry in main_listed[:HIDDEN]]
        rows = [(f"C{n:04d}", disguise(address, n), "listed") for n, address in enumerate(hidden)]
        rows += [(f"S{n:04d}", f"stranger{n}@example.net", "kept") for n in range(STRANGERS)]
        rows.sort(key=lambda row: hashlib.sha256(row[0].encode()).hexdigest())  # interleaved, reproducibly
        self.contacts = rows
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(("contact_id", "email", "segment"))
        writer.writerows(rows)
        self.contacts_csv = text.getvalue()
        self.clean_csv = "".join(
            line
            for line, row in zip(self.contacts_csv.splitlines(keepends=True), [None, *rows], strict=True)
            if row is None or key(row[1]) not in self.main_keys
        )
        self.optouts: dict[str, OptOutFile] = {}

    def write_files(self) -> None:
        (self.root / "contacts.csv").write_bytes(self.contacts_csv.encode())
        (self.root / "optouts").mkdir(parents=True, exist_ok=True)

    def add_optouts(self, day: str, *, new: Iterable[str], listed: Iterable[str]) -> None:
        new, listed = list(new), list(listed)
        lines = ("email", *new, *(f" {address.upper()} " for address in listed), "not-an-address", *new[:1])
        self.optouts[day] = OptOutFile(day, lines, len(new), len(listed), 1)
        (self.root / "optouts" / f"{day}.csv").write_text("\n".join(lines) + "\n")

    def run_folder(self, dag_id: str, run_id: str) -> Path:
        return self.root / "runs" / dag_id / run_id


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_manifest(manifest: Mapping[str, Any], path: Path) -> list[dict[str, Any]]:
    """The file is what its manifest says; its records."""
    assert manifest["path"] == f"file://{path}", manifest
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["sha256"], f"{path} is not the file its manifest describes"
    records = read_jsonl(path)
    assert len(records) == manifest["count"]
    assert len({record["id"] for record in records}) == len(records)
    return records


def check_suppress_file(deployment: Deployment, world: ExampleWorld, run_id: str) -> None:
    folder = world.run_folder(SUPPRESS_FILE, run_id)
    manifest = deployment.xcom(SUPPRESS_FILE, run_id, "fetch_unsubscribes")
    listed = {key(record["email"]) for record in check_manifest(manifest, folder / "unsubscribes.jsonl")}
    assert world.main_keys <= listed
    assert (folder / "contacts.clean.csv").read_bytes().decode() == world.clean_csv
    with (folder / "contacts.suppressed.csv").open(newline="") as handle:
        report = list(csv.DictReader(handle))
    assert [row["reason"] for row in report] == ["unsubscribed"] * HIDDEN
    summary = deployment.xcom(SUPPRESS_FILE, run_id, "suppress_contacts")
    assert (summary["rows_in"], summary["rows_out"], summary["suppressed"]) == (HIDDEN + STRANGERS, STRANGERS, HIDDEN)
    published = deployment.xcom(SUPPRESS_FILE, run_id, "publish_clean_list")
    assert published["rows"] == STRANGERS


def check_published(world: ExampleWorld) -> None:
    """Whatever runs published last, the one path senders read holds one whole clean list."""
    assert (world.root / "published" / "contacts.clean.csv").read_bytes().decode() == world.clean_csv


def check_suppress_sql(deployment: Deployment, world: ExampleWorld, run_id: str, crm_uri: str) -> None:
    import psycopg

    manifest = deployment.xcom(SUPPRESS_SQL, run_id, "fetch_unsubscribes")
    records = check_manifest(manifest, world.run_folder(SUPPRESS_SQL, run_id) / "unsubscribes.jsonl")
    summary = deployment.xcom(SUPPRESS_SQL, run_id, "load_unsubscribes")
    assert summary["entries"] == len(records)
    with psycopg.connect(crm_uri) as connection:
        marked = {row[0] for row in connection.execute("SELECT id FROM contacts WHERE unsubscribed_at IS NOT NULL")}
        current = "SELECT id FROM mailpartner_unsubscribes WHERE valid_to IS NULL"
        mirrored = {row[0] for row in connection.execute(current)}
    assert marked == {contact_id for contact_id, _, segment in world.contacts if segment == "listed"}
    assert {record["id"] for record in records} <= mirrored


def create_crm(crm_uri: str, world: ExampleWorld) -> None:
    import psycopg

    with psycopg.connect(crm_uri) as connection:
        connection.execute("CREATE TABLE contacts (id TEXT PRIMARY KEY, email TEXT, unsubscribed_at TIMESTAMPTZ)")
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO contacts (id, email) VALUES (%s, %s)", [row[:2] for row in world.contacts])


def check_sync_optouts(deployment: Deployment, world: ExampleWorld, run_id: str, day: str, *, first: bool) -> None:
    optouts = world.optouts[day]
    result = deployment.xcom(SYNC_OPTOUTS, run_id, "push_optouts")
    added = optouts.new if first else 0
    assert result == {
        "added": added,
        "already_listed": optouts.already_listed + optouts.new - added,
        "invalid": optouts.invalid,
        "failed": 0,
    }


def check_producer(deployment: Deployment, world: ExampleWorld, run_id: str) -> None:
    manifest = deployment.xcom(PRODUCER, run_id, "fetch_unsubscribes")
    assert manifest["path"] == f"file://{world.root}/latest/unsubscribes.jsonl"
    assert world.main_keys <= {key(record["email"]) for record in read_jsonl(world.root / "latest/unsubscribes.jsonl")}


def check_consumer(deployment: Deployment, world: ExampleWorld, run_id: str) -> None:
    summary = deployment.xcom(CONSUMER, run_id, "suppress_contacts")
    assert (summary["rows_out"], summary["suppressed"]) == (STRANGERS, HIDDEN)
    assert (world.root / "latest" / "contacts.clean.csv").read_bytes().decode() == world.clean_csv


def check_multi_account(deployment: Deployment, world: ExampleWorld, run_id: str, accounts: list[str]) -> None:
    """The merged set is the union of the run's account files, each checked against its manifest."""
    folder = world.run_folder(MULTI_ACCOUNT, run_id)
    listed_by: dict[str, list[str]] = {}
    for index, conn_id in enumerate(accounts):
        manifest = deployment.xcom(MULTI_ACCOUNT, run_id, "fetch_unsubscribes", map_index=index)
        for record in check_manifest(manifest, folder / "accounts" / f"{conn_id}.jsonl"):
            listed_by.setdefault(key(record["email"]), []).append(conn_id)
    expected = "email,accounts\n" + "".join(
        f"{address},{' '.join(listed_by[address])}\n" for address in sorted(listed_by)
    )
    assert (folder / "suppression_set.csv").read_text() == expected
    assert deployment.xcom(MULTI_ACCOUNT, run_id, "merge_suppression_set")["addresses"] == len(listed_by)
