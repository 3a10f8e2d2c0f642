"""Every example DAG under the real scheduler on the LocalExecutor, however its run was started.

One deployment for the module (metadata DB on PostgreSQL, API server, scheduler, DAG processor),
MailPartner played by the sandbox with a key every URL encoding changes. The tests run in file
order and build on each other, like the days of a deployment: each is a kind of run for all the
examples at once — scheduled (unpausing: this makes the DAGs run at all), ``airflow dags trigger``
without and with a logical date, a 3-day ``airflow backfill create`` whose runs overlap, and the
asset consumer on the producer's events. The opt-out counts expected of a run depend on the runs
before it. Then failures: retries exhausted, a task stopped by SIGTERM (with and without a retry
left) and one failed from outside. Last, with every component stopped, the key and the subscribers'
addresses are searched for in everything the deployment wrote.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_mailpartner.storage import staging_path
from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox
from tests.deployment.airflow_deployment import (
    Deployment,
    create_database,
    drop_database,
    postgres_database_uri,
    running_deployment,
)
from tests.deployment.example_world import (
    ALL_DAGS,
    CONSUMER,
    DAG_FILES,
    LISTED,
    MULTI_ACCOUNT,
    PRODUCER,
    SUPPRESS_FILE,
    SUPPRESS_SQL,
    SYNC_OPTOUTS,
    TIMETABLE_DAGS,
    ExampleWorld,
    check_consumer,
    check_manifest,
    check_multi_account,
    check_producer,
    check_published,
    check_suppress_file,
    check_suppress_sql,
    check_sync_optouts,
    create_crm,
    listed_entries,
)
from tests.deployment.secrets_search import assert_no_key_anywhere, task_logs
from tests.nasty_key import NASTY_KEY

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
RETRYING = "deployment_list_with_retry"  # tests/deployment/dags: the list operator with a retry
BRAND_B_KEY = "brand/b+key=&%"
ACCOUNTS = ["mailpartner_default", "mp_brand_b"]
LOGICAL_DATE = "2026-06-15"
BACKFILL = ("2026-11-01", "2026-11-03")
BACKFILL_DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")


@dataclass
class Local:
    deployment: Deployment
    world: ExampleWorld
    main: MailPartnerSandbox
    crm_uri: str
    listed: list[dict[str, str]]


@pytest.fixture(scope="module")
def local(postgres_admin_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    base = tmp_path_factory.mktemp("deployment-local")
    root = base / "data"
    root.mkdir()
    crm = f"mp_crm_{secrets.token_hex(4)}"
    create_database(postgres_admin_uri, crm)
    try:
        with (
            MailPartnerSandbox(api_key=NASTY_KEY, rate_limit_per_minute=None) as main,
            MailPartnerSandbox(api_key=BRAND_B_KEY, rate_limit_per_minute=None) as brand_b,
        ):
            main_listed = listed_entries("person", LISTED)
            main.backend.seed(main_listed)
            brand_b.backend.seed(main_listed[:20] + listed_entries("brandb", 30))
            world = ExampleWorld(root, main_listed)
            world.write_files()
            crm_uri = postgres_database_uri(postgres_admin_uri, crm)
            create_crm(crm_uri, world)
            new_today = [f"optout{n}@example.org" for n in range(5)]
            today = datetime.now(UTC).date()
            for day in (today - timedelta(days=1), today, today + timedelta(days=1)):  # midnight may pass
                world.add_optouts(day.isoformat(), new=new_today, listed=[e["email"] for e in main_listed[:3]])
            for day in (LOGICAL_DATE, *BACKFILL_DAYS):  # the list stays as it is from here on
                world.add_optouts(day, new=[], listed=[e["email"] for e in main_listed[3:7]])
            settings = {
                "MAILPARTNER_EXAMPLE_ROOT": f"file://{root}",
                "AIRFLOW_VAR_MAILPARTNER_ACCOUNTS": json.dumps(ACCOUNTS),
                **brand_b.airflow_env("mp_brand_b", extra={"retry_backoff": 0.01}),
                "AIRFLOW_CONN_MAILPARTNER_EXAMPLE_DB": postgres_connection(crm_uri),
            }
            with running_deployment(
                base / "airflow-home",
                postgres_admin_uri=postgres_admin_uri,
                dag_files=[*(EXAMPLES / name for name in DAG_FILES), Path(__file__).parent / "dags" / f"{RETRYING}.py"],
                dag_ids=[*ALL_DAGS, RETRYING],
                settings=settings,
            ) as deployment:
                # The main account's connection in the metadata DB, as typed by whoever runs the deployment:
                # tasks then read it through the execution API.
                connection = main.connection_dict(extra={"retry_backoff": 0.01, "max_retries": 2})
                deployment.cli("connections", "add", "mailpartner_default", "--conn-json", json.dumps(connection))
                yield Local(deployment, world, main, crm_uri, main_listed)
            assert main.errors == [], "the sandbox failed while serving"
            assert brand_b.errors == [], "the second sandbox failed while serving"
    finally:
        drop_database(postgres_admin_uri, crm)


def postgres_connection(uri: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parts.hostname,
            "port": parts.port,
            "login": parts.username,
            "password": parts.password,
            "schema": parts.path.lstrip("/"),
        }
    )


def runs_of(deployment: Deployment, dag_id: str, run_type: str) -> list[dict[str, object]]:
    return [run for run in deployment.runs(dag_id) if run["run_type"] == run_type]


def assert_succeeded(runs: list[dict[str, object]]) -> None:
    assert runs, "no run"
    assert {str(run["dag_run_id"]): run["state"] for run in runs} == {str(run["dag_run_id"]): "success" for run in runs}


def day_of(run: dict[str, object]) -> str:
    """The opt-out file a sync run reads: its logical date's day, or the day it was triggered."""
    return str(run["logical_date"] or run["run_after"])[:10]


