"""Benchmark: suppressing unsubscribed addresses in a contact CSV, against a plain ``csv`` copy of it.

Generates (seeded, so every run sees the same data) a contact file and an unsubscribe list
written as the list operator writes it, then runs, interleaved, in processes of their own (as
tasks are), timed inside the process and with peak RSS from the kernel (``wait4``):

- **plain copy**: ``csv.reader`` -> ``csv.writer`` of the contact file, nothing else;
- **suppress_csv**: ``SuppressionSet.from_manifest`` (timed apart: building the set), then
  ``suppress_csv`` through ``ObjectStoragePath``.

Both children import ``airflow.sdk`` first, as every task process does. Medians over repeats;
the ratio is suppress_csv time / plain copy time.

    .venv/bin/python benchmarks/suppress_contacts.py                      # 1M contacts, 100k unsubscribes
    .venv/bin/python benchmarks/suppress_contacts.py --contacts 100000 --unsubscribes 10000 --repeats 5
    .venv/bin/python benchmarks/suppress_contacts.py --dialect excel-fr   # cp1252, ";", CRLF, "Adresse e-mail"

Both variants read and write the file in its dialect; suppress_csv is given no option (it finds the
encoding, separator and address column itself).

Prints a Markdown table (paste it into docs/benchmarks.md). Never asserts on time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

FIRST_NAMES = ["Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Manon", "Lucas", "Emma", "Noah", "Inès", "Zoé"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Lefèvre", "Moreau"]


def ascii_folded(name: str) -> str:
    """A name as it appears in an address: accents dropped, so that non-ASCII addresses are the rare kind."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


ADDRESS_FIRST_NAMES = [ascii_folded(name) for name in FIRST_NAMES]
ADDRESS_LAST_NAMES = [ascii_folded(name) for name in LAST_NAMES]
CITIES = ["Paris", "Lyon", "Marseille", "Toulouse", "Nice", "Saint-Denis, La Réunion", "Lille", 'Le "Bourg"']
DOMAINS = ["example.com", "mail.example.fr", "exemple.org", "post.example.net", "courriel.example.fr"]
UNICODE_DOMAINS = ["exämple.fr", "bücher.example", "почта.example"]
# name: (encoding, separator, line terminator, address column): what the contact file is written in.
DIALECTS = {
    "utf8": ("utf-8", ",", "\n", "email"),
    "excel-fr": ("cp1252", ";", "\r\n", "Adresse e-mail"),  # French Excel's "CSV"
}
WHITE_SPACE = ["", " ", "  ", "\t", "\u00a0"]

# What a task writes without the provider: read the CSV, write it back.
PLAIN_COPY = """
import csv, sys, time
import airflow.sdk  # every task process imports it
source, target, encoding, delimiter, terminator = sys.argv[1:6]
started = time.perf_counter()
with open(source, encoding=encoding, newline="") as contacts, open(target, "w", encoding=encoding, newline="") as out:
    csv.writer(out, delimiter=delimiter, lineterminator=terminator).writerows(csv.reader(contacts, delimiter=delimiter))
print(time.perf_counter() - started)
"""

SUPPRESS = """
import json, sys, time
import airflow.sdk  # every task process imports it
from airflow.sdk.lineage import get_hook_lineage_collector
from airflow_provider_mailpartner.suppression import SuppressionSet, suppress_csv
get_hook_lineage_collector()  # loads the plugins on first use; the task runner has loaded them before execute()
manifest, source, clean, report = json.loads(sys.argv[1]), *sys.argv[2:5]
started = time.perf_counter()
suppression = SuppressionSet.from_manifest(manifest)
built = time.perf_counter()
suppress_csv("file://" + source, suppression, "file://" + clean, "file://" + report)
print(built - started, time.perf_counter() - built)
"""


def listed_address(rng: random.Random, number: int, unicode_domains: list[str]) -> str:
    """The ``number``-th unsubscribed address; one in a hundred has a non-ASCII domain."""
    first, last = rng.choice(ADDRESS_FIRST_NAMES), rng.choice(ADDRESS_LAST_NAMES)
    domain = rng.choice(unicode_domains) if number % 100 == 0 else rng.choice(DOMAINS)
    return f"{first}.{last}.{number}@{domain}"


def variant(rng: random.Random, address: str) -> str:
    """The same address as a person might type it: case mixed, white space around it."""
    mixed = "".join(char.upper() if rng.random() < 0.3 else char for char in address)
    return rng.choice(WHITE_SPACE) + mixed + rng.choice(WHITE_SPACE)


def contact_address(rng: random.Random, number: int, listed: list[str], unicode_domains: list[str]) -> str:
    """~10% variants of listed addresses, ~0.5% non-ASCII, ~0.1% invalid, the rest plain and unlisted."""
    draw = rng.random()
    if draw < 0.10:
        return variant(rng, rng.choice(listed))
    if draw < 0.105:
        return f"zoë.{number}@{rng.choice(unicode_domains)}"
    if draw < 0.106:
        return rng.choice(["", "n/a", f"contact{number} at example.com", f"<c{number}@example.com>"])
    return f"{rng.choice(ADDRESS_FIRST_NAMES)}.{rng.choice(ADDRESS_LAST_NAMES)}{number}@{rng.choice(DOMAINS)}"


