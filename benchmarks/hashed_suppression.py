"""Benchmark: suppressing a contact CSV against a hashed list (MD5, SHA-256), against the plain suppression.

Uses ``suppress_contacts.py``'s data (seeded: the same contact file and unsubscribe list), writes the
list again as hashed lists (``write_hashed_list``: MD5, SHA-256, HMAC-SHA256), then runs,
interleaved, each in a process of its own that imports ``airflow.sdk`` first (as tasks do), timed
inside the process, peak RSS from the kernel (``wait4``):

- **plain**: ``SuppressionSet.from_manifest`` (building the set, timed apart), then ``suppress_csv``;
- **md5**, **sha256**, **hmac-sha256**: ``SuppressionSet.from_hashed_manifest``, then the same ``suppress_csv``.

Medians over repeats; the ratio is a hashed suppress_csv's time / the plain one's, in the same run.
Then it writes a list of ``--list-entries`` entries (default 1,000,000) each way, in processes of
their own: as a JSONL record file (the list operator's streaming writer: the floor) and as each
hashed list, whose writer holds every digest until it sorts them.

    .venv/bin/python benchmarks/hashed_suppression.py                    # 1M contacts, 100k unsubscribes
    .venv/bin/python benchmarks/hashed_suppression.py --contacts 100000 --unsubscribes 10000 --repeats 3

Prints Markdown tables (paste them into docs/benchmarks.md). Never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from suppress_contacts import generate, outcome, run_process

ALGORITHMS = ("md5", "sha256", "hmac-sha256")
SECRET = b"the benchmark's shared secret"  # for hmac-sha256; a real one lives in a connection

SUPPRESS = """
import json, sys, time
import airflow.sdk  # every task process imports it
from airflow.sdk.lineage import get_hook_lineage_collector
from airflow_provider_mailpartner.hashed_lists import AddressHasher
from airflow_provider_mailpartner.suppression import SuppressionSet, suppress_csv
get_hook_lineage_collector()  # loads the plugins on first use; the task runner has loaded them before execute()
manifest, source, clean, report, secret = json.loads(sys.argv[1]), *sys.argv[2:6]
started = time.perf_counter()
if manifest["format"] == "hashed":
    hasher = AddressHasher("hmac-sha256", secret.encode()) if manifest["algorithm"] == "hmac-sha256" else None
    suppression = SuppressionSet.from_hashed_manifest(manifest, hasher)
else:
    suppression = SuppressionSet.from_manifest(manifest)
built = time.perf_counter()
suppress_csv("file://" + source, suppression, "file://" + clean, "file://" + report)
print(built - started, time.perf_counter() - built)
"""

WRITE_LIST = """
import sys, time
import airflow.sdk  # every task process imports it
from airflow.sdk import ObjectStoragePath
from airflow_provider_mailpartner.hashed_lists import AddressHasher, write_hashed_list
from airflow_provider_mailpartner.record_files import write_records
entries, how, target, secret = int(sys.argv[1]), sys.argv[2], ObjectStoragePath("file://" + sys.argv[3]), sys.argv[4]
records = (
    {"id": number + 1, "email": f"person.{number}@example.com", "created_at": "2026-01-01T00:00:00+01:00"}
    for number in range(entries)
)
started = time.perf_counter()
if how == "jsonl":
    write_records(records, target, "jsonl", lineage=False)
else:
    hasher = AddressHasher(how, secret.encode() if how == "hmac-sha256" else None)
    write_hashed_list(records, target, hasher, lineage=False)
print(time.perf_counter() - started)
"""


def hashed_manifests(workdir: Path, manifest: dict[str, object]) -> dict[str, dict[str, object]]:
    """The plain list's manifest, and those of the same list written hashed with each algorithm."""
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mailpartner.hashed_lists import AddressHasher, write_hashed_list
    from airflow_provider_mailpartner.record_files import manifest_records

    manifests = {"plain": manifest}
    for algorithm in ALGORITHMS:
        path = ObjectStoragePath(f"file://{workdir}/unsubscribes.{algorithm}")
        hasher = AddressHasher(algorithm, SECRET if algorithm == "hmac-sha256" else None)
        manifests[algorithm] = dict(write_hashed_list(manifest_records(manifest), path, hasher))
    return manifests


def measure_suppression(
    workdir: Path, manifests: dict[str, dict[str, object]], repeats: int, env: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Median seconds (suppress_csv, building the set) and peak RSS of each variant, run interleaved."""
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in manifests}
    outputs = [str(workdir / "contacts.csv"), str(workdir / "clean.csv"), str(workdir / "report.csv"), SECRET.decode()]
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits every variant alike
        for name, manifest in manifests.items():
            (built, seconds), rss = run_process(SUPPRESS, [json.dumps(manifest), *outputs], env)
            runs[name].append((seconds, built, rss))
            if len(runs[name]) == 1:  # every variant must leave out the same rows
                print(f"{name}: {outcome(workdir)}")
    return {
        name: {
            "seconds": statistics.median(run[0] for run in values),
            "build_seconds": statistics.median(run[1] for run in values),
            "rss_mb": statistics.median(run[2] for run in values),
        }
        for name, values in runs.items()
    }


def measure_writing(workdir: Path, entries: int, env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Seconds and peak RSS (MB) of writing ``entries`` records as JSONL and as each hashed list."""
    figures = {}
    for how in ("jsonl", *ALGORITHMS):
        arguments = [str(entries), how, str(workdir / f"written.{how}"), SECRET.decode()]
        (seconds,), rss = run_process(WRITE_LIST, arguments, env)
        figures[how] = (seconds, rss)
    return figures


def print_tables(
    options: argparse.Namespace, suppression: dict[str, dict[str, float]], writing: dict[str, tuple[float, float]]
) -> None:
    plain = suppression["plain"]["seconds"]
    print(f"Command: .venv/bin/python {' '.join(sys.argv)}\n")
    print(
        "| set | contacts | list entries | suppress_csv (s) | ratio to plain | building the set (s) | peak RSS (MB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, figures in suppression.items():
        print(
            f"| {name} | {options.contacts:,} | {options.unsubscribes:,} | {figures['seconds']:.2f} "
            f"| **{figures['seconds'] / plain:.2f}** | {figures['build_seconds']:.2f} | {figures['rss_mb']:.0f} |"
        )
    print(f"\n| writing {options.list_entries:,} entries as | seconds | peak RSS (MB) |")
    print("|---|---:|---:|")
    for how, (seconds, rss) in writing.items():
        print(f"| {'JSONL record file' if how == 'jsonl' else how + ' hashed list'} | {seconds:.2f} | {rss:.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--unsubscribes", type=int, default=100_000)
    parser.add_argument("--list-entries", type=int, default=1_000_000, help="entries of the list-writing runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailpartner-bench-") as directory:
        workdir = Path(directory)
        env = {**os.environ, "AIRFLOW_HOME": str(workdir / "airflow-home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        started = time.perf_counter()
        manifest = generate(workdir, options.contacts, options.unsubscribes, options.seed, "utf8")
        manifests = hashed_manifests(workdir, manifest)
        print(f"generated in {time.perf_counter() - started:.1f} s; medians of {options.repeats} runs\n")
        suppression = measure_suppression(workdir, manifests, options.repeats, env)
        writing = measure_writing(workdir, options.list_entries, env)
    print_tables(options, suppression, writing)
    return 0


if __name__ == "__main__":
    sys.exit(main())