def check_every_example(local: Local, runs: dict[str, list[dict[str, object]]], *, first_sync: bool) -> None:
    deployment, world = local.deployment, local.world
    for dag_id, dag_runs in runs.items():
        assert_succeeded(dag_runs)
        for run in dag_runs:
            run_id = str(run["dag_run_id"])
            if dag_id == SUPPRESS_FILE:
                check_suppress_file(deployment, world, run_id)
            elif dag_id == SUPPRESS_SQL:
                check_suppress_sql(deployment, world, run_id, local.crm_uri)
            elif dag_id == SYNC_OPTOUTS:
                check_sync_optouts(deployment, world, run_id, day_of(run), first=first_sync)
            elif dag_id == PRODUCER:
                check_producer(deployment, world, run_id)
            elif dag_id == CONSUMER:
                check_consumer(deployment, world, run_id)
            elif dag_id == MULTI_ACCOUNT:
                check_multi_account(deployment, world, run_id, ACCOUNTS)
    check_published(world)


def test_scheduled_runs_of_every_example_succeed(local: Local) -> None:
    """Unpausing a DAG with catchup off makes one scheduled run; the producer's event then runs the consumer."""
    deployment = local.deployment
    deployment.unpause(CONSUMER, *TIMETABLE_DAGS)  # a paused consumer would miss the producer's event
    for dag_id in TIMETABLE_DAGS:
        deployment.wait_for_runs(dag_id, 1)
    deployment.wait_for_runs(CONSUMER, 1)

    runs = {dag_id: runs_of(deployment, dag_id, "scheduled") for dag_id in TIMETABLE_DAGS}
    runs[CONSUMER] = runs_of(deployment, CONSUMER, "asset_triggered")
    assert all(len(dag_runs) == 1 for dag_runs in runs.values()), runs
    check_every_example(local, runs, first_sync=True)


