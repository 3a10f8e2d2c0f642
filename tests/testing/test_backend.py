"""The backend's state: seeding, generation, add/delete rules, reset and credits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_provider_mailpartner.testing import ApiError, SandboxBackend
from airflow_provider_mailpartner.testing.addresses import is_valid_address
from airflow_provider_mailpartner.testing.fake_data import generate_entries
from airflow_provider_mailpartner.testing.wire import ListBodyCache

from .client import xml_entries

# -- generate --------------------------------------------------------------------------------------


def test_generate_is_deterministic_for_a_seed_and_differs_across_seeds() -> None:
    first, again, other = SandboxBackend(), SandboxBackend(), SandboxBackend()
    first.generate(500, seed=1)
    again.generate(500, seed=1)
    other.generate(500, seed=2)

    assert first.entries() == again.entries()
    assert [e["email"] for e in first.entries()] != [e["email"] for e in other.entries()]


def test_generate_makes_unique_valid_addresses_with_rising_dates_in_past_years() -> None:
    backend = SandboxBackend()
    backend.generate(20_000, seed=3)
    entries = backend.entries()

    emails = [entry["email"] for entry in entries]
    dates = [entry["createdAt"] for entry in entries]
    assert [entry["id"] for entry in entries] == list(range(1, 20_001))
    assert len({email.lower() for email in emails}) == 20_000
    assert all(is_valid_address(email) and email == email.strip().lower() for email in emails)
    assert dates == sorted(dates)
    assert dates[0] >= "2015-01-01 00:00:00"
    assert dates[-1] <= "2025-12-31 23:59:59"
    assert {date[:4] for date in dates} >= {"2016", "2020", "2024"}
    assert all(datetime.strptime(date, "%Y-%m-%d %H:%M:%S") for date in dates[:100])
    assert len({email.split("@")[1] for email in emails}) > 10


def test_generate_never_repeats_an_address_already_listed() -> None:
    reference, _ = generate_entries(300, 9, set())
    taken = set(reference[:100])

    again, _ = generate_entries(300, 9, taken)

    assert len(set(again)) == 300
    assert not set(again) & set(reference[:100])  # the same draws, made unique with a number
    assert again[100:] == reference[100:]
    assert taken == set(reference[:100]) | set(again)


def test_generate_twice_continues_with_new_names_and_later_dates() -> None:
    backend = SandboxBackend()
    backend.generate(200)
    first = backend.entries()

    backend.generate(200)
    second = backend.entries()[200:]

    def replayed(email: str) -> str:  # what the second batch was when it replayed the first
        local, _, domain = email.partition("@")
        return f"{local}2@{domain}"

    assert sum(entry["email"] == replayed(earlier["email"]) for entry, earlier in zip(second, first, strict=True)) == 0
    assert len({entry["email"] for entry in first + second}) == 400
    assert min(entry["createdAt"] for entry in second) >= first[-1]["createdAt"]
    dates = [entry["createdAt"] for entry in backend.entries()]
    assert dates == sorted(dates)


def test_generate_after_seeded_entries_continues_after_the_last_date() -> None:
    backend = SandboxBackend()
    backend.seed([{"email": "a@example.fr", "created_at": "2019-06-01 12:00:00"}])

    backend.generate(50)

    dates = [entry["createdAt"] for entry in backend.entries()]
    assert dates == sorted(dates)
    assert dates[1] >= "2019-06-01 12:00:00"


def test_generate_is_deterministic_across_successive_calls() -> None:
    first, again = SandboxBackend(), SandboxBackend()
    for backend in (first, again):
        backend.generate(30, seed=4)
        backend.generate(30, seed=4)

    assert first.entries() == again.entries()


def test_generate_continues_ids_after_existing_entries() -> None:
    backend = SandboxBackend()
    backend.seed([{"email": "a@example.fr", "id": 100}])

    backend.generate(3)

    assert [entry["id"] for entry in backend.entries()] == [100, 101, 102, 103]


# -- seed ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02 03:04:05", "2024-01-02 03:04:05"),
        ("2024-01-02T03:04:05", "2024-01-02 03:04:05"),
        ("2024-07-01T10:00:00+00:00", "2024-07-01 12:00:00"),  # UTC -> Paris summer time
        ("2024-01-15T10:00:00Z", "2024-01-15 11:00:00"),  # UTC -> Paris winter time
        (datetime(2023, 5, 6, 7, 8, 9), "2023-05-06 07:08:09"),
        (datetime(2023, 12, 6, 7, 8, 9, tzinfo=UTC), "2023-12-06 08:08:09"),
    ],
)
def test_seed_reads_created_at_as_paris_wall_time(value: str | datetime, expected: str) -> None:
    backend = SandboxBackend()

    backend.seed([{"email": "a@example.fr", "created_at": value}])

    assert backend.entries()[0]["createdAt"] == expected


def test_seed_accepts_the_api_spelling_created_at_and_defaults_to_now() -> None:
    backend = SandboxBackend()
    before = datetime.now().strftime("%Y")

    backend.seed([{"email": "a@example.fr", "createdAt": "2015-07-20 10:19:45"}, {"email": "b@example.fr"}])

    first, second = backend.entries()
    assert first["createdAt"] == "2015-07-20 10:19:45"
    assert second["createdAt"].startswith(before)


def test_seed_keeps_the_address_as_given_including_white_space() -> None:
    backend = SandboxBackend()

    backend.seed([{"email": "  Mixed.Case@Example.FR "}])

    assert backend.entries()[0]["email"] == "  Mixed.Case@Example.FR "
    assert backend.has_email("mixed.case@example.fr")


def test_seed_with_explicit_ids_lists_in_id_order_and_continues_after_the_highest() -> None:
    backend = SandboxBackend()
    backend.seed(
        [{"email": "c@example.fr", "id": 30}, {"email": "a@example.fr", "id": "10"}, {"email": "x@example.fr"}]
    )

    backend.seed([{"email": "b@example.fr", "id": 20}])
    new_id = backend.add("d@example.fr")

    assert [(e["id"], e["email"]) for e in backend.entries()] == [
        (10, "a@example.fr"),
        (20, "b@example.fr"),
        (30, "c@example.fr"),
        (31, "x@example.fr"),
        (32, "d@example.fr"),
    ]
    assert new_id == 32


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"email": "new@example.fr"}, {"email": "listed@example.fr"}], "already on the list"),
        ([{"email": "new@example.fr"}, {"email": " NEW@example.fr"}], "already on the list"),
        ([{"email": "new@example.fr", "id": 1}], "already on the list"),
        ([{"email": "new@example.fr", "id": 5}, {"email": "n2@example.fr", "id": 5}], "repeat an id"),
        ([{"email": "new@example.fr", "id": 0}], "positive integer"),
        ([{"email": "new@example.fr", "id": True}], "positive integer"),
        ([{"email": 42}], "non-blank string"),
        ([{"email": "new@example.fr", "created_at": 20240101}], "string or a datetime"),
        ([{"email": "new@example.fr"}, {"email": "bell\u0007@example.fr"}], r"U\+0007"),
        ([{"email": "a\x00@example.fr"}], r"U\+0000"),
        ([{"email": "a@example.fr\x0c"}], r"U\+000C"),
        ([{"email": "a\tb@example.fr"}], r"U\+0009"),
        ([{"email": "a@exa\nmple.fr"}], r"U\+000A"),
        ([{"email": "a\x85@example.fr"}], r"U\+0085"),
        ([{"email": "a\ud800@example.fr"}], r"U\+D800"),
        ([{"email": "a\uffff@example.fr"}], r"U\+FFFF"),
        ([{"email": ""}], "non-blank"),
    ],
)
def test_seed_is_all_or_nothing(entries: list[dict[str, object]], message: str) -> None:
    backend = SandboxBackend()
    backend.seed([{"email": "listed@example.fr"}])
    version = backend.version

    with pytest.raises(ValueError, match=message):
        backend.seed(entries)

    assert [e["email"] for e in backend.entries()] == ["listed@example.fr"]
    assert backend.version == version
    assert backend.next_id == 2


def test_seed_keeps_white_space_around_the_address_and_the_xml_list_stays_well_formed() -> None:
    backend = SandboxBackend()
    backend.seed([{"email": " \ta@example.fr\r\n"}, {"email": "b@example.fr\t"}])
    response = ListBodyCache().response(backend, "xml")

    records = xml_entries(b"".join(response.chunks))[3]["entry"]

    assert [record["entry"][1].strip() for record in records] == ["a@example.fr", "b@example.fr"]


@pytest.mark.parametrize("username", ["me\x00@example.com", "me\ud800@example.com"])
def test_a_username_the_xml_answer_cannot_carry_is_refused(username: str) -> None:
    with pytest.raises(ValueError, match="username"):
        SandboxBackend(username=username)
    backend = SandboxBackend()
    with pytest.raises(ValueError, match="username"):
        backend.username = username


def test_seed_reuses_the_id_of_a_deleted_entry() -> None:
    backend = SandboxBackend()
    backend.seed([{"email": "a@example.fr"}, {"email": "b@example.fr"}])
    backend.delete(2)

    backend.seed([{"email": "c@example.fr", "id": 2}])

    assert [(e["id"], e["email"]) for e in backend.entries()] == [(1, "a@example.fr"), (2, "c@example.fr")]


# -- seed files ------------------------------------------------------------------------------------


def test_seed_file_reads_json_lines_including_the_providers_own_export(tmp_path: Path) -> None:
    path = tmp_path / "list.jsonl"
    rows = [
        {"id": 7, "email": "a@example.fr", "created_at": "2024-03-01T09:00:00+01:00"},
        {"email": "b@example.fr", "createdAt": "2016-02-03 04:05:06"},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    backend = SandboxBackend()

    assert backend.seed_file(path) == 2
    assert backend.entries() == [
        {"id": 7, "email": "a@example.fr", "createdAt": "2024-03-01 09:00:00"},
        {"id": 8, "email": "b@example.fr", "createdAt": "2016-02-03 04:05:06"},
    ]


def test_seed_file_reads_csv_with_an_email_column(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("id,email,created_at\n3,a@example.fr,2020-01-01T00:00:00+01:00\n,b@example.fr,\n", encoding="utf-8")
    backend = SandboxBackend()

    backend.seed_file(str(path))

    entries = backend.entries()
    assert [(e["id"], e["email"]) for e in entries] == [(3, "a@example.fr"), (4, "b@example.fr")]
    assert entries[0]["createdAt"] == "2020-01-01 00:00:00"


def test_seed_file_reads_a_json_array_and_sniffs_a_file_without_suffix(tmp_path: Path) -> None:
    array_file = tmp_path / "list.json"
    array_file.write_text(json.dumps([{"email": "a@example.fr"}]), encoding="utf-8")
    lines_file = tmp_path / "list"
    lines_file.write_text('{"email": "b@example.fr"}\n', encoding="utf-8")
    backend = SandboxBackend()

    backend.seed_file(array_file)
    backend.seed_file(lines_file)

    assert [e["email"] for e in backend.entries()] == ["a@example.fr", "b@example.fr"]


def test_seed_file_csv_without_an_email_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("address\na@example.fr\n", encoding="utf-8")

    with pytest.raises(ValueError, match="'email' column"):
        SandboxBackend().seed_file(path)


# -- add / delete ----------------------------------------------------------------------------------


def test_add_stores_the_stripped_address_and_refuses_its_variants() -> None:
    backend = SandboxBackend()

    new_id = backend.add("  Someone@Example.FR\n")

    assert backend.entries()[0]["email"] == "Someone@Example.FR"
    for variant in ("someone@example.fr", " SOMEONE@EXAMPLE.FR"):
        with pytest.raises(ApiError) as raised:
            backend.add(variant)
        assert raised.value.code == 3
    assert new_id == 1
    assert backend.count == 1


@pytest.mark.parametrize(("email", "code"), [("", 2), ("   ", 2), ("nope", 9), ("a@b", 9)])
def test_add_refuses_blank_and_invalid_addresses_with_their_codes(email: str, code: int) -> None:
    with pytest.raises(ApiError) as raised:
        SandboxBackend().add(email)

    assert raised.value.code == code


def test_delete_of_an_unknown_id_raises_code_4_and_a_deleted_address_can_come_back() -> None:
    backend = SandboxBackend()
    backend.add("a@example.fr")
    backend.delete(1)

    with pytest.raises(ApiError) as raised:
        backend.delete(1)

    assert raised.value.code == 4
    assert backend.add("a@example.fr") == 2
    assert backend.count == 1


def test_many_deletes_keep_the_list_consistent_across_compaction() -> None:
    backend = SandboxBackend()
    backend.generate(5000)

    for entry_id in range(1, 5001, 2):
        backend.delete(entry_id)
    backend.delete(4000)

    ids = [entry["id"] for entry in backend.entries()]
    assert ids == [i for i in range(2, 5001, 2) if i != 4000]
    assert backend.count == len(ids)
    with pytest.raises(ApiError):
        backend.delete(3)
    backend.delete(5000)
    assert backend.count == len(ids) - 1


def test_version_changes_with_every_change_of_the_list() -> None:
    backend = SandboxBackend()
    versions = [backend.version]
    backend.add("a@example.fr")
    versions.append(backend.version)
    backend.delete(1)
    versions.append(backend.version)
    backend.generate(1)
    versions.append(backend.version)

    assert len(set(versions)) == 4


# -- account ---------------------------------------------------------------------------------------


def test_reset_restores_a_fresh_account() -> None:
    backend = SandboxBackend(username="me@example.com")
    backend.generate(10)
    backend.username = "changed@example.com"
    backend.set_credits(credit_mail=1, currency="USD", balance=Decimal("1.5"))

    backend.reset()

    assert backend.entries() == []
    assert backend.next_id == 1
    assert backend.username == "me@example.com"
    assert backend.credits() == {"creditMail": 269082, "currency": "EUR", "balance": "10225.119"}


@pytest.mark.parametrize(("balance", "expected"), [("0", "0.000"), (Decimal("12.3456"), "12.346"), ("-4.1", "-4.100")])
def test_balance_is_sent_with_three_decimals(balance: str | Decimal, expected: str) -> None:
    backend = SandboxBackend()

    backend.set_credits(balance=balance)

    assert backend.credits()["balance"] == expected
