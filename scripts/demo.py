"""`make demo`: the daily suppression job, end to end, through Airflow, against the built-in sandbox.

Starts a sandbox seeded with a few thousand unsubscribes, writes a contact file as French Excel
saves it (cp1252, ";", CRLF, an "Adresse e-mail" column) of tens of thousands of rows in which some
listed addresses reappear in other cases and with white space around them, and runs
``example_mailpartner_suppress_file`` with ``dag.test()`` on a local AIRFLOW_HOME with SQLite
(``.demo/``) for two days: between them, a few people leave the list (they re-subscribed) and a few
new unsubscribes arrive, and the second day reports them. Ends with a summary read from the files
the DAG wrote, and stops the sandbox whatever happens. With AIRFLOW_CONN_MAILPARTNER_DEFAULT set in
the environment, that connection (your real account) is used instead of the sandbox, with synthetic
contacts.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_mailpartner.testing import MailPartnerSandbox

DEMO_UNSUBSCRIBES = 3000
LEFT_OVERNIGHT, JOINED_OVERNIGHT = 30, 20  # between the two days: 1% leave the list (under the 5% guard)
DEMO_CONTACTS = 30_000
EXCEL_ENCODING, EXCEL_DELIMITER = "cp1252", ";"  # the contact file is what French Excel saves as "CSV"
PLANTED_SHARE = 2  # every second listed address reappears among the contacts, in another form
DAG_ID = "example_mailpartner_suppress_file"
CONN_ENV = "AIRFLOW_CONN_MAILPARTNER_DEFAULT"
PROJECT = Path(__file__).resolve().parent.parent
DEMO = Path(os.environ.get("MAILPARTNER_DEMO_DIR", PROJECT / ".demo"))  # the tests run it elsewhere

# Runs in a child process, so Airflow's own logging goes to a file and the summary stays readable.
RUN_DAG = """
import sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1 keeps it in airflow.models
    from airflow.models.dagbag import DagBag
from airflow.sdk.timezone import parse

bag = DagBag(dag_folder=sys.argv[1])
if bag.import_errors:
    sys.exit(f"the DAG file did not import: {bag.import_errors}")