def trigger_all(local: Local, logical_date: str | None) -> dict[str, list[dict[str, object]]]:
    """``airflow dags trigger`` every example; the consumer once the producer's run is over (it reads its event)."""
    deployment = local.deployment
    run_ids = {dag_id: deployment.trigger(dag_id, logical_date) for dag_id in TIMETABLE_DAGS}
    runs = {dag_id: [deployment.wait_for_run(dag_id, run_id)] for dag_id, run_id in run_ids.items()}
    consumer_run = deployment.trigger(CONSUMER, logical_date)
    runs[CONSUMER] = [deployment.wait_for_run(CONSUMER, consumer_run)]
    wait_until_idle(deployment)  # the asset-triggered consumer runs the producer's event started
    return runs


def wait_until_idle(deployment: Deployment) -> None:
    def idle() -> bool:
        return all(run["state"] in ("success", "failed") for dag_id in ALL_DAGS for run in deployment.runs(dag_id))

    deployment.wait_for("every run finished", idle)


def test_runs_triggered_without_a_logical_date_succeed(local: Local) -> None:
    """What a DAG author does first: ``airflow dags trigger`` (or the Trigger button) with no date."""
    runs = trigger_all(local, None)

    for dag_id, (run,) in runs.items():
        assert (run["run_type"], run["logical_date"]) == ("manual", None), dag_id
    check_every_example(local, runs, first_sync=False)
    assert_succeeded(runs_of(local.deployment, CONSUMER, "asset_triggered"))


def test_runs_triggered_with_a_logical_date_succeed(local: Local) -> None:
    runs = trigger_all(local, f"{LOGICAL_DATE}T00:00:00+00:00")

    for dag_id, (run,) in runs.items():
        assert (run["run_type"], str(run["logical_date"])[:10]) == ("manual", LOGICAL_DATE), dag_id
    check_every_example(local, runs, first_sync=True)


def test_a_three_day_backfill_runs_in_parallel_and_every_run_succeeds(local: Local) -> None:
    """Three runs at once per DAG; the suppress-file runs all publish the same clean list, whole.

    Beside the published list wait a live writer's staging file (started a minute ago) and a dead
    one's (two days ago): the runs' clean-up removes the dead one only.
    """
    deployment = local.deployment
    published = ObjectStoragePath(f"file://{local.world.root}/published/contacts.clean.csv")
    now = datetime.now(UTC)
    live, dead = staging_path(published, now - timedelta(minutes=1)), staging_path(published, now - timedelta(days=2))
    for planted in (live, dead):
        planted.write_text("half a clean list")
    for dag_id in TIMETABLE_DAGS:
        deployment.backfill(dag_id, *BACKFILL, max_active_runs=3)
    for dag_id in TIMETABLE_DAGS:
        deployment.wait_for("three backfill runs", lambda d=dag_id: len(runs_of(deployment, d, "backfill")) == 3)
    wait_until_idle(deployment)

    runs = {dag_id: runs_of(deployment, dag_id, "backfill") for dag_id in TIMETABLE_DAGS}
    assert {dag_id: sorted(day_of(run) for run in dag_runs) for dag_id, dag_runs in runs.items()} == {
        dag_id: list(BACKFILL_DAYS) for dag_id in TIMETABLE_DAGS
    }
    check_every_example(local, runs, first_sync=True)
    spans = [(run["start_date"], run["end_date"]) for run in runs[SUPPRESS_FILE]]
    assert any(a[0] < b[1] and b[0] < a[1] for a in spans for b in spans if a is not b), f"no overlap: {spans}"
    assert (live.exists(), dead.exists()) == (True, False)
    live.unlink()


