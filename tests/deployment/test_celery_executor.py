"""The examples on the CeleryExecutor: Redis as the broker, two workers with hostnames of their own.

The multi-account DAG maps one fetch per account over four accounts; with each fetch held up a
little by MailPartner, the four run at once and must land on both workers. The main job runs there
too, and the key is then searched for in everything this deployment wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox
from tests.deployment.airflow_deployment import CeleryWorker, Deployment, running_deployment
from tests.deployment.example_world import (
    LISTED,
    MULTI_ACCOUNT,
    SUPPRESS_FILE,
    ExampleWorld,
    check_multi_account,
    check_published,
    check_suppress_file,
    listed_entries,
)
from tests.deployment.secrets_search import assert_no_key_anywhere
from tests.nasty_key import NASTY_KEY

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
WORKERS = (CeleryWorker("worker-a"), CeleryWorker("worker-b"))
BRANDS = ("mp_brand_b", "mp_brand_c", "mp_brand_d")
ACCOUNTS = ["mailpartner_default", *BRANDS]
FETCH_SECONDS = 3  # how long MailPartner takes over each list: long enough for the four fetches to overlap


@dataclass
class Celery:
    deployment: Deployment
    world: ExampleWorld
    sandboxes: list[MailPartnerSandbox]


@pytest.fixture(scope="module")
def celery(postgres_admin_uri: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Celery]:
    base = tmp_path_factory.mktemp("deployment-celery")
    root = base / "data"
    root.mkdir()
    keys = [NASTY_KEY, *(f"{brand}/key+=&%" for brand in BRANDS)]
    sandboxes = [MailPartnerSandbox(api_key=key, rate_limit_per_minute=None) for key in keys]
    try:
        for sandbox in sandboxes:
            sandbox.start()
        main, *brands = sandboxes
        main_listed = listed_entries("person", LISTED)
        main.backend.seed(main_listed)
        for number, sandbox in enumerate(brands):  # 10 addresses on every account: merged once, naming each
            sandbox.backend.seed(main_listed[:10] + listed_entries(f"brand{number}-", 20))
        world = ExampleWorld(root, main_listed)
        world.write_files()
        settings = {
            "MAILPARTNER_EXAMPLE_ROOT": f"file://{root}",
            "AIRFLOW_VAR_MAILPARTNER_ACCOUNTS": json.dumps(ACCOUNTS),
        }
        for brand, sandbox in zip(BRANDS, brands, strict=True):
            settings.update(sandbox.airflow_env(brand, extra={"retry_backoff": 0.01}))
        with running_deployment(
            base / "airflow-home",
            postgres_admin_uri=postgres_admin_uri,
            dag_files=[EXAMPLES / f"{dag_id}.py" for dag_id in (MULTI_ACCOUNT, SUPPRESS_FILE)],
            dag_ids=[MULTI_ACCOUNT, SUPPRESS_FILE],
            redis_url=redis_url,
            workers=WORKERS,
            settings=settings,
        ) as deployment:
            connection = main.connection_dict(extra={"retry_backoff": 0.01})
            deployment.cli("connections", "add", "mailpartner_default", "--conn-json", json.dumps(connection))
            yield Celery(deployment, world, sandboxes)
        for sandbox in sandboxes:
            assert sandbox.errors == [], f"{sandbox} failed while serving"
    finally:
        for sandbox in sandboxes:
            sandbox.stop()


def test_mapped_fetches_spread_over_both_workers_and_merge_into_one_set(celery: Celery) -> None:
    deployment = celery.deployment
    for sandbox in celery.sandboxes:
        sandbox.faults.set_rate(1.0, kinds=[Fault.latency(FETCH_SECONDS)], command="unsubscribe/list")
    try:
        deployment.unpause(MULTI_ACCOUNT, SUPPRESS_FILE)  # one scheduled run each, at once
        (scheduled,) = deployment.wait_for_runs(MULTI_ACCOUNT, 1)
        manual = deployment.wait_for_run(MULTI_ACCOUNT, deployment.trigger(MULTI_ACCOUNT))
    finally:
        for sandbox in celery.sandboxes:
            sandbox.faults.clear()

    for run in (scheduled, manual):
        run_id = str(run["dag_run_id"])
        assert run["state"] == "success", run
        instances = deployment.task_instances(MULTI_ACCOUNT, run_id)
        fetches = [ti for ti in instances if ti["task_id"] == "fetch_unsubscribes"]
        assert sorted(ti["map_index"] for ti in fetches) == [0, 1, 2, 3]
        assert {ti["state"] for ti in fetches} == {"success"}
        assert {ti["hostname"] for ti in fetches} == {worker.hostname for worker in WORKERS}, fetches
        check_multi_account(deployment, celery.world, run_id, ACCOUNTS)
        merged = (celery.world.run_folder(MULTI_ACCOUNT, run_id) / "suppression_set.csv").read_text().splitlines()
        assert "person0@example.com,mailpartner_default mp_brand_b mp_brand_c mp_brand_d" in merged
        assert len(merged) == 1 + LISTED + 3 * 20


def test_the_main_job_triggered_by_hand_runs_on_the_workers(celery: Celery) -> None:
    deployment = celery.deployment
    run = deployment.wait_for_run(SUPPRESS_FILE, deployment.trigger(SUPPRESS_FILE))

    assert run["state"] == "success"
    run_id = str(run["dag_run_id"])
    hosts = {ti["hostname"] for ti in deployment.task_instances(SUPPRESS_FILE, run_id)}
    assert hosts <= {worker.hostname for worker in WORKERS}
    check_suppress_file(deployment, celery.world, run_id)
    check_published(celery.world)


def test_the_key_is_in_no_log_output_xcom_or_database_row(celery: Celery) -> None:
    """Searched once every component has stopped: their last words are searched too."""
    deployment = celery.deployment
    deployment.wait_for_runs(SUPPRESS_FILE, 2)  # the scheduled run unpausing made, too
    deployment.stop()
    assert_no_key_anywhere(deployment, extra_folders=[celery.world.root])
