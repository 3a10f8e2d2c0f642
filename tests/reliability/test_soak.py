"""Soak: hundreds of list runs under random faults, each ending in the sandbox's exact list or in a clean failure.

A daily suppression job runs for years; one run in thousands that publishes half a list, or
leaves a staging file that a later glob picks up, is a compliance incident. These runs drive the
operator's real code path (``execute()`` in-process, real HTTP over loopback) against a sandbox
that draws a fault for a fifth of the requests from a seeded generator, while the list changes
between runs. A failure prints the seed and the run number: the same seed replays the same faults.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pendulum
import pytest

from airflow_provider_mailpartner.exceptions import MailPartnerAuthError, MailPartnerError
from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator
from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox

PARIS = ZoneInfo("Europe/Paris")
TIMEOUT = 0.5  # seconds; short, so a latency fault past it costs little, long enough for a busy 2-core machine
EXTRA = {"max_retries": 3, "retry_backoff": 0.001, "timeout": TIMEOUT}
FAULT_RATE = 0.2
# The long variants: minutes each. (pytest.mark.soak once pyproject.toml registers that marker.)
LONG_VARIANT = pytest.mark.soak  # deselected by default (pyproject addopts); MAILPARTNER_SOAK=1 pytest -m soak

# Every fault a list request can meet: the transient kinds (a bare name stands for its usual
# variants, e.g. HTTP 500/502/503/504), plus answers that cannot be trusted and are not retried.
LIST_FAULTS: tuple[Fault | str, ...] = (
    "http_error",
    "rate_limited",
    "envelope_error",
    "reset",
    "truncated",
    "malformed",
    "html_page",
    Fault.latency(TIMEOUT / 10),  # under the timeout: the answer arrives late but whole
    Fault.latency(TIMEOUT * 1.5),  # over it: a read timeout, retried
    Fault.http_error(503, body="json"),
    Fault.reset(after_bytes=120),  # part of the headers or body, then a reset
    Fault.reset(processed=True),
    Fault.truncated(0.0),  # headers with the full Content-Length, no body
    Fault.truncated(0.95),
    Fault.envelope_error(96),  # IP not allowed: an auth error, never retried
    Fault.raw('{"success": true, "code": 200, "nbData": 999999, "data": []}'),  # nbData too high
    Fault.raw('{"success": true, "code": 500, "nbData": 0, "data": []}'),  # success contradicts code
)

# Addresses as a real list holds them: surrounding white space (seeded entries keep it), other
# scripts, characters CSV and JSON must escape; and dates on Paris's DST changes.
ODD_ADDRESSES = (" Padded@Example.com\t", "zoë@exämple.fr", 'quote"d,comma@example.com', "back\\slash@example.org")
DST_DATES = ("2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-10-27 03:00:00", "2015-07-20 10:19:45")


@dataclass
class SoakReport:
    """What the runs came to: successes, failures by error type, and each run's outcome in order."""

    succeeded: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    outcomes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.succeeded} succeeded, {sum(self.failed.values())} failed: {dict(sorted(self.failed.items()))}"


