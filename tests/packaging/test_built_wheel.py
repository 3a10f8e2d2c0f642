"""The distributions as users get them: built with ``python -m build``, installed into a fresh venv.

``python -m build`` makes the sdist, then the wheel *from the sdist*, so a file the sdist forgets
breaks the wheel too. The wheel goes into a venv without system site-packages, and everything
below runs from there, outside the repository: Airflow's own CLI discovers the provider, loads the
wheel's example DAGs as a bundle with ``load_examples`` on, and runs one of them against the
sandbox started with the wheel's ``mailpartner-sandbox`` command.

Two ways to fill that venv:

- by default (fast, offline): ``pip install --no-deps`` of the wheel into a venv that links this
  one's packages except this project's own editable install (``tests/linked_venv.py``). Every
  file of the package, its metadata, entry points and script come from the wheel alone; the
  dependencies are the ones this suite already runs on. About 10 s instead of about 70.
- with ``MAILPARTNER_TEST_CLEAN_INSTALL=1``: ``pip install`` of the wheel with its declared
  dependencies from the package index (Airflow pinned to the version this suite runs on), which
  also proves the dependency list is complete. About a minute with pip's cache warm; CI sets it.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

import airflow_provider_mailpartner
from tests.linked_venv import linked_venv

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
DIST = "airflow-provider-mailpartner"
PACKAGE = "airflow_provider_mailpartner"
BUNDLE = f"{DIST}-example-dags"
REPOSITORY_URL = "https://github.com/mailpartner/airflow-provider-mailpartner"
EXAMPLE_FILES = sorted(path.name for path in REPO.glob("example_dags/*.py"))
EXAMPLE_DAG_IDS = sorted(
    re.findall(r'dag_id="([^"]+)"', "".join(path.read_text() for path in REPO.glob("example_dags/*.py")))
)
# Warnings Airflow's own CLI prints in a minimal install, whatever the providers: the optional
# graphviz package missing, and a deprecation inside Airflow's test client import.
AIRFLOW_NOISE = ("Could not import graphviz", "Using `httpx` with `starlette.testclient` is deprecated")
LOG_PROBLEM = re.compile(r"\[\s*(warning|error|critical|exception)\s*\]|^Traceback|^\w*(Error|Warning):", re.I)
CLEAN_INSTALL = "MAILPARTNER_TEST_CLEAN_INSTALL"
INSTALL_TIMEOUT = 900  # a cold pip cache downloads Airflow and its ~150 dependencies


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installed:
    venv: Path
    site_packages: Path
    home: Path
    env: dict[str, str]

    def run(
        self, *args: str, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of the venv (``airflow``, ``python``, ...) outside the repository; it must succeed."""
        command = self.venv / "bin" / args[0]
        if args[0] == "airflow" and not command.exists():  # a linked venv has no console scripts of its own
            command = self.venv / "bin" / "python"
            args = ("python", "-m", *args)
        completed = subprocess.run(
            [str(command), *args[1:]],
            cwd=self.home,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output = completed.stdout + completed.stderr
        assert completed.returncode == 0, f"{' '.join(args)} failed:\n{output[-6000:]}"
        return completed


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("dist")
    completed = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-6000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Built(sdist, wheel)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel in a fresh venv, with an initialised SQLite metadata DB in its own AIRFLOW_HOME."""
    base = tmp_path_factory.mktemp("installed-wheel")
    venv = base / "venv"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    if os.environ.get(CLEAN_INSTALL) == "1":
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        constraints = base / "constraints.txt"
        constraints.write_text(_airflow_pin())
        pip += ["--constraint", str(constraints)]
    else:
        linked_venv(venv, leave_out=[DIST])
        pip += ["--no-deps"]
    installing = subprocess.run(
        [*pip, str(built.wheel)], env=environment, cwd=base, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
    )
    assert installing.returncode == 0, (installing.stdout + installing.stderr)[-6000:]
    (site_packages,) = (venv / "lib").glob("python3*/site-packages")
    home = base / "airflow-home"
    (home / "dags").mkdir(parents=True)  # the default bundle's folder, empty: only the examples to load
    env = {k: v for k, v in environment.items() if not k.startswith(("AIRFLOW", "MAILPARTNER_"))}
    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "True",
        "MAILPARTNER_EXAMPLE_ROOT": f"file://{base / 'example-root'}",
    }
    installation = Installed(venv, site_packages, home, env)
    installation.run("airflow", "db", "migrate")
    return installation


def _airflow_pin() -> str:
    """Install the Airflow this suite runs on (the version matrix runs this test on each)."""
    try:
        return f"apache-airflow=={version('apache-airflow')}\n"
    except PackageNotFoundError:
        return ""


def problems(completed: subprocess.CompletedProcess[str]) -> list[str]:
    """Log lines at warning level or above, tracebacks and printed warnings, but Airflow's own noise."""
    return [
        line
        for line in (completed.stdout + "\n" + completed.stderr).splitlines()
        if LOG_PROBLEM.search(line.strip()) and not any(noise in line for noise in AIRFLOW_NOISE)
    ]


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"{PACKAGE}-{airflow_provider_mailpartner.__version__}.dist-info/METADATA").decode()
    return email.parser.Parser().parsestr(text)


