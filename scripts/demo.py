"""`make demo`: the MailPartner hook end to end against the built-in sandbox.

Starts a sandbox seeded with a few thousand unsubscribes, points the ``mailpartner_default``
connection at it (unless AIRFLOW_CONN_MAILPARTNER_DEFAULT is already set: then the real account
it names is used), fetches the list in both formats, reads the credits, and stops the sandbox
whatever happens.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

DEMO_ENTRIES = 5000
CONN_ENV = "AIRFLOW_CONN_MAILPARTNER_DEFAULT"


def main() -> int:
    home = Path(__file__).resolve().parent.parent / ".demo" / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

    from airflow_provider_mailpartner.exceptions import MailPartnerError
    from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook
    from airflow_provider_mailpartner.testing import MailPartnerSandbox

    with ExitStack() as stack:
        if os.environ.get(CONN_ENV):
            print(f"Using the connection in {CONN_ENV} (not the sandbox).")
        else:
            sandbox = stack.enter_context(MailPartnerSandbox())
            sandbox.backend.generate(DEMO_ENTRIES, seed=2026)
            os.environ.update(sandbox.airflow_env("mailpartner_default"))
            print(f"Sandbox listening on {sandbox.url} with {DEMO_ENTRIES} unsubscribes.")

        hook = MailPartnerHook(mailpartner_conn_id="mailpartner_default")
        try:
            started = time.monotonic()
            entries = hook.get_unsubscribes()
            json_seconds = time.monotonic() - started
            started = time.monotonic()
            same_in_xml = hook.get_unsubscribes(response_format="xml") == entries
            xml_seconds = time.monotonic() - started
            credits = hook.get_credits()
        except MailPartnerError as error:
            print(f"FAILED: {error}", file=sys.stderr)
            return 1

    newest = max(entries, key=lambda entry: entry.created_at, default=None)
    print()
    print(f"Unsubscribes fetched : {len(entries)} (JSON in {json_seconds:.2f} s; XML in {xml_seconds:.2f} s)")
    print(f"JSON and XML agree   : {'yes' if same_in_xml else 'NO'}")
    if newest is not None:
        print(f"Newest unsubscribe   : id {newest.id} at {newest.created_at.isoformat()}")
    print(f"Credits              : {credits.credit_mail} mails, balance {credits.balance} {credits.currency}")
    return 0 if same_in_xml else 1


if __name__ == "__main__":
    sys.exit(main())
