from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from airflow_provider_mailpartner.client.retry import RetryPolicy, parse_retry_after


def policy(**kwargs) -> RetryPolicy:
    return RetryPolicy(**{"max_retries": 5, "backoff": 1.0, "rng": random.Random(7), **kwargs})


def test_delays_grow_exponentially_with_jitter_within_bounds():
    retry = policy()
    for number in range(5):
        step = 2**number
        delays = [retry.delay(number) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 1, "jitter must spread the delays"


def test_delay_is_capped():
    assert policy(max_retries=20, backoff_max=30).delay(15) <= 30


def test_no_delay_once_retries_are_spent():
    assert policy(max_retries=2).delay(2) is None
    assert policy(max_retries=0).delay(0) is None


def test_retry_after_is_honoured_when_longer_than_the_backoff():
    assert policy(backoff=0.01).delay(0, "3") == 3.0


def test_retry_after_beyond_the_cap_stops_retrying():
    assert policy(retry_after_max=60).delay(0, "3600") is None


@pytest.mark.parametrize("value", [None, "", "soon", "-5"])
def test_unusable_retry_after_is_ignored(value):
    assert parse_retry_after(value) is None


def test_retry_after_as_http_date():
    when = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= parse_retry_after(format_datetime(when, usegmt=True)) <= 31


@pytest.mark.parametrize(("code", "retryable"), [(429, True), (500, True), (10, False), (1, False), (4, False)])
def test_only_rate_limit_and_server_codes_are_retried(code, retryable):
    assert policy().retryable_code(code) is retryable


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (503, True), (404, False), (401, False)])
def test_retryable_http_statuses(status, retryable):
    assert policy().retryable_status(status) is retryable
