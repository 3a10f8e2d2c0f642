"""The /_sandbox/ control endpoints: reset, seed, faults and state over HTTP."""

from __future__ import annotations

import pytest

from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox

from .client import ApiClient


def test_reset_empties_the_list_and_clears_faults_log_and_rate_window(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.backend.generate(10)
    sandbox.rate_limit_per_minute = 2
    api.get("me")
    api.get("me")
    sandbox.faults.script(Fault.http_error(503))

    response = api.control("POST", "reset")

    assert response.status_code == 200
    assert response.json() == {"reset": True}
    assert sandbox.backend.count == 0
    assert sandbox.requests == []
    assert sandbox.faults.pending() == []
    assert api.get("me").status_code == 200  # neither the fault nor the spent rate window remain
    assert api.post("unsubscribe/add", email="a@example.fr").json()["stopId"] == 1


def test_seed_adds_the_given_entries(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    response = api.control(
        "POST",
        "seed",
        {
            "entries": [
                {"email": "a@example.fr", "created_at": "2020-01-01 00:00:00"},
                {"email": "b@example.fr", "id": 40},
            ]
        },
    )

    assert response.status_code == 200
    assert response.json() == {"added": 2, "entries": 2}
    assert [(e["id"], e["email"]) for e in sandbox.backend.entries()] == [(40, "b@example.fr"), (41, "a@example.fr")]


def test_seed_generates_the_same_entries_for_the_same_seed(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    api.control("POST", "seed", {"generate": 50, "seed": 4})
    first = sandbox.backend.entries()
    api.control("POST", "reset")
    api.control("POST", "seed", {"generate": 50, "seed": 4})

    assert sandbox.backend.entries() == first
    assert len(first) == 50


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "expected 'entries'"),
        ({"entries": "a@example.fr"}, "list of objects"),
        ({"entries": [{"email": "a@example.fr"}, {"email": "A@example.fr"}]}, "already on the list"),
        ({"entries": [{"email": ""}]}, "non-blank"),
        ({"entries": [{"email": "a@example.fr", "created_at": "yesterday"}]}, "ISO 8601"),
        ({"generate": "ten"}, "must be an integer"),
        ({"generate": -1}, ">= 0"),
        ({"entries": [{"email": "bell\u0007@example.fr"}]}, "U+0007"),
    ],
)
def test_seed_refuses_a_bad_body_with_400_and_adds_nothing(
    sandbox: MailPartnerSandbox, api: ApiClient, body: dict[str, object], message: str
) -> None:
    response = api.control("POST", "seed", body)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert sandbox.backend.count == 0


