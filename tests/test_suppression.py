"""normalize_email is the one definition of "the same address"; SuppressionSet is built and merged on it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import string
import unicodedata

import idna
import pytest
from airflow.sdk import ObjectStoragePath
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_mailpartner.hashed_lists import AddressHasher
from airflow_provider_mailpartner.record_files import RecordFileError, write_records
from airflow_provider_mailpartner.suppression import (
    InvalidEmailError,
    Listed,
    SuppressionSet,
    _normalize_in_full,
    normalize_email,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters whose case variants are the same address under case folding (unlike, say, the dotless i, U+0131).
LOCAL_CHARS = st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789._+-'éèüçøàßñ")
DOMAIN_CHARS = st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789äöüéçñ")
LABEL = st.text(DOMAIN_CHARS, min_size=1, max_size=12)
ADDRESS = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.text(LOCAL_CHARS, min_size=1, max_size=20),
    st.lists(LABEL, min_size=1, max_size=3),
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=2, max_size=6),
)
STRIPPED = st.text(st.sampled_from(" \t\n\r\u00a0\u2003\u3000\x0b\x0c"), max_size=3)  # all removed by str.strip()
# ASCII addresses, valid and near misses: a valid address with up to two pieces inserted anywhere
# (specials, controls, white space, hyphens, "xn--", dots, long runs), in upper or lower case.
ASCII_LOCAL = st.text(
    st.sampled_from(string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~.-"), min_size=1, max_size=12
)
ASCII_LABEL = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
ASCII_ADDRESS = st.builds(
    lambda local, labels: f"{local}@{'.'.join(labels)}", ASCII_LOCAL, st.lists(ASCII_LABEL, min_size=2, max_size=4)
)
INSERTIONS = st.lists(
    st.tuples(
        st.integers(0, 100),
        st.sampled_from([*' \t"(),:;<>[\\]@._-\x00\x7f', "--", "xn--", "XN--", "..", "a" * 55, "b" * 64]),
    ),
    max_size=2,
)


def inserted(text: str, insertions: list[tuple[int, str]]) -> str:
    for position, piece in insertions:
        position %= len(text) + 1
        text = text[:position] + piece + text[position:]
    return text


ASCII_ADDRESS_LIKE = st.builds(inserted, ASCII_ADDRESS, INSERTIONS)


def outcome(normalise, text: str) -> str | type[InvalidEmailError]:
    try:
        return normalise(text)
    except InvalidEmailError:
        return InvalidEmailError


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (" Zoë@Exämple.FR ", "zoë@xn--exmple-cua.fr"),
        ("zoë@xn--exmple-cua.fr", "zoë@xn--exmple-cua.fr"),
        ("Zoe\u0308@example.fr", "zoë@example.fr"),  # NFD spelling of the same address
        ("Straße@Example.com", "strasse@example.com"),
        ("a@b.c.", "a@b.c"),
        ("\u212a@example.fr", "k@example.fr"),  # KELVIN SIGN: the one non-ASCII letter lower() makes ASCII
    ],
)
def test_variants_of_an_address_share_one_key(text, key):
    assert normalize_email(text) == key
    assert normalize_email(key) == key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nobody",
        "a@@b.fr",
        "@b.fr",
        "a@",
        "a b@c.fr",
        "x@y",
        "mailto:x@example.com",
        "Dupont;x@example.com",
        "<x@example.com>",
        "x@exa_mple.com",
        "a\u200b@b.fr",
        "x" * 65 + "@example.com",
        "a@-b.fr",
        "a@b-.fr",
        "a@ab--c.fr",
        "a@xn--zz.fr",
        "a@" + "b" * 64 + ".fr",
        "a@" + ".".join(["b" * 63] * 4),
    ],
)
def test_what_is_not_an_address_is_reported(text):
    with pytest.raises(InvalidEmailError):
        normalize_email(text)


@SETTINGS
@given(st.one_of(st.text(), ADDRESS, st.emails(), ASCII_ADDRESS_LIKE))
def test_normalising_returns_a_key_or_raises_invalid_email_error_only_and_is_idempotent(text):
    key = outcome(normalize_email, text)
    if key is not InvalidEmailError:
        assert isinstance(key, str)
        assert normalize_email(key) == key


@settings(SETTINGS, max_examples=2000)
@given(ASCII_ADDRESS_LIKE)
@example("a@b.c.")
@example("a@" + "b" * 63 + ".fr")
@example("a@" + "b" * 64 + ".fr")
@example("x" * 65 + "@example.fr")
@example("a@" + ".".join(["b" * 63] * 4))
def test_the_plain_ascii_shortcut_agrees_with_the_full_normalisation(text):
    assert outcome(normalize_email, text) == outcome(_normalize_in_full, text)


@SETTINGS
@given(st.one_of(st.emails(), st.text()))
@example("\u212a@example.fr")
def test_the_shortcut_agrees_with_the_full_normalisation_on_any_text(text):
    assert outcome(normalize_email, text) == outcome(_normalize_in_full, text)


def test_the_printable_check_refuses_exactly_white_space_and_control_categories():
    """The full path's one-call check equals the per-character rule it replaced, for every code point."""
    for char in map(chr, range(0x110000)):
        refused = char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn")
        assert refused == (not char.isprintable() or char == " "), hex(ord(char))


