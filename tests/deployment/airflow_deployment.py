"""A real Airflow deployment, as a team runs one: each component its own process, started from this venv.

The metadata DB is a fresh PostgreSQL database; the API server (which serves the execution API the
Task SDK talks to), the scheduler and the DAG processor run on loopback; tasks run on the
LocalExecutor or on Celery workers fed through Redis. Nothing here calls ``dag.test()``: runs are
started the way users start them (``airflow dags trigger``, ``airflow backfill create``, unpausing)
and watched through the REST API.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from cryptography.fernet import Fernet

from tests.airflow_processes import AIRFLOW, SIMPLE_AUTH_MANAGER, ApiServer, free_port
from tests.deployment.worker_hostname import WORKER_HOSTNAME_ENV

FINISHED = frozenset({"success", "failed"})
PROJECT = Path(__file__).resolve().parents[2]


class DeploymentError(RuntimeError):
    """A component did not start, or a run did not end in time: the message carries the logs' tails."""


class ApiBusy(DeploymentError):
    """The API server answered 5xx or not at all: busy (a loaded 2-core machine), worth asking again."""


@dataclass
class Component:
    """One running Airflow process (its own process group), with its stdout and stderr in files."""

    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stderr.read_text(errors="replace") + self.stdout.read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return f"--- {self.name} ---\n" + "\n".join(self.output().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the whole group, as a service manager would; SIGKILL if it lingers."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(15)
            except ProcessLookupError:
                pass


@dataclass
class Deployment:
    """A running deployment: its home, environment, REST client and components."""

    home: Path
    env: dict[str, str]
    api: ApiServer
    database: str
    components: list[Component] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    # --- The CLI, as an operator of the deployment types it ---------------------------------------

    def cli(self, *args: str, timeout: float = 180) -> str:
        """Run ``airflow <args>`` with the deployment's environment; its stdout, or an error with both outputs."""
        done = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        self._keep_output(f"cli-{args[0]}-{args[1] if len(args) > 1 else ''}", done)
        if done.returncode != 0:
            raise DeploymentError(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
        return done.stdout

    def _keep_output(self, name: str, done: subprocess.CompletedProcess[str]) -> None:
        """Every command's output stays in the home, for the secret search at the end."""
        folder = self.home / "components"
        stem = f"{name}-{time.monotonic_ns()}"
        (folder / f"{stem}.stdout").write_text(done.stdout)
        (folder / f"{stem}.stderr").write_text(done.stderr)

    def trigger(self, dag_id: str, logical_date: str | None = None, conf: Mapping[str, object] | None = None) -> str:
        """``airflow dags trigger`` (with ``--logical-date`` and ``--conf`` when given); the new run's id."""
        args = ["dags", "trigger", dag_id, "-o", "json"]
        if logical_date is not None:
            args += ["--logical-date", logical_date]
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        output = self.cli(*args)  # Airflow's own log lines come first on stdout
        (run,) = json.loads(next(line for line in output.splitlines() if line.startswith("[{")))
        return str(run["dag_run_id"])

    def backfill(self, dag_id: str, from_date: str, to_date: str, max_active_runs: int) -> None:
        self.cli(
            "backfill", "create", "--dag-id", dag_id, "--from-date", from_date, "--to-date", to_date,
            "--max-active-runs", str(max_active_runs),
        )  # fmt: skip

    def unpause(self, *dag_ids: str) -> None:
        for dag_id in dag_ids:
            self.cli("dags", "unpause", dag_id)

    # --- The REST API, for watching ----------------------------------------------------------------

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def patch(self, path: str, body: Mapping[str, object]) -> Any:
        return self._call("PATCH", path, json.dumps(body).encode())

    def _call(self, method: str, path: str, body: bytes | None = None) -> Any:
        try:
            status, answer = self.api.request(method, f"/api/v2{path}", body)
        except OSError as error:
            raise ApiBusy(f"{method} {path}: {error}") from error
        if status != 200:
            kind = ApiBusy if status >= 500 else DeploymentError
            raise kind(f"{method} {path}: HTTP {status}: {answer[:500]!r}")
        return json.loads(answer)

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns?limit=100&order_by=id")["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=100"
        return list(self.get(path)["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        path = (
            f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/return_value"
            f"?map_index={map_index}&deserialize=true&stringify=false"
        )
        return self.get(path)["value"]

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float = 300, every: float = 1.0) -> None:
        """Poll ``ready`` until it holds; a busy API server counts as not ready yet, a dead component fails."""
        deadline = time.monotonic() + timeout
        busy: ApiBusy | None = None
        while True:
            try:
                if ready():
                    return
            except ApiBusy as error:
                busy = error
            dead = [c for c in self.components if c.process.poll() is not None]
            if dead:
                raise DeploymentError(f"{dead[0].name} exited while waiting for {what}:\n{dead[0].tail()}")
            if time.monotonic() > deadline:
                tails = "\n".join(component.tail() for component in self.components)
                raise DeploymentError(f"{what}: not after {timeout:.0f} s (last API error: {busy})\n{tails}")
            time.sleep(every)

    def stop(self) -> None:
        """Stop every component, workers first (as in a rolling shutdown); stopping twice is harmless."""
        for component in reversed(self.components):
            component.stop()

    def wait_for_runs(self, dag_id: str, count: int, *, timeout: float = 300) -> list[dict[str, Any]]:
        """Wait until ``dag_id`` has at least ``count`` runs, all finished; return them all, oldest first."""
        runs: list[dict[str, Any]] = []

        def finished() -> bool:
            nonlocal runs
            runs = self.runs(dag_id)
            return len(runs) >= count and all(run["state"] in FINISHED for run in runs)

        self.wait_for(f"{count} finished runs of {dag_id}", finished, timeout)
        return runs

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float = 300) -> dict[str, Any]:
        run: dict[str, Any] = {}

        def finished() -> bool:
            nonlocal run
            run = self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
            return run["state"] in FINISHED

        self.wait_for(f"run {run_id} of {dag_id}", finished, timeout)
        return run

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, attempt: int = 1) -> str:
        folder = self.logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder /= f"map_index={map_index}"
        return (folder / f"attempt={attempt}.log").read_text(errors="replace")

    def component_output(self) -> Iterable[Path]:
        return sorted((self.home / "components").iterdir())


