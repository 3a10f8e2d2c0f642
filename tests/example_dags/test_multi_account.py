"""example_mailpartner_multi_account: one mapped fetch per account, one merged, de-duplicated set."""

from __future__ import annotations

import json

import pendulum
import pytest

from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox

FILE, DAG_ID = "example_mailpartner_multi_account.py", "example_mailpartner_multi_account"
DAY = pendulum.datetime(2025, 6, 1, tz="UTC")


@pytest.fixture
def two_accounts(sandbox, monkeypatch):
    """Brand A on the test's sandbox, brand B on a second one with its own key."""
    with MailPartnerSandbox(api_key="brand-b-key", rate_limit_per_minute=None) as brand_b:
        for conn_id, server in (("mp_brand_a", sandbox), ("mp_brand_b", brand_b)):
            for name, value in server.airflow_env(conn_id, extra={"retry_backoff": 0.01}).items():
                monkeypatch.setenv(name, value)
        monkeypatch.setenv("AIRFLOW_VAR_MAILPARTNER_ACCOUNTS", json.dumps(["mp_brand_a", "mp_brand_b"]))
        sandbox.backend.seed(
            [
                {"email": "shared@example.com", "created_at": "2024-01-01 10:00:00"},
                {"email": "only.a@example.com", "created_at": "2024-01-02 10:00:00"},
            ]
        )
        brand_b.backend.seed(
            [
                {"email": " SHARED@Example.COM", "created_at": "2024-02-01 10:00:00"},
                {"email": "only.b@exämple.fr", "created_at": "2024-02-02 10:00:00"},
                {"email": "also.b@example.com", "created_at": "2024-02-03 10:00:00"},
            ]
        )
        yield sandbox, brand_b


def test_each_account_is_fetched_by_its_own_mapped_task_and_the_set_is_merged(run_example, example_root, two_accounts):
    result = run_example(FILE, DAG_ID, logical_date=DAY)

    assert result.state == "success"
    assert result.task_states == {
        "list_accounts": "success",
        "fetch_unsubscribes[0]": "success",
        "fetch_unsubscribes[1]": "success",
        "merge_suppression_set": "success",
    }
    day = example_root / "runs" / DAG_ID / result.run_id
    assert sorted(path.name for path in (day / "accounts").iterdir()) == [
        "mp_brand_a.changes.jsonl",
        "mp_brand_a.jsonl",
        "mp_brand_b.changes.jsonl",
        "mp_brand_b.jsonl",
    ]
    assert (day / "suppression_set.csv").read_text() == (
        "email,accounts\n"
        "also.b@example.com,mp_brand_b\n"
        "only.a@example.com,mp_brand_a\n"
        "only.b@xn--exmple-cua.fr,mp_brand_b\n"
        "shared@example.com,mp_brand_a mp_brand_b\n"
    )
    assert result.xcoms["merge_suppression_set"]["addresses"] == 4
    assert result.xcoms["merge_suppression_set"]["addresses_per_account"] == {"mp_brand_a": 2, "mp_brand_b": 3}


def test_one_account_failing_means_no_merged_set(run_example, example_root, two_accounts):
    _, brand_b = two_accounts
    brand_b.faults.set_rate(1.0, kinds=[Fault.http_error(502)], command="unsubscribe/list")

    result = run_example(FILE, DAG_ID, logical_date=DAY)

    assert result.state == "failed"
    assert result.task_states["fetch_unsubscribes[0]"] == "success"
    assert result.task_states["fetch_unsubscribes[1]"] == "failed"
    assert result.task_states["merge_suppression_set"] == "upstream_failed"
    assert not (example_root / "runs" / DAG_ID / result.run_id / "suppression_set.csv").exists()