def generate(workdir: Path, contacts: int, unsubscribes: int, seed: int, dialect: str) -> dict[str, object]:
    """Write the contact file (in ``dialect``) and the unsubscribe record file; return the list's manifest."""
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mailpartner.record_files import write_records

    encoding, delimiter, terminator, email_column = DIALECTS[dialect]
    unicode_domains = [
        domain for domain in UNICODE_DOMAINS if domain.encode(encoding, "ignore").decode(encoding) == domain
    ]
    rng = random.Random(seed)
    listed = [listed_address(rng, number, unicode_domains) for number in range(unsubscribes)]
    records = (
        {"id": number + 1, "email": email, "created_at": "2026-01-01T00:00:00+01:00"}
        for number, email in enumerate(listed)
    )
    manifest = write_records(records, ObjectStoragePath(f"file://{workdir}/unsubscribes.jsonl"), "jsonl")
    with open(workdir / "contacts.csv", "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator=terminator)
        writer.writerow(["contact_id", "first_name", "last_name", email_column, "city", "signup_date"])
        for number in range(contacts):
            writer.writerow(
                [
                    number + 1,
                    rng.choice(FIRST_NAMES),
                    rng.choice(LAST_NAMES),
                    contact_address(rng, number, listed, unicode_domains),
                    rng.choice(CITIES),
                    f"202{rng.randrange(6)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                ]
            )
    return dict(manifest)


def run_process(code: str, args: list[str], env: dict[str, str]) -> tuple[list[float], float]:
    """The figures the child prints, and its peak RSS (MB)."""
    child = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"benchmark child failed with exit code {child.returncode}")
    figures = output.splitlines()[-1]  # Airflow's log lines may come before
    return [float(figure) for figure in figures.split()], usage.ru_maxrss / 1024


def measure(workdir: Path, manifest: dict[str, object], repeats: int, dialect: str) -> dict[str, float]:
    source = str(workdir / "contacts.csv")
    encoding, delimiter, terminator, _ = DIALECTS[dialect]
    env = {**os.environ, "AIRFLOW_HOME": str(workdir / "airflow-home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    copies, suppressions, builds, copy_rss, suppress_rss = [], [], [], [], []
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits both alike
        copy_args = [source, str(workdir / "copy.csv"), encoding, delimiter, terminator]
        (seconds,), rss = run_process(PLAIN_COPY, copy_args, env)
        copies.append(seconds)
        copy_rss.append(rss)
        outputs = [str(workdir / "clean.csv"), str(workdir / "report.csv")]
        (built, seconds), rss = run_process(SUPPRESS, [json.dumps(manifest), source, *outputs], env)
        builds.append(built)
        suppressions.append(seconds)
        suppress_rss.append(rss)
    return {
        "copy_seconds": statistics.median(copies),
        "suppress_seconds": statistics.median(suppressions),
        "ratio": statistics.median(suppressions) / statistics.median(copies),
        "build_seconds": statistics.median(builds),
        "copy_rss_mb": statistics.median(copy_rss),
        "suppress_rss_mb": statistics.median(suppress_rss),
    }


def outcome(workdir: Path) -> str:
    """Rows in the clean file and in the report, of the last run."""
    with open(workdir / "clean.csv", "rb") as clean, open(workdir / "report.csv", "rb") as report:
        return f"{sum(1 for _ in clean) - 1:,} rows kept, {sum(1 for _ in report) - 1:,} reported"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--unsubscribes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default="utf8", help="how the contact file is written")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailpartner-bench-") as directory:
        workdir = Path(directory)
        started = time.perf_counter()
        manifest = generate(workdir, options.contacts, options.unsubscribes, options.seed, options.dialect)
        size_mb = (workdir / "contacts.csv").stat().st_size / 1e6
        print(f"generated in {time.perf_counter() - started:.1f} s: contacts.csv {size_mb:.0f} MB")
        figures = measure(workdir, manifest, options.repeats, options.dialect)
        print(f"{outcome(workdir)}; medians of {options.repeats} runs\n")
    print(f"Command: .venv/bin/python {' '.join(sys.argv)}\n")
    print(
        "| file | contacts | unsubscribes | plain csv copy (s) | suppress_csv (s) | ratio | building the set (s) "
        "| peak RSS copy / suppress (MB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {options.dialect} | {options.contacts:,} | {options.unsubscribes:,} | {figures['copy_seconds']:.2f} "
        f"| {figures['suppress_seconds']:.2f} | {figures['ratio']:.2f} | {figures['build_seconds']:.2f} "
        f"| {figures['copy_rss_mb']:.0f} / {figures['suppress_rss_mb']:.0f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