def postgres_database_uri(admin_uri: str, database: str, driver: str = "postgresql") -> str:
    parts = urlsplit(admin_uri)
    return urlunsplit(parts._replace(scheme=driver, path=f"/{database}"))


def create_database(admin_uri: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_uri: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def deployment_env(home: Path, *, database_uri: str, api_port: int, executor: str, **settings: str) -> dict[str, str]:
    """The environment every component and command of one deployment shares."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "MAILPARTNER_"))
    }
    env.update(
        AIRFLOW_HOME=str(home),
        PYTHONPATH=str(PROJECT),  # the worker hostname callable lives in tests/deployment
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__EXECUTOR=executor,
        AIRFLOW__CORE__PARALLELISM="6",
        AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode(),
        AIRFLOW__CORE__AUTH_MANAGER=SIMPLE_AUTH_MANAGER,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=database_uri,
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{api_port}",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(64),
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    )
    env.update(settings)
    return env


def start_component(home: Path, env: Mapping[str, str], name: str, *args: str) -> Component:
    folder = home / "components"
    stdout, stderr = folder / f"{name}.stdout", folder / f"{name}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [AIRFLOW, *args], env=dict(env), stdout=out, stderr=err, cwd=home, start_new_session=True
        )
    return Component(name, process, stdout, stderr)


def dags_ready(deployment: Deployment, dag_ids: Iterable[str]) -> bool:
    """Every DAG parsed and known to the API server, and no import error."""
    errors = deployment.get("/importErrors")["import_errors"]
    if errors:
        raise DeploymentError(f"DAG files failed to import: {errors}")
    known = {dag["dag_id"] for dag in deployment.get("/dags?limit=100")["dags"]}
    return set(dag_ids) <= known


def healthy(deployment: Deployment) -> bool:
    """The API server answers, and the scheduler's and the DAG processor's heartbeats are recent."""
    health = deployment.get("/monitor/health")  # not up yet: ApiBusy, which wait_for takes for "not yet"
    components = ("metadatabase", "scheduler", "dag_processor")
    return all((health.get(name) or {}).get("status") == "healthy" for name in components)


@dataclass(frozen=True)
class CeleryWorker:
    """A Celery worker of its own name: the hostname its task instances record."""

    hostname: str
    concurrency: int = 2


@contextmanager
def running_deployment(
    home: Path,
    *,
    postgres_admin_uri: str,
    dag_files: Iterable[Path],
    dag_ids: Iterable[str],
    redis_url: str | None = None,
    workers: Iterable[CeleryWorker] = (),
    settings: Mapping[str, str] | None = None,
) -> Iterator[Deployment]:
    """A deployment on a fresh database: LocalExecutor, or Celery with ``workers`` when ``redis_url`` is given.

    On exit every component is stopped (workers first, as in a rolling shutdown) and the database
    dropped, whatever happened.
    """
    database = f"mp_deploy_{secrets.token_hex(4)}"
    create_database(postgres_admin_uri, database)
    components: list[Component] = []
    try:
        port = free_port()
        celery = {}
        if redis_url is not None:
            celery = {
                "AIRFLOW__CELERY__BROKER_URL": redis_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres_database_uri(postgres_admin_uri, database),
            }
        env = deployment_env(
            home,
            database_uri=postgres_database_uri(postgres_admin_uri, database, "postgresql+psycopg2"),
            api_port=port,
            executor="CeleryExecutor" if redis_url is not None else "LocalExecutor",
            **celery,
            **(settings or {}),
        )
        (home / "components").mkdir(parents=True)
        (home / "dags").mkdir()
        for dag_file in dag_files:
            shutil.copyfile(dag_file, home / "dags" / dag_file.name)
        api = ApiServer(url=f"http://127.0.0.1:{port}", env=env, log=home / "components" / "api-server.stderr")
        deployment = Deployment(home, env, api, database, components)
        deployment.cli("db", "migrate", timeout=600)
        components.append(start_component(home, env, "api-server", "api-server", "--port", str(port)))
        components.append(start_component(home, env, "scheduler", "scheduler"))
        components.append(start_component(home, env, "dag-processor", "dag-processor"))
        deployment.wait_for("a healthy API server, scheduler and DAG processor", lambda: healthy(deployment), 180)
        deployment.wait_for("the example DAGs parsed", lambda: dags_ready(deployment, dag_ids), 180)
        for worker in workers:
            worker_env = {
                **env,
                WORKER_HOSTNAME_ENV: worker.hostname,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.deployment.worker_hostname.hostname",
            }
            command = ["celery", "worker", "--celery-hostname", f"{worker.hostname}@%h", "--skip-serve-logs"]
            command += ["--concurrency", str(worker.concurrency), "--pid", str(home / f"{worker.hostname}.pid")]
            components.append(start_component(home, worker_env, worker.hostname, *command))
        for component in components[3:]:
            deployment.wait_for(
                f"Celery worker {component.name} ready",
                lambda c=component: " ready." in c.output(),
                120,  # type: ignore[misc]
            )
        yield deployment
    finally:
        for component in reversed(components):
            component.stop()
        drop_database(postgres_admin_uri, database)
