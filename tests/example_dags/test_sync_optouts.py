"""example_mailpartner_sync_optouts: the day's opt-out file reaches MailPartner, once, whatever the rerun."""

from __future__ import annotations

import pendulum

DAY = pendulum.datetime(2025, 6, 1, tz="UTC")
FILE, DAG_ID = "example_mailpartner_sync_optouts.py", "example_mailpartner_sync_optouts"


def test_the_days_optouts_are_added_and_a_rerun_adds_nothing(run_example, example_root, mailpartner):
    mailpartner.backend.seed([{"email": "already@example.com", "created_at": "2024-01-01 10:00:00"}])
    (example_root / "optouts").mkdir()
    (example_root / "optouts" / "2025-06-01.csv").write_text(
        "email,source\n"
        "new.one@example.com,preference centre\n"
        " NEW.ONE@Example.com ,reply\n"  # the same person again
        "ALREADY@example.com,shop\n"
        "not-an-address,form\n"
        "zoë@exämple.fr,form\n"
    )
    (example_root / "optouts" / "2025-06-02.csv").write_text("email\nsomeone.else@example.com\n")  # another day

    first = run_example(FILE, DAG_ID, logical_date=DAY)

    assert first.state == "success"
    assert first.xcoms["push_optouts"] == {"added": 2, "already_listed": 1, "invalid": 1, "failed": 0}
    listed = sorted(entry["email"] for entry in mailpartner.backend.entries())
    assert listed == ["already@example.com", "new.one@example.com", "zoë@exämple.fr"]

    again = run_example(FILE, DAG_ID, logical_date=DAY.add(hours=1))  # same ds, a second run

    assert again.xcoms["push_optouts"] == {"added": 0, "already_listed": 3, "invalid": 1, "failed": 0}
    assert len(mailpartner.backend.entries()) == 3


def test_a_missing_opt_out_file_fails_the_run_and_adds_nothing(run_example, example_root, mailpartner):
    result = run_example(FILE, DAG_ID, logical_date=DAY)

    assert result.state == "failed"
    assert mailpartner.backend.entries() == []