def test_a_control_body_that_is_not_json_answers_400(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    response = api.session.post(f"{sandbox.url}/_sandbox/seed", data=b"{oops", timeout=10)

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


def test_faults_endpoint_scripts_faults_for_a_command(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    response = api.control(
        "POST",
        "faults",
        {
            "script": [{"kind": "http_error", "status": 502}, {"kind": "rate_limited", "retry_after": 2}],
            "command": "me",
        },
    )

    assert response.status_code == 200
    assert [item["command"] for item in response.json()["scripted"]] == ["me", "me"]
    assert api.get("unsubscribe/list").status_code == 200
    assert api.get("me").status_code == 502
    assert api.get("me").headers["Retry-After"] == "2"


def _faults_for_seed(sandbox: MailPartnerSandbox, api: ApiClient, seed: int) -> list[str | None]:
    api.control("POST", "reset")
    rate = {"rate": 0.5, "seed": seed, "kinds": ["html_page", {"kind": "http_error", "status": 500}]}
    assert api.control("POST", "faults", rate).status_code == 200
    for _ in range(30):
        api.get("me")
    return [r.fault for r in sandbox.requests]


def test_faults_endpoint_sets_a_random_rate_that_replays_for_its_seed_and_clears_it(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    first = _faults_for_seed(sandbox, api, seed=5)
    replay = _faults_for_seed(sandbox, api, seed=5)
    other = _faults_for_seed(sandbox, api, seed=6)
    api.control("POST", "faults", {"clear": True})

    assert replay == first
    assert other != first
    assert set(first) == {None, "html_page", "http_error"}
    assert api.get("me").headers["Content-Type"].startswith("application/json")
    assert api.control("GET", "state").json()["faults"]["rate"] == 0.0


def test_faults_endpoint_builds_each_fault_with_its_constructor_defaults(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    script = [{"kind": "http_error"}, {"kind": "rate_limited"}]

    assert api.control("POST", "faults", {"script": script}).status_code == 200

    assert api.get("me").status_code == 503  # Fault.http_error()'s default, not 500
    limited = api.get("me")
    assert (limited.status_code, limited.json()["code"]) == (429, 429)


def test_faults_endpoint_accepts_raw_headers_as_an_object(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    raw = {"kind": "raw", "payload": "", "status": 302, "headers": {"Location": "https://elsewhere.example/"}}

    assert api.control("POST", "faults", {"script": [raw]}).status_code == 200

    redirect = api.session.get(api.url("me"), allow_redirects=False, timeout=10)
    assert (redirect.status_code, redirect.headers["Location"]) == (302, "https://elsewhere.example/")


@pytest.mark.parametrize(
    "body",
    [
        {"script": [{"kind": "teleport"}]},
        {"script": [{"kind": "reset"}], "command": "unsubscribe/nothing"},
        {"rate": 2},
        {"rate": "often"},
        {"rate": 0.5, "kinds": ["nope"]},
        {"script": [{"kind": "raw", "payload": 123}]},
        {"script": [{"kind": "http_error", "status": 200}]},
        {"script": [{"kind": "rate_limited", "status": 500}]},
        {"script": [{"kind": "envelope_error", "code": "boom"}]},
        {"script": [{"kind": "reset", "processed": "no"}]},
        {"rate": 0.5, "kinds": [{"kind": "raw", "payload": 123}]},
    ],
)
def test_faults_endpoint_refuses_a_bad_body_with_400_and_queues_nothing(
    sandbox: MailPartnerSandbox, api: ApiClient, body: dict[str, object]
) -> None:
    response = api.control("POST", "faults", body)

    assert response.status_code == 400
    assert response.json()["error"]
    assert sandbox.faults.pending() == []
    assert sandbox.faults.rate == 0.0
    assert api.get("me").status_code == 200


def test_state_reports_entries_credits_requests_limit_and_faults(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.backend.generate(7)
    api.get("me")
    api.get("unsubscribe/list")
    sandbox.faults.script(Fault.reset())

    state = api.control("GET", "state").json()

    assert state["entries"] == 7
    assert state["next_id"] == 8
    assert state["credits"] == {"creditMail": 269082, "currency": "EUR", "balance": "10225.119"}
    assert state["username"] == "sandbox@mailpartner.test"
    assert state["requests"] == 2
    assert state["errors"] == 0
    assert state["rate_limit_per_minute"] == 2000
    assert state["faults"]["scripted"][0]["fault"]["kind"] == "reset"


@pytest.mark.parametrize(
    ("method", "name", "allow"),
    [("GET", "reset", "POST"), ("GET", "seed", "POST"), ("GET", "faults", "POST"), ("POST", "state", "GET")],
)
def test_wrong_method_on_a_control_path_answers_405_with_the_exact_allow(
    api: ApiClient, method: str, name: str, allow: str
) -> None:
    response = api.control(method, name)

    assert response.status_code == 405
    assert response.headers["Allow"] == allow


def test_an_unknown_control_path_answers_404(api: ApiClient) -> None:
    assert api.control("POST", "explode").status_code == 404


def test_control_requests_need_no_key_and_are_not_logged(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    api.control("GET", "state")
    api.control("POST", "seed", {"generate": 1})

    assert sandbox.requests == []
    assert sandbox.backend.count == 1