def test_retries_exhausted_fail_the_run_with_the_typed_error_and_leave_the_published_list(local: Local) -> None:
    deployment, world = local.deployment, local.world
    published = published_bytes(world)
    local.main.faults.set_rate(1.0, kinds=[Fault.http_error(503)], command="unsubscribe/list")
    try:
        run_id = deployment.trigger(SUPPRESS_FILE)
        run = deployment.wait_for_run(SUPPRESS_FILE, run_id)
    finally:
        local.main.faults.clear()

    assert run["state"] == "failed"
    states = {ti["task_id"]: ti["state"] for ti in deployment.task_instances(SUPPRESS_FILE, run_id)}
    assert states == {
        "fetch_unsubscribes": "failed",
        "suppress_contacts": "upstream_failed",
        "publish_clean_list": "upstream_failed",
    }
    error_type, error = task_error(deployment.task_log(SUPPRESS_FILE, run_id, "fetch_unsubscribes"))
    assert error_type == "MailPartnerApiError"
    assert error.startswith("MailPartner connection 'mailpartner_default': HTTP 503: ")
    assert error.endswith("(gave up after 2 retries)")
    assert published_bytes(world) == published
    folder = world.run_folder(SUPPRESS_FILE, run_id)
    assert staging_files(folder, world.root / "published") == []
    assert not folder.exists() or list(folder.iterdir()) == []


def task_error(log: str) -> tuple[str, str]:
    """The type and text of the error a task failed with, from its log (JSON lines, as Airflow writes them)."""
    for line in log.splitlines():
        record = json.loads(line)
        if record.get("event") == "Task failed with exception":
            (error, *_) = record["error_detail"]
            return str(error["exc_type"]), str(error["exc_value"])
    raise AssertionError(f"the task log shows no failure:\n{log[-3000:]}")


def published_bytes(world: ExampleWorld) -> bytes | None:
    path = world.root / "published" / "contacts.clean.csv"
    return path.read_bytes() if path.exists() else None


def staging_files(*folders: Path) -> list[Path]:
    return [path for folder in folders if folder.exists() for path in folder.rglob("*") if ".partial-" in path.name]


def fetch_while_stalled(local: Local, dag_id: str = SUPPRESS_FILE) -> tuple[str, int, Path]:
    """Trigger ``dag_id`` with MailPartner sending its list a byte at a time; once the list's staging
    file exists, return the run, the fetching task's process id and the run's folder."""
    deployment, world = local.deployment, local.world
    local.main.faults.set_rate(1.0, kinds=[Fault.trickle(0.5)], command="unsubscribe/list")
    run_id = deployment.trigger(dag_id)
    folder = world.run_folder(dag_id, run_id)
    deployment.wait_for("the list's staging file", lambda: bool(staging_files(folder)), 120, 0.2)
    (fetch,) = [ti for ti in deployment.task_instances(dag_id, run_id) if ti["task_id"] == "fetch_unsubscribes"]
    assert fetch["state"] == "running", fetch
    assert fetch["pid"], fetch
    return run_id, int(fetch["pid"]), folder


