"""Airflow as separate processes: commands with their own home and SQLite DB, and a running API server."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"

# Straight to loopback, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def airflow_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of an Airflow command with its own home and SQLite DB, plus ``settings``.

    The test session's own ``AIRFLOW__*`` settings and ``AIRFLOW_CONN_*`` connections are left out, so
    a command sees only what the test gives it.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
    )
    env.update(settings)
    return env


def run_airflow(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class ApiServer:
    """A running ``airflow api-server``: its base URL, the environment it runs with, its log file."""

    url: str
    env: dict[str, str]
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One call to the REST API (the simple auth manager with all admins needs no token)."""
        request = urllib.request.Request(
            f"{self.url}{path}", data=body, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with _DIRECT.open(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def healthy(self) -> bool:
        try:
            with _DIRECT.open(f"{self.url}/api/v2/monitor/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False


class ServerStartError(RuntimeError):
    pass


@contextmanager
def running_api_server(home: Path, *, start_timeout: float = 90) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free loopback port: SQLite, simple auth with all admins, tests enabled.

    The DB is migrated first. On exit the server's whole process group is stopped, whatever happened.
    """
    env = airflow_env(
        home,
        AIRFLOW__CORE__AUTH_MANAGER=SIMPLE_AUTH_MANAGER,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(64),  # a short generated one draws a warning
    )
    migrated = run_airflow("db", "migrate", env=env, timeout=300)
    if migrated.returncode != 0:
        raise ServerStartError(f"airflow db migrate failed:\n{migrated.stderr[-3000:]}")

    port = free_port()
    server = ApiServer(url=f"http://127.0.0.1:{port}", env=env, log=home / "api-server.log")
    with server.log.open("w") as log_file:
        process = subprocess.Popen(
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the stop reaches any worker it forks
        )
    try:
        deadline = time.monotonic() + start_timeout
        while not server.healthy():
            if process.poll() is not None:
                raise ServerStartError(f"airflow api-server exited with {process.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                late = f"airflow api-server not healthy after {start_timeout:.0f} s"
                raise ServerStartError(f"{late}:\n{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        _stop(process, server.log)


def _stop(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM to the server's whole process group; SIGKILL once uvicorn has finished, or if it lingers.

    After "Finished server process" the interpreter spends seconds garbage-collecting Airflow's heap on
    its way out, with nothing left to save: no reason to wait for that.
    """
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while process.poll() is None and time.monotonic() < deadline:
            if "Finished server process" in log.read_text(errors="replace"):
                break
            time.sleep(0.1)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(15)