def case_mixed(text: str, uppers: list[bool]) -> str:
    """``text`` with the characters ``uppers`` marks in upper case."""
    uppers = (uppers + [False] * len(text))[: len(text)]
    return "".join(char.upper() if upper else char for char, upper in zip(text, uppers, strict=True))


@SETTINGS
@given(
    address=ADDRESS,
    uppers=st.lists(st.booleans(), max_size=40),
    before=STRIPPED,
    after=STRIPPED,
    form=st.sampled_from(["NFC", "NFD"]),
    punycode=st.booleans(),
    trailing_dot=st.booleans(),
)
def test_every_variant_of_a_listed_address_matches_its_id(address, uppers, before, after, form, punycode, trailing_dot):
    suppression = SuppressionSet.from_records([{"id": 7, "email": address}])
    local, domain = address.split("@")
    if punycode:
        domain = idna.encode(domain, uts46=True).decode("ascii")
    variant = unicodedata.normalize(form, f"{case_mixed(local, uppers)}@{domain}{'.' if trailing_dot else ''}")
    assert suppression.match(before + variant + after) == Listed(7)
    assert before + variant + after in suppression


def test_the_lowest_id_wins_whatever_the_order():
    records = [
        {"id": 9, "email": "A@example.fr"},
        {"id": 3, "email": " a@EXAMPLE.fr"},
        {"id": 5, "email": "a@example.fr"},
    ]
    assert SuppressionSet.from_records(records).match("a@example.fr") == Listed(3)
    assert SuppressionSet.from_records(reversed(records)).match("a@example.fr") == Listed(3)


def test_entries_that_are_not_addresses_are_counted_and_logged_by_id_never_by_address(caplog):
    records = [
        {"id": 1, "email": "ok@example.fr"},
        {"id": 2, "email": "secret-person at example.fr"},
        {"id": 3, "email": None},
        {"id": 4, "email": "other@"},
    ]
    with caplog.at_level(logging.WARNING, logger="airflow_provider_mailpartner.suppression"):
        suppression = SuppressionSet.from_records(records)
    assert len(suppression) == 1
    assert suppression.invalid_ids == [2, 3, 4]
    assert suppression.unmatchable == 3
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "3 unsubscribe entries" in warnings[0]
    assert "[2, 3, 4]" in warnings[0]
    assert "secret-person" not in caplog.text
    assert "other@" not in caplog.text


def test_an_entry_without_a_usable_id_still_lists_its_address():
    suppression = SuppressionSet.from_records(
        [{"id": None, "email": "A@example.fr", "created_at": None, "odd": "id_not_an_integer"}]
    )
    listing = suppression.match(" a@EXAMPLE.fr")
    assert listing == Listed(None)
    assert listing  # true though its id is None: "listed, id unknown" is not "not listed"
    assert "a@example.fr" in suppression
    assert suppression.match("b@example.fr") is None
    assert (suppression.unmatchable, suppression.invalid_ids) == (0, [])


@pytest.mark.parametrize("order", [1, -1])
def test_a_known_id_wins_over_an_unknown_one_whatever_the_order(order):
    records = [
        {"id": None, "email": "a@example.fr"},
        {"id": 8, "email": "A@example.fr"},
        {"id": None, "email": "a@X.fr"},
    ]
    suppression = SuppressionSet.from_records(records[::order])
    assert suppression.match("a@example.fr") == Listed(8)
    assert suppression.match("a@x.fr") == Listed(None)


def test_entries_that_are_not_emails_are_unmatchable_with_or_without_an_id_and_logged_without_them(caplog):
    records = [
        {"id": 1, "email": "ok@example.fr", "created_at": "2026-01-02T10:00:00+01:00"},
        {"id": 2, "email": "+33612345678", "created_at": None, "odd": "not_an_email"},
        {"id": None, "email": "+33698765432", "created_at": None, "odd": "not_an_email"},
        {"id": None, "email": "other@example.fr", "created_at": None, "odd": "id_not_an_integer"},
    ]
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_mailpartner.suppression"):
        suppression = SuppressionSet.from_records(records)
    assert (len(suppression), suppression.unmatchable, suppression.invalid_ids) == (2, 2, [2])
    (warning,) = [record.getMessage() for record in caplog.records]
    assert warning.startswith("2 unsubscribe entries are not e-mail addresses and cannot match any contact")
    assert warning.endswith("[2]")
    assert "+336" not in caplog.text
    assert "@" not in caplog.text


def test_a_record_without_an_integer_id_is_refused():
    with pytest.raises(TypeError, match="an unsubscribe id is an int or None"):
        SuppressionSet.from_records([{"id": "12", "email": "a@example.fr"}])


def test_match_raises_for_invalid_input_while_membership_says_no():
    suppression = SuppressionSet()
    suppression.add("a@example.fr", 1)
    with pytest.raises(InvalidEmailError):
        suppression.match("not an address")
    assert suppression.match("b@example.fr") is None
    assert "not an address" not in suppression
    assert None not in suppression
    with pytest.raises(InvalidEmailError):
        suppression.add("a@example", 2)


