"""The rolling-minute rate limit: the limiter's arithmetic, then HTTP 429 as a client sees it."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox
from airflow_provider_mailpartner.testing.rate_limit import RollingWindowLimiter

from .client import API_KEY, ApiClient, xml_entries


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_admits_up_to_the_limit_then_says_when_a_slot_frees() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(3, clock=clock)
    admitted = []
    for offset in (0.0, 1.0, 2.0):
        clock.now = 1000.0 + offset
        admitted.append(limiter.acquire())

    clock.now = 1010.0
    refused = limiter.acquire()
    clock.now = 1060.0  # the first request leaves the window exactly now
    after_window = limiter.acquire()

    assert admitted == [None, None, None]
    assert refused == 50
    assert after_window is None


def test_limiter_retry_after_is_rounded_up_and_at_least_one_second() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(1, clock=clock)
    limiter.acquire()

    clock.now = 1000.0 + 58.5
    assert limiter.acquire() == 2
    clock.now = 1000.0 + 59.999
    assert limiter.acquire() == 1


def test_refused_requests_do_not_push_the_next_slot_back() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(1, clock=clock)
    limiter.acquire()
    for second in range(1, 60):
        clock.now = 1000.0 + second
        assert limiter.acquire() is not None

    clock.now = 1060.0
    assert limiter.acquire() is None


@pytest.mark.parametrize("limit", [None, 0])
def test_limiter_without_a_limit_admits_everything(limit: int | None) -> None:
    limiter = RollingWindowLimiter(limit)

    assert all(limiter.acquire() is None for _ in range(5000))
    assert limiter.per_minute is None


def test_limiter_refuses_a_negative_limit() -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RollingWindowLimiter(-1)


def test_the_sixth_request_in_a_minute_gets_http_429_with_retry_after(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.rate_limit_per_minute = 5

    responses = [api.get("me") for _ in range(6)]

    assert [r.status_code for r in responses] == [200] * 5 + [429]
    limited = responses[-1]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json() == {"success": False, "code": 429, "message": "Too many requests"}
    assert sandbox.requests[-1].http_status == 429
    assert sandbox.requests[-1].code == 429


def test_the_429_answer_follows_the_requested_format(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.rate_limit_per_minute = 1
    api.get("me")

    response = api.post("unsubscribe/add", email="a@example.fr", fmt="xml")

    assert response.status_code == 429
    assert response.headers["Content-Type"].startswith("application/xml")
    assert xml_entries(response.content) == ["false", "429", "Too many requests"]
    assert not sandbox.backend.has_email("a@example.fr")


def test_the_default_limit_is_the_real_services_2000_per_minute(sandbox: MailPartnerSandbox) -> None:
    assert sandbox.rate_limit_per_minute == 2000


def test_a_rate_limited_request_consumes_no_scripted_fault(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.rate_limit_per_minute = 1
    api.get("me")
    sandbox.faults.script(Fault.http_error(503))

    assert api.get("me").status_code == 429
    assert len(sandbox.faults.pending()) == 1


def test_unknown_paths_and_wrong_methods_are_not_counted_nor_limited(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.rate_limit_per_minute = 1
    strays = [
        api.session.get(f"{sandbox.url}/favicon.ico", timeout=10).status_code,
        api.get("nothing").status_code,
        api.post("unsubscribe/list").status_code,
    ]

    first, second = api.get("me").status_code, api.get("me").status_code

    assert strays == [404, 404, 405]
    assert (first, second) == (200, 429)
    assert api.get("nothing").status_code == 404  # past the limit, still the router's answer


def test_control_endpoints_are_not_rate_limited(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.rate_limit_per_minute = 1
    api.get("me")

    assert [api.control("GET", "state").status_code for _ in range(5)] == [200] * 5


def test_a_sandbox_without_a_limit_never_answers_429() -> None:
    with MailPartnerSandbox(api_key=API_KEY, rate_limit_per_minute=None) as sandbox, requests.Session() as session:
        statuses = {
            session.get(f"{sandbox.url}/v1/me", params={"apiKey": API_KEY}, timeout=10).status_code for _ in range(300)
        }

    assert statuses == {200}
