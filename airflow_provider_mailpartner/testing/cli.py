"""``mailpartner-sandbox``: run the sandbox from a shell until Ctrl-C or SIGTERM.

It prints the Airflow connection to use on stdout (the JSON on the first line, then an
``export AIRFLOW_CONN_...`` line) and a one-line summary without the key on stderr. It imports
only the sandbox (no Airflow), so it starts at once.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from types import FrameType

from .faults import FAULT_KINDS, FaultKind
from .sandbox import DEFAULT_API_KEY, DEFAULT_CONN_ID, DEFAULT_RATE_LIMIT_PER_MINUTE, MailPartnerSandbox


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailpartner-sandbox",
        description="Serve a fake MailPartner API on 127.0.0.1 for offline DAG runs and tests.",
    )
    parser.add_argument("--port", type=int, default=8025, help="port to bind; 0 picks a free one (default 8025)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="number of unsubscribe entries to generate at start (a count, not a random seed: see --generate-seed; "
        "default 0, an empty list)",
    )
    parser.add_argument(
        "--generate-seed",
        type=int,
        default=0,
        metavar="S",
        help="the random seed used to generate the --seed entries; the same S gives the same list (default 0)",
    )
    parser.add_argument(
        "--seed-file", metavar="PATH", help="load entries from a JSONL, JSON or CSV file (before --seed's ones)"
    )
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the key the sandbox accepts")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_RATE_LIMIT_PER_MINUTE,
        metavar="N",
        help=f"requests per rolling minute before HTTP 429; 0 disables (default {DEFAULT_RATE_LIMIT_PER_MINUTE})",
    )
    parser.add_argument("--fault-rate", type=float, default=0.0, metavar="F", help="share of requests faulted, 0-1")
    parser.add_argument("--fault-seed", type=int, default=0, metavar="S", help="seed of the random faults")
    parser.add_argument(
        "--fault-kinds",
        metavar="KINDS",
        help=f"comma-separated fault kinds for --fault-rate (default: transient ones); from {', '.join(FAULT_KINDS)}",
    )
    parser.add_argument(
        "--format", dest="response_format", choices=("json", "xml"), default="json", help="response_format extra"
    )
    parser.add_argument("--conn-id", default=DEFAULT_CONN_ID, help=f"connection id (default {DEFAULT_CONN_ID})")
    return parser


def _fault_kinds(parser: argparse.ArgumentParser, value: str | None) -> list[FaultKind] | None:
    if value is None:
        return None
    kinds: list[FaultKind] = []
    for name in (part.strip() for part in value.split(",") if part.strip()):
        kind = next((known for known in FAULT_KINDS if known == name), None)
        if kind is None:
            parser.error(f"unknown fault kind {name!r}; expected one of {', '.join(FAULT_KINDS)}")
        kinds.append(kind)
    return kinds


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox; returns 0 after SIGINT or SIGTERM."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.fault_rate <= 1.0:
        parser.error("--fault-rate must be between 0 and 1")
    if args.seed < 0 or args.rate_limit < 0:
        parser.error("--seed and --rate-limit must not be negative")
    if args.fault_kinds is not None and not args.fault_rate:
        parser.error("--fault-kinds needs --fault-rate (the share of requests to fault, above 0)")
    kinds = _fault_kinds(parser, args.fault_kinds)

    sandbox = MailPartnerSandbox(api_key=args.api_key, port=args.port, rate_limit_per_minute=args.rate_limit or None)
    try:
        if args.seed_file:
            sandbox.backend.seed_file(args.seed_file)
        if args.seed:
            sandbox.backend.generate(args.seed, seed=args.generate_seed)
    except (OSError, ValueError) as exc:
        print(f"mailpartner-sandbox: cannot seed: {exc}", file=sys.stderr)
        return 2
    if args.fault_rate:
        sandbox.faults.set_rate(args.fault_rate, seed=args.fault_seed, kinds=kinds)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            sandbox.start()
        except OSError as exc:
            print(f"mailpartner-sandbox: cannot listen on port {args.port}: {exc.strerror}", file=sys.stderr)
            return 1
        connection = sandbox.connection_json(args.response_format)
        env_name = f"AIRFLOW_CONN_{args.conn_id.upper()}"
        print(connection)
        print(f"export {env_name}={shlex.quote(connection)}", flush=True)
        faults = f"faults {args.fault_rate:g} (seed {args.fault_seed})" if args.fault_rate else "no faults"
        limit = f"{args.rate_limit}/min" if args.rate_limit else "off"
        print(
            f"mailpartner-sandbox: serving {sandbox.url} - {sandbox.backend.count} entries, "
            f"rate limit {limit}, {faults}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("mailpartner-sandbox: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
