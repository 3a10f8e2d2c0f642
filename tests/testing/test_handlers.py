"""The API commands over real HTTP, in JSON and in positional XML."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mailpartner.testing import MailPartnerSandbox

from .client import ApiClient, xml_entries

SEEDED = [
    {"email": "alice@example.fr", "created_at": "2015-07-20 10:19:45"},
    {"email": "bob@example.com", "created_at": "2019-01-02 03:04:05"},
    {"email": "carol]]>x@example.org", "created_at": "2024-12-31 23:59:59"},
]

# -- unsubscribe/list ------------------------------------------------------------------------------


def test_list_json_has_envelope_keys_then_records_in_documented_order(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.backend.seed(SEEDED[:2])

    response = api.get("unsubscribe/list")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["success", "code", "nbData", "data"]
    assert body["success"] is True
    assert body["code"] == 200
    assert body["nbData"] == 2
    assert [list(record) for record in body["data"]] == [["id", "email", "createdAt"]] * 2
    assert body["data"] == [
        {"id": 1, "email": "alice@example.fr", "createdAt": "2015-07-20 10:19:45"},
        {"id": 2, "email": "bob@example.com", "createdAt": "2019-01-02 03:04:05"},
    ]


def test_list_json_of_an_empty_account_has_nbdata_zero_and_empty_data(api: ApiClient) -> None:
    assert api.get("unsubscribe/list").json() == {"success": True, "code": 200, "nbData": 0, "data": []}


@pytest.mark.parametrize("count", [0, 1, 3])
def test_list_xml_is_positional_for_zero_one_and_many_records(
    sandbox: MailPartnerSandbox, api: ApiClient, count: int
) -> None:
    sandbox.backend.seed(SEEDED[:count])

    response = api.get("unsubscribe/list", fmt="xml")

    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    success, code, nb_data, data = xml_entries(response.content)
    assert (success, code, nb_data) == ("true", "200", str(count))
    if count == 0:
        assert data is None  # an empty <entry></entry>
    else:
        records = [record["entry"] for record in data["entry"]]
        assert records == [
            [str(index + 1), entry["email"], entry["created_at"]] for index, entry in enumerate(SEEDED[:count])
        ]


def test_list_xml_keeps_an_address_containing_the_cdata_terminator_intact(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.backend.seed(SEEDED[2:])

    data = xml_entries(api.get("unsubscribe/list", fmt="xml").content)[3]

    assert data["entry"][0]["entry"][1] == "carol]]>x@example.org"


@pytest.mark.parametrize("value", ["JSON", "XML", "yaml", "", "xmlx"])
def test_list_with_an_unknown_format_answers_json(api: ApiClient, value: str) -> None:
    response = api.get("unsubscribe/list", fmt=value)

    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["code"] == 200


def test_list_reflects_adds_and_deletes_made_after_a_cached_fetch(api: ApiClient) -> None:
    assert api.get("unsubscribe/list").json()["nbData"] == 0
    api.post("unsubscribe/add", email="new@example.fr")
    api.post("unsubscribe/add", email="other@example.fr")
    assert [r["email"] for r in api.get("unsubscribe/list").json()["data"]] == [
        "new@example.fr",
        "other@example.fr",
    ]

    api.get("unsubscribe/delete", id="1")

    body = api.get("unsubscribe/list").json()
    assert body["nbData"] == 1
    assert body["data"][0]["id"] == 2
    assert xml_entries(api.get("unsubscribe/list", fmt="xml").content)[2] == "1"


# -- authentication ----------------------------------------------------------------------------------

GET_COMMANDS = ["unsubscribe/list", "unsubscribe/delete", "me"]


@pytest.mark.parametrize("command", GET_COMMANDS)
@pytest.mark.parametrize("key", [None, ""])
def test_get_without_a_key_answers_code_1_at_http_200(api: ApiClient, command: str, key: str | None) -> None:
    response = api.get(command, key=key, id="1")

    assert response.status_code == 200
    assert response.json() == {"success": False, "code": 1, "message": "API key required"}


@pytest.mark.parametrize("command", GET_COMMANDS)
def test_get_with_a_wrong_key_answers_code_10_at_http_200(api: ApiClient, command: str) -> None:
    response = api.get(command, key="not-the-key", id="1")

    assert response.status_code == 200
    assert response.json() == {"success": False, "code": 10, "message": "Wrong API key"}


def test_wrong_key_in_xml_is_a_result_of_exactly_three_entries(api: ApiClient) -> None:
    response = api.get("unsubscribe/list", key="not-the-key", fmt="xml")

    assert response.headers["Content-Type"].startswith("application/xml")
    assert xml_entries(response.content) == ["false", "10", "Wrong API key"]


def test_missing_key_in_xml_is_a_result_of_exactly_three_entries(api: ApiClient) -> None:
    assert xml_entries(api.get("me", key=None, fmt="xml").content) == ["false", "1", "API key required"]


@pytest.mark.parametrize(("key", "code"), [(None, 1), ("", 1), ("nope", 10)])
def test_add_checks_the_key_in_the_json_body(api: ApiClient, key: str | None, code: int) -> None:
    assert api.post("unsubscribe/add", key=key, email="a@example.fr").json()["code"] == code


def test_post_with_the_key_only_in_the_query_string_answers_code_1(api: ApiClient) -> None:
    response = api.session.post(
        api.url("unsubscribe/add") + "?apiKey=" + api.sandbox.api_key,
        json={"email": "a@example.fr"},
        timeout=10,
    )

    assert response.json()["code"] == 1
    assert not api.sandbox.backend.has_email("a@example.fr")


# -- unsubscribe/add -------------------------------------------------------------------------------


def test_add_returns_the_new_stop_id_and_stores_the_stripped_address(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.backend.generate(5)

    response = api.post("unsubscribe/add", email="  New.Person@Example.FR \t")

    assert response.status_code == 200
    assert response.json() == {"success": True, "code": 200, "stopId": 6}
    assert sandbox.backend.entries()[-1]["email"] == "New.Person@Example.FR"


def test_add_in_xml_answers_true_200_and_the_stop_id(api: ApiClient) -> None:
    assert xml_entries(api.post("unsubscribe/add", email="a@example.fr", fmt="xml").content) == ["true", "200", "1"]


def test_add_accepts_the_format_in_the_query_string_of_a_post(api: ApiClient) -> None:
    response = api.session.post(
        api.url("unsubscribe/add") + "?_format=xml",
        json={"apiKey": api.sandbox.api_key, "email": "a@example.fr"},
        timeout=10,
    )

    assert xml_entries(response.content) == ["true", "200", "1"]


@pytest.mark.parametrize("variant", ["a@example.fr", "A@EXAMPLE.FR", "  a@example.fr ", "\tA@Example.fr\n"])
def test_add_of_an_address_already_listed_answers_code_3(api: ApiClient, variant: str) -> None:
    api.post("unsubscribe/add", email="a@example.fr")

    response = api.post("unsubscribe/add", email=variant)

    assert response.status_code == 200
    assert response.json()["success"] is False
    assert response.json()["code"] == 3
    assert api.get("unsubscribe/list").json()["nbData"] == 1


def test_add_of_an_address_seeded_with_white_space_answers_code_3(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.backend.seed([{"email": " Seeded@Example.fr "}])

    assert api.post("unsubscribe/add", email="seeded@example.fr").json()["code"] == 3


@pytest.mark.parametrize("fields", [{}, {"email": ""}, {"email": "   "}, {"email": None}])
def test_add_without_an_address_answers_code_2(api: ApiClient, fields: dict[str, str | None]) -> None:
    assert api.post("unsubscribe/add", **fields).json()["code"] == 2


@pytest.mark.parametrize(
    "email",
    [
        "plainaddress",
        "a@b",
        "a@@example.fr",
        "a b@example.fr",
        "@example.fr",
        "a@example..fr",
        "a@.fr",
        "a@example.f",
        "a\ud800@example.fr",  # a lone surrogate: UTF-8 (so the XML list) cannot carry it
        "a\x85@example.fr",
    ],
)
def test_add_of_an_invalid_address_answers_code_9(api: ApiClient, email: str) -> None:
    response = api.post("unsubscribe/add", email=email)

    assert response.json() == {"success": False, "code": 9, "message": "Invalid email"}
    assert api.get("unsubscribe/list").json()["nbData"] == 0


# -- unsubscribe/delete ----------------------------------------------------------------------------


def test_delete_by_get_removes_the_entry(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.backend.seed(SEEDED[:2])

    response = api.get("unsubscribe/delete", id="1")

    assert response.json() == {"success": True, "code": 200}
    assert [entry["id"] for entry in sandbox.backend.entries()] == [2]


def test_delete_by_post_with_the_id_in_the_json_body_also_works(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.backend.seed(SEEDED[:2])

    assert api.post("unsubscribe/delete", id=2).json() == {"success": True, "code": 200}
    assert [entry["id"] for entry in sandbox.backend.entries()] == [1]


def test_delete_in_xml_answers_true_200(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.backend.seed(SEEDED[:1])

    assert xml_entries(api.get("unsubscribe/delete", id="1", fmt="xml").content) == ["true", "200"]


@pytest.mark.parametrize("entry_id", ["999", "abc", "-1", "1.0", "0"])
def test_delete_of_an_unknown_or_non_integer_id_answers_code_4(
    sandbox: MailPartnerSandbox, api: ApiClient, entry_id: str
) -> None:
    sandbox.backend.seed(SEEDED[:1])

    assert api.get("unsubscribe/delete", id=entry_id).json()["code"] == 4
    assert sandbox.backend.count == 1


def test_delete_twice_answers_code_4_the_second_time(sandbox: MailPartnerSandbox, api: ApiClient) -> None:
    sandbox.backend.seed(SEEDED[:1])

    assert api.get("unsubscribe/delete", id="1").json()["code"] == 200
    assert api.get("unsubscribe/delete", id="1").json()["code"] == 4


@pytest.mark.parametrize("params", [{}, {"id": ""}, {"id": " "}])
def test_delete_without_an_id_answers_code_3(api: ApiClient, params: dict[str, str]) -> None:
    assert api.get("unsubscribe/delete", **params).json()["code"] == 3


# -- me --------------------------------------------------------------------------------------------


def test_me_reports_the_username_and_credits_with_a_three_decimal_balance(
    sandbox: MailPartnerSandbox, api: ApiClient
) -> None:
    sandbox.backend.username = "someone@example.com"
    sandbox.backend.set_credits(credit_mail=42, balance="12.5")

    response = api.get("me")

    assert response.json() == {
        "success": True,
        "code": 200,
        "user": {"username": "someone@example.com"},
        "credits": {"creditMail": 42, "currency": "EUR", "balance": "12.500"},
    }
    assert list(json.loads(response.text)) == ["success", "code", "user", "credits"]


def test_me_in_xml_nests_user_and_credits_positionally(api: ApiClient) -> None:
    entries = xml_entries(api.get("me", fmt="xml").content)

    assert entries == [
        "true",
        "200",
        {"entry": ["sandbox@mailpartner.test"]},
        {"entry": ["269082", "EUR", "10225.119"]},
    ]