def test_update_merges_keeping_the_lowest_id_and_the_invalid_ids():
    brand_a = SuppressionSet.from_records([{"id": 10, "email": "a@example.fr"}, {"id": 11, "email": "bad"}])
    brand_b = SuppressionSet.from_records([{"id": 4, "email": "A@Example.FR"}, {"id": 12, "email": "b@example.fr"}])
    brand_a.update(brand_b)
    assert sorted(brand_a.items()) == [("a@example.fr", 4), ("b@example.fr", 12)]
    assert len(brand_a) == 2
    assert brand_a.invalid_ids == [11]
    assert brand_a.unmatchable == 1
    brand_b.update(SuppressionSet.from_records([{"id": 1, "email": "b@example.fr"}]))
    assert brand_b.match("b@example.fr") == Listed(1)


def test_a_hashed_set_holds_digests_and_matches_every_variant_of_an_address():
    suppression = SuppressionSet(AddressHasher("sha256"))
    suppression.add(" Zoë@Exämple.FR", 4)
    assert list(suppression.items()) == [(hashlib.sha256("zoë@xn--exmple-cua.fr".encode()).hexdigest(), 4)]
    assert suppression.match("ZOE\u0308@xn--exmple-cua.fr") == Listed(4)
    assert "zoe@exemple.fr" not in suppression
    with pytest.raises(InvalidEmailError):
        suppression.match("+33612345678")


def test_sets_keyed_differently_cannot_be_merged():
    with pytest.raises(ValueError, match="cannot merge a set keyed by md5 digests into one keyed by addresses"):
        SuppressionSet().update(SuppressionSet(AddressHasher("md5")))
    with pytest.raises(ValueError, match="keyed by sha256 digests into one keyed by md5 digests"):
        SuppressionSet(AddressHasher("md5")).update(SuppressionSet(AddressHasher("sha256")))


@SETTINGS
@given(
    listed=st.lists(st.one_of(ADDRESS, ASCII_ADDRESS_LIKE), max_size=4), probe=st.one_of(ADDRESS, ASCII_ADDRESS_LIKE)
)
def test_a_hashed_set_lists_exactly_what_the_plain_set_of_the_same_entries_lists(listed, probe):
    plain = SuppressionSet.from_records([{"id": None, "email": email} for email in listed])
    hashed = SuppressionSet(AddressHasher("md5"))
    for email in listed:
        with contextlib.suppress(InvalidEmailError):
            hashed.add(email, None)
    assert len(hashed) == len(plain)
    assert (probe in hashed) == (probe in plain)
    assert all(email in hashed for email in listed if email in plain)


LISTED = [
    {"id": 1, "email": "Zoë@Exämple.FR", "created_at": "2024-03-31T01:59:59+01:00"},
    {"id": 2, "email": "plain@example.com", "created_at": "2024-03-31T03:00:00+02:00"},
    {"id": 3, "email": "not an address", "created_at": "2024-10-27T02:30:00+02:00"},
]


@pytest.mark.parametrize("output_format", ["jsonl", "csv", "json"])
def test_a_set_is_built_from_the_file_a_manifest_describes(tmp_path, output_format):
    manifest = write_records(iter(LISTED), ObjectStoragePath(f"file://{tmp_path}/list.{output_format}"), output_format)
    suppression = SuppressionSet.from_manifest(json.loads(json.dumps(manifest)))  # as it comes back from XCom
    assert sorted(suppression.items()) == [("plain@example.com", 2), ("zoë@xn--exmple-cua.fr", 1)]
    assert suppression.invalid_ids == [3]


def test_a_file_changed_after_its_manifest_fails_closed(tmp_path):
    path = ObjectStoragePath(f"file://{tmp_path}/list.jsonl")
    manifest = write_records(iter(LISTED), path, "jsonl")
    path.write_bytes(path.read_bytes().replace(b'"id":2', b'"id":8'))
    with pytest.raises(RecordFileError, match="SHA-256"):
        SuppressionSet.from_manifest(manifest)


def test_a_manifest_whose_count_differs_from_the_file_fails_closed(tmp_path):
    manifest = write_records(iter(LISTED), ObjectStoragePath(f"file://{tmp_path}/list.csv"), "csv")
    with pytest.raises(RecordFileError, match="holds 3 records, its manifest says 4"):
        SuppressionSet.from_manifest({**manifest, "count": 4})


@pytest.mark.parametrize(
    "manifest",
    [
        {},
        {"path": "file:///x/list.jsonl", "format": "xml", "count": 1, "sha256": "00"},
        {"path": "file:///x/list.jsonl", "format": "jsonl", "count": "1", "sha256": "00"},
        {"path": None, "format": "jsonl", "count": 1, "sha256": "00"},
        {"path": "file:///x/list.jsonl", "format": "jsonl", "count": 1},
    ],
)
def test_what_is_not_a_manifest_is_refused(manifest):
    with pytest.raises(RecordFileError, match="not a record-file manifest"):
        SuppressionSet.from_manifest(manifest)
