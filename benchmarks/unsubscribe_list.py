"""Benchmark: fetching the unsubscribe list to a JSONL file, against what a user would write by hand.

Each measurement is a whole process (as a task is), timed by this script and with its peak RSS
taken from the kernel (``wait4``). The sandbox runs in a process of its own (``mailpartner-sandbox``)
and serves every variant the same list: a child forked from a process holding the list would
inherit that process's size in its peak RSS. Medians over repeats; ratios against the
hand-written baseline of the same run.

    .venv/bin/python benchmarks/unsubscribe_list.py            # 10k, 100k, 1M entries
    .venv/bin/python benchmarks/unsubscribe_list.py --sizes 10000 --repeats 3

Prints a Markdown table (paste it into docs/benchmarks.md). Never asserts on time.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# What a user writes without the provider: one GET, the whole body parsed, each record dumped.
HAND_WRITTEN = """
import json, sys
import airflow.sdk  # every task process imports it
import requests
url, key, out = sys.argv[1:4]
data = requests.get(url + "/v1/unsubscribe/list", params={"apiKey": key}, timeout=600).json()["data"]
with open(out, "w") as handle:
    for record in data:
        handle.write(json.dumps(record) + "\\n")
"""

# The operator's work in a task process: the same imports, then execute(). With change tracking, the
# state is kept between repeats: every run but the first compares the list with the previous snapshot.
OPERATOR = """
import sys
from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator
response_format, tracked, out = sys.argv[1:4]
UnsubscribeListOperator(
    task_id="fetch", output_path="file://" + out, response_format=response_format, track_changes=tracked == "tracked"
).execute({})
"""


def run_process(code: str, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"benchmark child failed with exit code {child.returncode}")
    return elapsed, usage.ru_maxrss / 1024


@contextmanager
def sandbox_process(size: int) -> Iterator[dict[str, str]]:
    """A sandbox serving ``size`` generated entries, in its own process; yields its connection."""
    command = [str(Path(sys.executable).with_name("mailpartner-sandbox")), "--port", "0", "--seed", str(size)]
    server = subprocess.Popen([*command, "--rate-limit", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield json.loads(server.stdout.readline())
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure(size: int, repeats: int, workdir: Path) -> list[dict[str, object]]:
    rows = []
    with sandbox_process(size) as connection:
        env = {
            **os.environ,
            "AIRFLOW_CONN_MAILPARTNER_DEFAULT": json.dumps(connection),
            "AIRFLOW_HOME": str(workdir / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
        variants = {
            "hand-written (requests + json.dumps)": (HAND_WRITTEN, [connection["host"], connection["password"]]),
            "UnsubscribeListOperator, JSON": (OPERATOR, ["json", "untracked"]),
            "UnsubscribeListOperator, XML": (OPERATOR, ["xml", "untracked"]),
            "UnsubscribeListOperator, JSON, change tracking": (OPERATOR, ["json", "tracked"]),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(repeats):  # interleaved, so drift on a shared machine hits every variant alike
            for name, (code, args) in variants.items():
                out = workdir / str(size) / "out.jsonl"  # (a folder per size: its own change-tracking state)
                out.parent.mkdir(exist_ok=True)
                results[name].append(run_process(code, [*args, str(out)], env))
                out.unlink()
        baseline = statistics.median(seconds for seconds, _ in results["hand-written (requests + json.dumps)"])
        for name, samples in results.items():
            seconds = statistics.median(s for s, _ in samples)
            rows.append(
                {
                    "entries": size,
                    "variant": name,
                    "seconds": seconds,
                    "ratio": seconds / baseline,
                    "peak_rss_mb": statistics.median(rss for _, rss in samples),
                }
            )
    return rows


def main() -> int:
    # An installed wheel's modules are compiled by pip; with PYTHONDONTWRITEBYTECODE set, a source tree's
    # would be compiled again in every child, which costs time and a few MB of peak memory.
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "airflow_provider_mailpartner", quiet=1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print rows as JSON instead of a table")
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mailpartner-bench-") as workdir:
        for size in options.sizes:
            rows += measure(size, options.repeats, Path(workdir))
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"medians of {options.repeats} runs; ratio = time / hand-written time at the same size\n")
    print("| entries | variant | wall time (s) | ratio | peak RSS (MB) |")
    print("|---:|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['entries']:,} | {row['variant']} | {row['seconds']:.2f} | {row['ratio']:.2f} "
            f"| {row['peak_rss_mb']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