def stopped(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_task_stopped_by_sigterm_leaves_no_staging_file(local: Local) -> None:
    deployment, world = local.deployment, local.world
    published = published_bytes(world)
    try:
        run_id, pid, folder = fetch_while_stalled(local)
        os.kill(pid, signal.SIGTERM)
        run = deployment.wait_for_run(SUPPRESS_FILE, run_id, timeout=120)
    finally:
        local.main.faults.clear()

    assert run["state"] == "failed"
    assert staging_files(folder, world.root / "published") == []
    error_type, error = task_error(deployment.task_log(SUPPRESS_FILE, run_id, "fetch_unsubscribes"))
    assert (error_type, error) == ("WriteStopped", "stopped by SIGTERM while writing; the staging file is removed")
    assert published_bytes(world) == published
    assert list(folder.iterdir()) == []


def test_a_task_stopped_by_sigterm_while_writing_is_retried_and_the_retry_publishes(local: Local) -> None:
    """A worker shutting down is no reason to give up: a task with a retry left runs again."""
    deployment = local.deployment
    deployment.unpause(RETRYING)
    try:
        run_id, pid, folder = fetch_while_stalled(local, RETRYING)
        os.kill(pid, signal.SIGTERM)
        deployment.wait_for("the stopped task up for retry", lambda: fetch_state(local, run_id) == "up_for_retry")
    finally:
        local.main.faults.clear()
    run = deployment.wait_for_run(RETRYING, run_id, timeout=120)

    assert run["state"] == "success"
    (fetch,) = deployment.task_instances(RETRYING, run_id)
    assert fetch["try_number"] == 2
    records = check_manifest(deployment.xcom(RETRYING, run_id, "fetch_unsubscribes"), folder / "unsubscribes.jsonl")
    assert len(records) == local.main.backend.count
    assert sorted(path.name for path in folder.iterdir()) == ["unsubscribes.changes.jsonl", "unsubscribes.jsonl"]


def fetch_state(local: Local, run_id: str) -> str:
    (fetch,) = local.deployment.task_instances(RETRYING, run_id)
    return str(fetch["state"])


def test_a_task_failed_from_outside_while_writing_leaves_no_staging_file(local: Local) -> None:
    """Its state set to failed through the REST API (as the UI does): the supervisor stops the task."""
    deployment, world = local.deployment, local.world
    published = published_bytes(world)
    try:
        run_id, pid, _ = fetch_while_stalled(local)
        deployment.patch(
            f"/dags/{SUPPRESS_FILE}/dagRuns/{run_id}/taskInstances/fetch_unsubscribes", {"new_state": "failed"}
        )
        deployment.wait_for("the stopped task's process to end", lambda: stopped(pid), 60, 0.2)
        run = deployment.wait_for_run(SUPPRESS_FILE, run_id, timeout=120)
    finally:
        local.main.faults.clear()

    assert run["state"] == "failed"
    assert staging_files(world.run_folder(SUPPRESS_FILE, run_id), world.root / "published") == []
    assert published_bytes(world) == published


def test_a_list_that_shrank_is_refused_and_a_run_triggered_with_the_ratio_param_publishes_it(local: Local) -> None:
    """The guard under the scheduler: nothing runs after a refused list; ``--conf`` raises the ratio for one run."""
    deployment, world, backend = local.deployment, local.world, local.main.backend
    published = published_bytes(world)
    leaving = backend.entries()[: backend.count // 10]  # 10% re-subscribe at once
    for entry in leaving:
        backend.delete(entry["id"])

    refused = deployment.trigger(SUPPRESS_FILE)
    assert deployment.wait_for_run(SUPPRESS_FILE, refused)["state"] == "failed"
    error_type, error = task_error(deployment.task_log(SUPPRESS_FILE, refused, "fetch_unsubscribes"))
    assert error_type == "MailPartnerGuardError"
    assert f"{len(leaving)} of the previous snapshot's" in error
    assert "nothing was published" in error
    assert published_bytes(world) == published
    assert not (world.run_folder(SUPPRESS_FILE, refused) / "unsubscribes.jsonl").exists()

    accepted = deployment.trigger(SUPPRESS_FILE, conf={"mailpartner_max_removed_ratio": 0.2})
    assert deployment.wait_for_run(SUPPRESS_FILE, accepted)["state"] == "success"
    manifest = deployment.xcom(SUPPRESS_FILE, accepted, "fetch_unsubscribes")
    assert (manifest["removed"], manifest["count"]) == (len(leaving), backend.count)
    changes = (world.run_folder(SUPPRESS_FILE, accepted) / "unsubscribes.changes.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in changes) == sorted(entry["id"] for entry in leaving)
    log = deployment.task_log(SUPPRESS_FILE, accepted, "fetch_unsubscribes")
    assert "Guards for this run set by DAG params: max_removed_ratio=0.2" in log


def test_the_key_and_the_addresses_are_in_no_log_output_xcom_or_database_row(local: Local) -> None:
    """Searched last, every component stopped (their last words included): task logs, components' and
    commands' output, the data folder, and a dump of the metadata DB (XComs, rendered fields, the
    audit log, connections). Subscribers' addresses reach no task log either: counts only."""
    local.deployment.stop()
    assert_no_key_anywhere(local.deployment, extra_folders=[local.world.root])
    logs = "\n".join(path.read_text(errors="replace") for path in task_logs(local.deployment)).lower()
    assert [entry["email"] for entry in local.listed if entry["email"].lower() in logs] == []