run = bag.get_dag(sys.argv[2]).test(logical_date=parse(sys.argv[3]))
print(f"DAG_RUN_STATE={run.state}")
sys.exit(0 if str(run.state) == "success" else 1)
"""


def main() -> int:
    started = time.monotonic()
    data, home = DEMO / "data", DEMO / "airflow-home"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT / "example_dags" / f"{DAG_ID}.py", dags / f"{DAG_ID}.py")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MAILPARTNER_EXAMPLE_ROOT": f"file://{data}",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    log = DEMO / "airflow.log"
    today = datetime.now(UTC)
    days = [(today - timedelta(days=1)).strftime("%Y-%m-%d"), today.strftime("%Y-%m-%d")]
    sandbox = None

    from airflow_provider_mailpartner.testing import MailPartnerSandbox

    with ExitStack() as stack, log.open("w") as log_file:
        if os.environ.get(CONN_ENV):
            print(f"Using the connection in {CONN_ENV} (not the sandbox), with synthetic contacts.")
            planted = write_contacts(data / "contacts.csv", listed=[], planted=[])
            planted_emails: set[str] = set()
        else:
            sandbox = stack.enter_context(MailPartnerSandbox())
            sandbox.backend.generate(DEMO_UNSUBSCRIBES, seed=2026)
            env.update(sandbox.airflow_env("mailpartner_default"))
            listed = [entry["email"] for entry in sandbox.backend.entries()]
            planted_emails = set(listed[::PLANTED_SHARE])
            planted = write_contacts(data / "contacts.csv", listed=listed, planted=listed[::PLANTED_SHARE])
            print(f"Sandbox on {sandbox.url} with {len(listed)} unsubscribes.")
        hidden = f", {planted} of them listed addresses in another case or spacing" if planted else ""
        print(f"Contact file (French Excel: cp1252, ';', 'Adresse e-mail'): {DEMO_CONTACTS} rows{hidden}.")
        print(f"Preparing Airflow's metadata DB (SQLite in {shown(home)}) ...")
        subprocess.run([airflow, "db", "migrate"], env=env, stdout=log_file, stderr=subprocess.STDOUT, check=True)
        dag_file = str(dags / f"{DAG_ID}.py")
        for number, day in enumerate(days):
            if number and sandbox is not None:
                change_overnight(sandbox, keep=planted_emails)
                print(f"Overnight: {LEFT_OVERNIGHT} people leave the list, {JOINED_OVERNIGHT} new unsubscribes.")
            print(f"Running {DAG_ID} for {day} through Airflow (its log: {shown(log)}) ...")
            run = subprocess.run(
                [sys.executable, "-c", RUN_DAG, dag_file, DAG_ID, day],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            if run.returncode != 0:
                break
    return summarize(data, succeeded=run.returncode == 0, planted=planted, seconds=time.monotonic() - started)


def change_overnight(sandbox: MailPartnerSandbox, keep: set[str]) -> None:
    """A few entries leave the list (none of the addresses hidden among the contacts), a few join it."""
    leaving = [entry for entry in sandbox.backend.entries() if entry["email"] not in keep][:LEFT_OVERNIGHT]
    for entry in leaving:
        sandbox.backend.delete(entry["id"])
    for number in range(JOINED_OVERNIGHT):
        sandbox.backend.add(f"nouveau.desabonne.{number}@exemple.fr")


def shown(path: Path) -> str:
    """``path`` as the README shows it: relative to the project when inside it."""
    return str(path.relative_to(PROJECT)) if path.is_relative_to(PROJECT) else str(path)


def write_contacts(path: Path, *, listed: list[str], planted: list[str]) -> int:
    """A contact file as French Excel saves it (cp1252, ";", CRLF, "Adresse e-mail"): people who are not
    ``listed``, and each of ``planted`` in a disguised form. Returns how many were planted."""
    from airflow_provider_mailpartner.testing.fake_data import generate_entries

    rng = random.Random(2026)
    planted = [email for email in planted if fits(email)]  # cp1252 holds no Cyrillic domain, say
    strangers, _ = generate_entries(DEMO_CONTACTS, seed=7, taken={email.lower() for email in listed})
    emails = [email for email in strangers if fits(email)][: DEMO_CONTACTS - len(planted)]
    emails += [disguise(email, rng) for email in planted]
    rng.shuffle(emails)
    with path.open("w", encoding=EXCEL_ENCODING, newline="") as handle:
        writer = csv.writer(handle, delimiter=EXCEL_DELIMITER, lineterminator="\r\n")
        writer.writerow(("N° client", "Prénom", "Adresse e-mail", "Ville", "Inscription"))
        cities = ("Paris", "Lyon", "Marseille", "Besançon", "Nîmes", "Saint-Étienne")
        for number, email in enumerate(emails, 1):
            first_name = email.strip().split("@")[0].split(".")[0].title()
            writer.writerow((f"C{number:06d}", first_name, email, rng.choice(cities), "2024"))
    return len(planted)


def excel_rows(path: Path) -> list[list[str]]:
    with path.open(encoding=EXCEL_ENCODING, newline="") as handle:
        return list(csv.reader(handle, delimiter=EXCEL_DELIMITER))


def fits(email: str) -> bool:
    return email.encode(EXCEL_ENCODING, "ignore").decode(EXCEL_ENCODING) == email


def disguise(email: str, rng: random.Random) -> str:
    """The same address as a person or a CRM might have typed it: other case, stray white space."""
    cased = "".join(char.upper() if rng.random() < 0.3 else char for char in email)
    return rng.choice(("", " ", "\t")) + cased + rng.choice(("", " ", "  "))


def summarize(data: Path, *, succeeded: bool, planted: int, seconds: float) -> int:
    published = data / "published" / "contacts.clean.csv"
    if not succeeded or not published.exists():
        print(f"\nFAILED: the DAG run did not succeed; see {shown(DEMO / 'airflow.log')}", file=sys.stderr)
        return 1
    run_folder = max((data / "runs" / DAG_ID).iterdir())  # the last day's: run ids sort by their start
    fetched = sum(1 for _ in (run_folder / "unsubscribes.jsonl").open())
    changes = [json.loads(line)["change"] for line in (run_folder / "unsubscribes.changes.jsonl").open()]
    contacts_in = len(excel_rows(data / "contacts.csv")) - 1  # the outputs keep the contact file's dialect
    reasons = [row[2] for row in excel_rows(run_folder / "contacts.suppressed.csv")[1:]]
    contacts_out = len(excel_rows(published)) - 1
    unsubscribed = reasons.count("unsubscribed")
    print()
    print(f"DAG run               : success ({DAG_ID}, {run_folder.name})")
    print(f"Unsubscribes fetched  : {fetched}")
    print(f"Since the day before  : {changes.count('added')} added, {changes.count('removed')} removed (re-subscribed)")
    print(f"Contacts in           : {contacts_in}")
    print(f"Contacts suppressed   : {unsubscribed} unsubscribed, {reasons.count('invalid_email')} invalid address")
    print(f"Contacts out          : {contacts_out}")
    print(f"Clean list published  : {shown(published)}")
    print(f"Removed rows, and why : {shown(run_folder / 'contacts.suppressed.csv')}")
    print(f"Took                  : {seconds:.1f} s")
    counts_add_up = contacts_in == contacts_out + len(reasons)
    if planted:  # against the sandbox, where the answer is known
        print(f"Check                 : {planted} listed addresses hidden among the contacts, {unsubscribed} removed")
        overnight = (changes.count("added"), changes.count("removed")) == (JOINED_OVERNIGHT, LEFT_OVERNIGHT)
        return 0 if counts_add_up and unsubscribed == planted and overnight else 1
    return 0 if counts_add_up else 1


if __name__ == "__main__":
    sys.exit(main())