def test_the_wheel_carries_the_package_the_examples_the_sandbox_and_no_stray_files(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(f"{PACKAGE}-{airflow_provider_mailpartner.__version__}.dist-info/entry_points.txt")
    sources = sorted(
        path.relative_to(REPO).as_posix() for path in (REPO / PACKAGE).rglob("*.py") if "__pycache__" not in path.parts
    )

    assert f"{PACKAGE}/py.typed" in names
    assert sorted(name for name in names if name.endswith(".py") and "/example_dags/" not in name) == sources
    assert sorted(n.rpartition("/")[2] for n in names if n.startswith(f"{PACKAGE}/example_dags/")) == EXAMPLE_FILES
    assert {f"{PACKAGE}/testing/cli.py", f"{PACKAGE}/testing/sandbox.py", f"{PACKAGE}/testing/server.py"} <= set(names)
    assert f"{PACKAGE}-{airflow_provider_mailpartner.__version__}.dist-info/licenses/LICENSE" in names
    stray = [n for n in names if re.search(r"(^|/)(tests|\.venv[^/]*|\.demo|__pycache__|docs)/|\.pyc$", n)]
    assert stray == []
    assert b"mailpartner-sandbox = airflow_provider_mailpartner.testing.cli:main" in entry_points
    assert b"[apache_airflow_provider]\nprovider_info = airflow_provider_mailpartner:get_provider_info" in entry_points


def test_the_wheel_metadata_describes_an_airflow_provider(built: Built) -> None:
    metadata = wheel_metadata(built.wheel)
    classifiers = metadata.get_all("Classifier")
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL"))

    assert metadata["Name"] == DIST
    assert metadata["Version"] == airflow_provider_mailpartner.__version__
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    # Only the Python the tests run on is promised (docs/compatibility.md).
    assert [c for c in classifiers if c.startswith("Programming Language :: Python :: 3.")] == [
        "Programming Language :: Python :: 3.11"
    ]
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == ">=3.11"
    assert any(req.startswith("apache-airflow<4,>=3.1") for req in metadata.get_all("Requires-Dist"))
    assert urls == {
        "Homepage": REPOSITORY_URL,
        "Documentation": f"{REPOSITORY_URL}/tree/main/docs",
        "Source": REPOSITORY_URL,
        "Changelog": f"{REPOSITORY_URL}/blob/main/CHANGELOG.md",
        "Issues": f"{REPOSITORY_URL}/issues",
    }
    assert metadata["Description-Content-Type"] == "text/markdown"


def test_the_sdist_carries_what_builds_documents_and_tests_the_package(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}

    assert {"pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "PKG-INFO", f"{PACKAGE}/py.typed"} <= names
    assert {f"example_dags/{name}" for name in EXAMPLE_FILES} <= names
    assert {path.relative_to(REPO).as_posix() for path in REPO.glob("docs/**/*.md")} <= names
    assert "tests/conftest.py" in names
    assert [n for n in names if re.search(r"(^|/)(\.venv[^/]*|\.demo|\.git|__pycache__|dist|build)(/|$)", n)] == []
    assert "Apache License" in (REPO / "LICENSE").read_text()


def test_twine_accepts_both_distributions(built: Built) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(built.sdist), str(built.wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.count("PASSED") == 2, completed.stdout


def test_the_package_imports_from_the_clean_venv_not_the_repository(installed: Installed) -> None:
    script = (
        "import json, airflow_provider_mailpartner as p, importlib.metadata as m; "
        "print(json.dumps([p.__file__, str(m.distribution('airflow-provider-mailpartner').locate_file(''))]))"
    )
    module_file, dist_root = json.loads(installed.run("python", "-c", script).stdout)

    assert Path(module_file) == installed.site_packages / PACKAGE / "__init__.py"
    assert Path(dist_root) == installed.site_packages


def test_airflow_discovers_the_provider_with_its_version_and_documentation_url(
    installed: Installed, built: Built
) -> None:
    full = installed.run("airflow", "providers", "get", DIST, "--full", "--output", "json")
    (info,) = json.loads(full.stdout)
    table = installed.run("airflow", "providers", "get", DIST)

    assert problems(full) == problems(table) == []
    assert full.stderr == table.stderr == ""
    assert info["package-name"] == DIST
    assert info["documentation-url"] == f"{REPOSITORY_URL}/tree/main/docs"
    wheel_version = re.escape(wheel_metadata(built.wheel)["Version"])
    assert re.search(rf"^{DIST}\s*\|\s*{wheel_version}\s*$", table.stdout, re.M), table.stdout


def test_airflow_lists_the_hook(installed: Installed) -> None:
    output = installed.run("airflow", "providers", "hooks", "--output", "json")
    hooks = {hook["connection_type"]: hook for hook in json.loads(output.stdout)}

    assert problems(output) == []
    assert hooks["mailpartner"]["class"] == f"{PACKAGE}.hooks.mailpartner.MailPartnerHook"
    assert hooks["mailpartner"]["package_name"] == DIST
    assert hooks["mailpartner"]["hook_name"] == "MailPartner"


def test_load_examples_loads_the_wheel_s_example_dags_as_a_bundle_without_error(installed: Installed) -> None:
    _needs_provider_example_bundles(installed)
    examples = installed.site_packages / PACKAGE / "example_dags"

    # What the DAG processor does with the bundle: parse every file, store the DAGs and any import error.
    parse_log = installed.run("airflow", "dags", "reserialize", "--bundle-name", BUNDLE)
    listed = installed.run(
        "airflow", "dags", "list", "--bundle-name", BUNDLE, "--output", "json", "--columns", "dag_id,fileloc"
    )
    dags = {dag["dag_id"]: dag["fileloc"] for dag in json.loads(_json_document(listed.stdout))}
    import_errors = installed.run("airflow", "dags", "list-import-errors", "--output", "json")

    assert problems(parse_log) == []
    assert f"Filling up the DagBag from {examples}" in parse_log.stdout + parse_log.stderr
    assert sorted(dags) == EXAMPLE_DAG_IDS
    assert {Path(fileloc).parent for fileloc in dags.values()} == {examples}
    assert json.loads(_json_document(import_errors.stdout)) == []


def test_an_example_dag_from_the_wheel_runs_against_the_wheel_s_sandbox(installed: Installed) -> None:
    _needs_provider_example_bundles(installed)
    root = Path(installed.env["MAILPARTNER_EXAMPLE_ROOT"].removeprefix("file://"))
    root.mkdir(exist_ok=True)
    seed = root.parent / "unsubscribes.csv"
    seed.write_text("email\ngone@example.com\nleft@example.org\n")
    contacts = ["id,email,name", "1,GONE@Example.com,Ann", "2,carl@example.net,Carl", "3, left@example.org ,Bob"]
    (root / "contacts.csv").write_text("\n".join([*contacts, "4,dora@example.com,Dora", ""]))

    with sandbox_command(installed, "--port", "0", "--seed-file", str(seed)) as connection:
        output = installed.run(
            "airflow",
            "dags",
            "test",
            "example_mailpartner_suppress_file",
            "2026-11-25",
            "--bundle-name",
            BUNDLE,
            env={**installed.env, "AIRFLOW_CONN_MAILPARTNER_DEFAULT": connection},
        )

    assert "Dag run in success state" in output.stdout, output.stdout[-6000:]
    assert problems(output) == []
    assert (root / "published" / "contacts.clean.csv").read_text() == (
        "id,email,name\n2,carl@example.net,Carl\n4,dora@example.com,Dora\n"
    )
    (report,) = (root / "runs" / "example_mailpartner_suppress_file").glob("*/contacts.suppressed.csv")
    assert report.parent.name.startswith("manual__")  # the run's folder, named by its run id


@contextmanager
def sandbox_command(installed: Installed, *args: str) -> Iterator[str]:
    """``mailpartner-sandbox`` from the venv: yields the connection JSON it prints; stopped with SIGTERM."""
    process = subprocess.Popen(
        [str(installed.venv / "bin" / "mailpartner-sandbox"), *args],
        cwd=installed.home,
        env=installed.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("{"), f"the sandbox did not start: {line!r}"
        yield line.strip()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "mailpartner-sandbox: stopped" in stderr


def _json_document(stdout: str) -> str:
    """The JSON a CLI printed (Airflow's log lines, which start with a timestamp, may come first)."""
    return next(line for line in reversed(stdout.splitlines()) if line.startswith(("[", "{")))


def _needs_provider_example_bundles(installed: Installed) -> None:
    script = (
        "import airflow.dag_processing.bundles.manager as m; print(hasattr(m, '_add_provider_example_dags_to_bundle'))"
    )
    if installed.run("python", "-c", script).stdout.strip() != "True":
        pytest.skip("this Airflow does not load providers' example DAGs as bundles (Airflow 3.3 does)")
