"""Benchmark: how close AddUnsubscribesOperator runs to MailPartner's request limit, without passing it.

The sandbox enforces a limit of ``--limit`` requests per rolling minute (MailPartner's is 2000);
the operator, in a task process of its own, pushes ``--addresses`` new addresses with
``max_requests_per_minute`` set to that limit. Reported: the sustained rate as a fraction of the
limit, and how many requests the sandbox refused with 429 (the hook retries those; the task's
own result says whether any failure reached the user).

    .venv/bin/python benchmarks/add_rate.py                   # 2000/min, 1000 addresses (~30 s)
    .venv/bin/python benchmarks/add_rate.py --limit 600 --addresses 300
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from airflow_provider_mailpartner.testing import MailPartnerSandbox

TASK = """
import json, sys
from airflow_provider_mailpartner.operators.unsubscribe import AddUnsubscribesOperator
emails = [f"bench.{n}@example.com" for n in range(int(sys.argv[1]))]
result = AddUnsubscribesOperator(task_id="push", emails=emails, max_requests_per_minute=float(sys.argv[2])).execute({})
print(json.dumps(result))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=2000, help="the sandbox's requests per minute")
    parser.add_argument("--addresses", type=int, default=1000)
    options = parser.parse_args()
    with MailPartnerSandbox(rate_limit_per_minute=options.limit) as sandbox, tempfile.TemporaryDirectory() as home:
        env = {**os.environ, **sandbox.airflow_env(), "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", TASK, str(options.addresses), str(options.limit)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - started
        adds = [record for record in sandbox.requests if record.command == "unsubscribe/add"]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    span = adds[-1].monotonic - adds[0].monotonic
    rate = (len(adds) - 1) / span * 60 if span > 0 else float("inf")
    refused = sum(1 for record in adds if record.http_status == 429)
    print(f"sandbox limit         : {options.limit} requests/min")
    print(f"addresses pushed      : {options.addresses} in {elapsed:.1f} s (whole task process)")
    print(f"sustained request rate: {rate:.0f}/min = {rate / options.limit:.3f} of the limit")
    print(f"refused with 429      : {refused} of {len(adds)} requests")
    print(f"operator result       : {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