def expected_jsonl(sandbox: MailPartnerSandbox) -> bytes:
    """The file the sandbox's current list must give, built from its state, not by the package's writer."""
    lines = []
    for entry in sandbox.backend.entries():
        created = datetime.strptime(entry["createdAt"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=PARIS)
        record = {"id": entry["id"], "email": entry["email"].strip(), "created_at": created.isoformat()}
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(lines).encode()


CHANGES = "unsubscribes.changes.jsonl"


def folder_state(folder: Path) -> dict[str, bytes]:
    """Every file in the output folder, hidden staging files included, with its bytes."""
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def change_list(sandbox: MailPartnerSandbox, rng: random.Random, run: int) -> None:
    """Add and delete entries between runs, as subscribers come and go."""
    backend = sandbox.backend
    choice = rng.random()
    if choice < 0.15:
        for number in range(rng.randint(1, 3)):
            backend.add(f"soak.{run}.{number}@example.fr")
    elif choice < 0.25 and backend.count:
        for entry in rng.sample(backend.entries(), min(backend.count, rng.randint(1, 2))):
            backend.delete(entry["id"])
    elif choice < 0.30:
        address = rng.choice(ODD_ADDRESSES).replace("@", f".{run}@")
        backend.seed([{"email": address, "created_at": rng.choice(DST_DATES)}])


def soak(sandbox: MailPartnerSandbox, folder: Path, runs: int, seed: int) -> SoakReport:
    """Run the list operator ``runs`` times; assert that each run is all or nothing."""
    rng = random.Random(seed)
    sandbox.backend.generate(40, seed=seed)
    sandbox.faults.set_rate(FAULT_RATE, seed=seed, kinds=LIST_FAULTS, command="unsubscribe/list")
    target = folder / "unsubscribes.jsonl"
    operators = {
        response_format: UnsubscribeListOperator(
            task_id=f"soak_{response_format}",
            output_path=f"file://{target}",
            response_format=response_format,
            state_path=f"file://{folder.parent}/state",  # tracked, outside the folder compared here
            max_removed_ratio=1,  # (the guards have tests of their own: here every sound list must publish)
        )
        for response_format in ("json", "xml")
    }
    report = SoakReport()
    for run in range(runs):
        change_list(sandbox, rng, run)
        before, wanted = folder_state(folder), expected_jsonl(sandbox)
        where = f"run {run} of the soak with seed {seed}"
        try:
            manifest = operators[rng.choice(("json", "xml"))].execute({})  # type: ignore[arg-type]
        except MailPartnerError as error:
            check_clean_failure(error, sandbox, folder, before, where)
            report.failed[type(error).__name__] += 1
            report.outcomes.append(f"{type(error).__name__}/{error.retries}")
            continue
        published = folder_state(folder)
        assert published.pop(CHANGES, None) is not None, f"{where} succeeded without a changes file"
        assert published == {target.name: wanted}, f"{where} succeeded with a file unlike the list"
        assert manifest["count"] == wanted.count(b"\n"), f"{where}: the manifest counts another list"
        report.succeeded += 1
        report.outcomes.append("ok")
    return report


def check_clean_failure(
    error: MailPartnerError, sandbox: MailPartnerSandbox, folder: Path, before: dict[str, bytes], where: str
) -> None:
    """A failed run left the folder as it was; an auth error was not retried (the refusal was the last request)."""
    assert folder_state(folder) == before, f"{where} failed ({error!r}) but changed the output folder"
    if isinstance(error, MailPartnerAuthError):
        assert sandbox.requests[-1].code == error.code, f"{where}: an auth error was retried"


@pytest.fixture
def soak_connection(sandbox: MailPartnerSandbox, monkeypatch: pytest.MonkeyPatch) -> MailPartnerSandbox:
    """The sandbox behind ``mailpartner_default``, with quick retries and a short timeout."""
    monkeypatch.setenv("AIRFLOW_CONN_MAILPARTNER_DEFAULT", sandbox.connection_json(extra=EXTRA))
    return sandbox


def check_soak(sandbox: MailPartnerSandbox, folder: Path, runs: int, seed: int) -> None:
    started = time.monotonic()
    report = soak(sandbox, folder, runs, seed)
    print(f"{runs} runs with seed {seed} in {time.monotonic() - started:.1f} s: {report.summary()}")
    assert report.succeeded, report.summary()
    assert report.failed, report.summary()
    faulted = Counter(record.fault for record in sandbox.requests if record.fault)
    assert len(faulted) >= 8, f"too few fault kinds drawn to prove anything: {faulted}"


def test_500_faulty_runs_each_end_with_the_exact_list_or_a_clean_failure(soak_connection, tmp_path):
    check_soak(soak_connection, tmp_path, runs=500, seed=20240531)


@LONG_VARIANT
def test_5000_faulty_runs_each_end_with_the_exact_list_or_a_clean_failure(soak_connection, tmp_path):
    check_soak(soak_connection, tmp_path, runs=5000, seed=7)


def test_the_same_seed_replays_the_same_outcomes(tmp_path, monkeypatch):
    """A failing soak is only useful if its seed replays it: same faults, same outcomes, run by run."""
    replays = []
    for attempt in range(2):
        with MailPartnerSandbox(rate_limit_per_minute=None) as sandbox:
            monkeypatch.setenv("AIRFLOW_CONN_MAILPARTNER_DEFAULT", sandbox.connection_json(extra=EXTRA))
            folder = tmp_path / str(attempt)
            folder.mkdir()
            replays.append(soak(sandbox, folder, runs=60, seed=11).outcomes)
            assert sandbox.errors == []
    assert replays[0] == replays[1]
    assert set(replays[0]) - {"ok"}, "the replayed stretch met no failure: pick a seed that does"


def test_20_faulty_days_of_the_suppress_file_example_each_publish_whole_or_not_at_all(
    run_example, mailpartner, example_root
):
    """The example DAG end to end, a day a run (under a second each): a failed day leaves the published list alone."""
    rng = random.Random(5)
    mailpartner.backend.generate(30, seed=5)
    listed = [entry["email"] for entry in mailpartner.backend.entries()[:20]]
    kept = [f"keep.{number}@example.com" for number in range(10)]
    (example_root / "contacts.csv").write_text("email,name\n" + "".join(f"{email},x\n" for email in listed + kept))
    mailpartner.faults.set_rate(FAULT_RATE, seed=5, kinds=LIST_FAULTS, command="unsubscribe/list")
    published = example_root / "published" / "contacts.clean.csv"
    states: Counter[str] = Counter()
    for run in range(20):
        change_list(mailpartner, rng, run)
        before = published.read_bytes() if published.exists() else None
        day = pendulum.datetime(2025, 6, 1, tz="UTC").add(days=run)
        result = run_example(
            "example_mailpartner_suppress_file.py", "example_mailpartner_suppress_file", logical_date=day
        )
        folder = example_root / "runs" / "example_mailpartner_suppress_file" / result.run_id
        assert not [path for path in example_root.rglob("*") if ".partial-" in path.name], f"day {run}: staging left"
        if result.state == "success":
            assert (folder / "unsubscribes.jsonl").read_bytes() == expected_jsonl(mailpartner), f"day {run}"
            assert published.read_bytes() == (folder / "contacts.clean.csv").read_bytes(), f"day {run}"
        else:
            assert (published.read_bytes() if published.exists() else None) == before, f"day {run}: published changed"
            assert not (folder / "contacts.clean.csv").exists(), f"day {run}: a clean list from a failed fetch"
        states[result.state] += 1
    print(f"20 days of example_mailpartner_suppress_file with seed 5: {dict(states)}")
    assert states["success"], states
    assert states["failed"], states
