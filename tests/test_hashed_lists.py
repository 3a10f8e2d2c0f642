"""Hashed suppression lists: the common MD5/SHA-256 convention, written whole, read back checked, secrets kept."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_mailpartner.exceptions import MailPartnerConfigError
from airflow_provider_mailpartner.hashed_lists import (
    NORMALIZATION,
    AddressHasher,
    HashedListError,
    HashedListWriter,
    hasher_from_connection,
    load_hashed_list,
    load_hashed_manifest,
    manifest_path,
    write_hashed_list,
)
from airflow_provider_mailpartner.suppression import SuppressionSet, normalize_email, suppress_csv

SECRET = "p@rtner-s3cret/ë+=&"  # characters every encoding of it would spell differently
SECRET_FORMS = (SECRET, SECRET.encode().hex(), base64.b64encode(SECRET.encode()).decode())
CONN_ID = "partner_hmac"
# As the hook gives them now: an unusable id is None, an unreadable date is None, an odd entry says why.
RECORDS = [
    {"id": 1, "email": "  Jean.Dupont@Example.FR ", "created_at": "2026-01-02T10:00:00+01:00"},
    {"id": None, "email": "Zoë@Exämple.fr", "created_at": None, "odd": "id_not_an_integer"},
    {"id": 3, "email": "+33612345678", "created_at": "2026-01-03T10:00:00+01:00", "odd": "not_an_email"},
    {"id": 4, "email": "jean.dupont@example.fr", "created_at": "2026-01-04T10:00:00+01:00"},  # the same key as 1
    {"id": 5, "email": "anne@example.com", "created_at": None, "odd": "date_unreadable"},
]
# Computed here by hand, not by the package: the trimmed, lower-cased address; the IDNA form of the domain.
JEAN = b"jean.dupont@example.fr"
ZOE = "zoë@xn--exmple-cua.fr".encode()
ANNE = b"anne@example.com"


def url(path: Path) -> str:
    return f"file://{path}"


@pytest.fixture
def hmac_connection(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "generic", "password": SECRET}))
    return CONN_ID


def test_ascii_addresses_hash_as_the_md5_and_sha256_of_the_trimmed_lower_cased_address():
    key = normalize_email("  Jean.Dupont@Example.FR ")
    assert AddressHasher("md5").hexdigest(key) == hashlib.md5(b"jean.dupont@example.fr").hexdigest()
    assert AddressHasher("sha256").hexdigest(key) == hashlib.sha256(b"jean.dupont@example.fr").hexdigest()


def test_hmac_sha256_is_the_rfc_2104_hmac_of_the_trimmed_lower_cased_address(hmac_connection):
    hasher = hasher_from_connection("hmac-sha256", hmac_connection)
    expected = hmac.new(SECRET.encode(), b"jean.dupont@example.fr", hashlib.sha256).hexdigest()
    assert hasher.hexdigest(normalize_email("  Jean.Dupont@Example.FR ")) == expected


def test_a_non_ascii_address_is_hashed_as_utf8_with_its_domain_in_idna_form():
    """A partner who hashes the Unicode domain (or the address before NFC or case folding) gets another digest."""
    key = normalize_email("Zoë@Exämple.fr")
    assert key == "zoë@xn--exmple-cua.fr"
    digest = AddressHasher("sha256").hexdigest(key)
    assert digest == hashlib.sha256("zoë@xn--exmple-cua.fr".encode()).hexdigest()
    assert digest != hashlib.sha256("zoë@exämple.fr".encode()).hexdigest()
    assert AddressHasher("sha256").hexdigest(normalize_email("ZOE\u0308@xn--exmple-cua.FR")) == digest


def test_the_file_is_one_digest_per_line_sorted_each_once_without_the_unmatchable(tmp_path):
    manifest = write_hashed_list(RECORDS, url(tmp_path / "list.md5"), AddressHasher("md5"))
    expected = sorted({hashlib.md5(address).hexdigest() for address in (JEAN, ZOE, ANNE)})
    content = (tmp_path / "list.md5").read_bytes()
    assert content == "".join(f"{digest}\n" for digest in expected).encode()
    assert manifest == {
        "path": url(tmp_path / "list.md5"),
        "format": "hashed",
        "algorithm": "md5",
        "normalization": NORMALIZATION,
        "count": 3,
        "unmatchable": 1,
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    assert json.loads((tmp_path / "list.md5.manifest.json").read_text()) == manifest
    assert sorted(path.name for path in tmp_path.iterdir()) == ["list.md5", "list.md5.manifest.json"]


def test_the_writer_counts_hashes_and_never_raises_on_an_entry_that_is_not_an_email(tmp_path):
    with open(tmp_path / "list", "wb") as handle:
        writer = HashedListWriter(handle, AddressHasher("sha256"))
        writer.write(RECORDS[:3])
        writer.write([*RECORDS[3:], {"id": 9, "email": None, "created_at": None}])
        sha256 = writer.close()
    assert (writer.count, writer.unmatchable) == (3, 2)
    assert sha256 == hashlib.sha256((tmp_path / "list").read_bytes()).hexdigest()
    assert (tmp_path / "list").read_text().split() == sorted(
        hashlib.sha256(address).hexdigest() for address in (JEAN, ZOE, ANNE)
    )


def test_an_empty_list_is_an_empty_file_with_its_manifest(tmp_path):
    manifest = write_hashed_list([], url(tmp_path / "list.txt"), AddressHasher("sha256"))
    assert (tmp_path / "list.txt").read_bytes() == b""
    assert (manifest["count"], manifest["sha256"]) == (0, hashlib.sha256(b"").hexdigest())
    assert load_hashed_manifest(manifest).digests == []


def test_a_failed_write_leaves_the_previous_list_and_manifest_and_no_staging_file(tmp_path):
    write_hashed_list(RECORDS, url(tmp_path / "list.txt"), AddressHasher("md5"))
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    def records_then_failure():
        yield RECORDS[0]
        raise ConnectionResetError("the list stopped half way")

    with pytest.raises(ConnectionResetError):
        write_hashed_list(records_then_failure(), url(tmp_path / "list.txt"), AddressHasher("md5"))
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


@pytest.mark.parametrize(("algorithm", "length"), [("md5", 32), ("sha256", 64)])
def test_an_undeclared_list_is_read_as_md5_or_sha256_by_its_digests_length(tmp_path, algorithm, length):
    manifest = write_hashed_list(RECORDS, url(tmp_path / "list.txt"), AddressHasher(algorithm))
    loaded = load_hashed_list(url(tmp_path / "list.txt"))
    assert loaded.hasher == AddressHasher(algorithm)
    assert len(loaded.digests) == manifest["count"] == 3
    assert {len(digest) for digest in loaded.digests} == {length}


def test_a_partners_list_in_upper_case_with_crlf_and_no_final_line_feed_is_read(tmp_path):
    digests = [hashlib.md5(JEAN).hexdigest(), hashlib.md5(ANNE).hexdigest()]
    (tmp_path / "partner.txt").write_bytes("\r\n".join(digests).upper().encode())
    assert load_hashed_list(url(tmp_path / "partner.txt")).digests == digests


@pytest.mark.parametrize(
    ("content", "declared", "match"),
    [
        (b"a" * 32 + b"\nnot hex, but 32 characters long!\n", None, "line 2 is not a digest of 32 hex digits"),
        (b"a" * 32 + b"\n" + b"z" * 32 + b"\n", None, "line 2 is not a digest of 32 hex digits"),
        (b"a" * 32 + b"\n\n", None, "line 2 is not a digest of 32 hex digits"),
        (b"a" * 64 + b"\n" + b"b" * 32 + b"\n", None, "line 2 is not a digest of 64 hex digits"),
        (b"email_md5\n" + b"a" * 32 + b"\n", None, "line 1 is not an MD5"),
        (b"a" * 40 + b"\n", None, r"line 1 is not an MD5 \(32 hex digits\) or SHA-256 \(64\) digest"),
        (b"a" * 64 + b"\n", "md5", "line 1 is not a digest of 32 hex digits"),
        (b"", None, "empty, so its algorithm cannot be told: declare it"),
    ],
)
def test_a_line_that_is_not_a_digest_of_the_right_length_is_refused_by_number(tmp_path, content, declared, match):
    (tmp_path / "list.txt").write_bytes(content)
    with pytest.raises(HashedListError, match=match):
        load_hashed_list(url(tmp_path / "list.txt"), declared)


def test_a_changed_byte_fails_closed(tmp_path):
    manifest = write_hashed_list(RECORDS, url(tmp_path / "list.txt"), AddressHasher("sha256"))
    content = bytearray((tmp_path / "list.txt").read_bytes())
    content[5] = ord("0") if content[5] != ord("0") else ord("1")
    (tmp_path / "list.txt").write_bytes(bytes(content))
    with pytest.raises(HashedListError, match=r"SHA-256 is .*, its manifest says .*: the file changed"):
        load_hashed_manifest(manifest)


def test_a_count_that_differs_from_the_manifest_fails_closed(tmp_path):
    manifest = write_hashed_list(RECORDS, url(tmp_path / "list.txt"), AddressHasher("sha256"))
    with pytest.raises(HashedListError, match="holds 3 digests, its manifest says 4"):
        load_hashed_manifest({**manifest, "count": 4})


def test_the_sidecar_manifest_file_is_read_and_checked_like_the_dict(tmp_path):
    write_hashed_list(RECORDS, url(tmp_path / "list.txt"), AddressHasher("md5"))
    sidecar = manifest_path(ObjectStoragePath(url(tmp_path / "list.txt")))
    assert str(sidecar) == url(tmp_path / "list.txt.manifest.json")
    assert load_hashed_manifest(sidecar).hasher == AddressHasher("md5")
    (tmp_path / "list.txt").write_bytes((tmp_path / "list.txt").read_bytes()[:-33])  # one digest gone
    with pytest.raises(HashedListError, match="SHA-256"):
        load_hashed_manifest(str(sidecar))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"format": "jsonl"}, "not a hashed-list manifest"),
        ({"algorithm": "sha1"}, "not a hashed-list manifest"),
        ({"count": "3"}, "not a hashed-list manifest"),
        ({"normalization": "lower"}, "normalised as 'lower' before hashing"),
    ],
)
def test_a_manifest_of_something_else_is_refused(tmp_path, change, match):
    manifest = write_hashed_list(RECORDS, url(tmp_path / "list.txt"), AddressHasher("md5"))
    with pytest.raises(HashedListError, match=match):
        load_hashed_manifest({**manifest, **change})


def test_a_hasher_of_another_algorithm_than_the_manifest_is_refused(tmp_path):
    manifest = write_hashed_list(RECORDS, url(tmp_path / "list.txt"), AddressHasher("md5"))
    with pytest.raises(HashedListError, match="the manifest says md5, the hasher given is sha256"):
        load_hashed_manifest(manifest, AddressHasher("sha256"))


def test_round_trip_suppresses_exactly_the_listed_contacts_with_an_empty_id(tmp_path):
    manifest = write_hashed_list(RECORDS, url(tmp_path / "list.txt"), AddressHasher("sha256"))
    contacts = (
        "id,email\n1,JEAN.DUPONT@example.fr\n2,zoe@example.fr\n3, zoë@EXÄMPLE.fr\n4,+33612345678\n"
        "5,anne@example.com\n6,anne@example.co\n"
    )
    (tmp_path / "contacts.csv").write_text(contacts)
    suppression = SuppressionSet.from_hashed_manifest(manifest)
    summary = suppress_csv(
        url(tmp_path / "contacts.csv"), suppression, url(tmp_path / "clean.csv"), url(tmp_path / "report.csv")
    )
    assert (tmp_path / "clean.csv").read_text() == "id,email\n2,zoe@example.fr\n6,anne@example.co\n"
    assert (tmp_path / "report.csv").read_text() == (
        "row,email,reason,unsubscribe_id\n1,JEAN.DUPONT@example.fr,unsubscribed,\n"
        "3, zoë@EXÄMPLE.fr,unsubscribed,\n4,+33612345678,invalid_email,\n5,anne@example.com,unsubscribed,\n"
    )
    assert (summary.suppressed, summary.invalid, summary.rows_out) == (3, 1, 2)


def test_a_secret_that_is_not_declared_reads_an_hmac_list_as_sha256_and_matches_nothing(tmp_path, hmac_connection):
    """The documented rule: 64 hex digits undeclared are SHA-256; an HMAC list must be declared."""
    hasher = hasher_from_connection("hmac-sha256", hmac_connection)
    manifest = write_hashed_list(RECORDS, url(tmp_path / "list.txt"), hasher)
    assert SuppressionSet.from_hashed_list(url(tmp_path / "list.txt")).match(RECORDS[0]["email"]) is None
    assert SuppressionSet.from_hashed_list(url(tmp_path / "list.txt"), hasher).match(RECORDS[0]["email"])
    with pytest.raises(ValueError, match="hmac-sha256 needs its secret: build the hasher with hasher_from_connection"):
        load_hashed_manifest(manifest)


def test_the_hmac_secret_appears_in_no_log_error_repr_manifest_or_file(tmp_path, hmac_connection, caplog, monkeypatch):
    masked: list[str] = []
    monkeypatch.setattr("airflow.sdk.log.mask_secret", masked.append)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        hasher = hasher_from_connection("hmac-sha256", hmac_connection)
        manifest = write_hashed_list(RECORDS, url(tmp_path / "list.txt"), hasher)
        suppression = SuppressionSet.from_hashed_manifest(manifest, hasher)
        (tmp_path / "list.txt").write_bytes(b"x" + (tmp_path / "list.txt").read_bytes()[1:])
        for call, match in (
            (lambda: load_hashed_manifest(manifest, hasher), "line 1 is not a digest"),
            (lambda: load_hashed_manifest(manifest), "hmac-sha256 needs its secret"),
            (lambda: load_hashed_manifest(manifest, AddressHasher("sha256")), "the hasher given is sha256"),
            (lambda: SuppressionSet().update(suppression), "cannot merge a set keyed by hmac-sha256 digests"),
            (lambda: AddressHasher("md5", hasher.secret), "md5 takes no secret"),
        ):
            with pytest.raises(ValueError, match=match) as error:
                call()
            texts += [str(error.value), repr(error.value), repr(error.value.__cause__), repr(error.value.__context__)]
    assert set(SECRET_FORMS) <= set(masked)
    texts += [repr(hasher), str(hasher), repr(suppression.hasher), json.dumps(manifest), caplog.text]
    texts += [record.getMessage() for record in caplog.records]
    files = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert "AddressHasher('hmac-sha256', secret=<hidden>)" in texts
    for form in SECRET_FORMS:
        assert not any(form in text for text in texts), form
        assert form.encode() not in files, form
    assert SECRET.encode() not in files


def test_a_missing_connection_or_an_empty_password_is_a_config_error_naming_the_connection(monkeypatch):
    with pytest.raises(MailPartnerConfigError, match="Connection 'nowhere_hmac' is not defined") as error:
        hasher_from_connection("hmac-sha256", "nowhere_hmac")
    assert error.value.conn_id == "nowhere_hmac"
    monkeypatch.setenv("AIRFLOW_CONN_EMPTY_HMAC", json.dumps({"conn_type": "generic", "password": ""}))
    with pytest.raises(MailPartnerConfigError, match="Connection 'empty_hmac' has no password: the HMAC secret"):
        hasher_from_connection("hmac-sha256", "empty_hmac")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: AddressHasher("hmac-sha256"), "hmac-sha256 needs its secret"),
        (lambda: AddressHasher("md5", b"k"), "md5 takes no secret"),
        (lambda: AddressHasher("sha1"), r"one of \('md5', 'sha256', 'hmac-sha256'\), not 'sha1'"),
        (lambda: hasher_from_connection("sha256", "partner_hmac"), "a connection id is only for hmac-sha256"),
        (lambda: hasher_from_connection("hmac-sha256"), "needs the id of the connection"),
    ],
)
def test_a_hasher_is_refused_unless_its_secret_fits_its_algorithm(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_md5_and_sha256_need_no_connection():
    assert hasher_from_connection("md5") == AddressHasher("md5")
    assert repr(hasher_from_connection("sha256")) == "AddressHasher('sha256')"


def test_addresses_never_reach_the_log(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        manifest = write_hashed_list(RECORDS, url(tmp_path / "list.txt"), AddressHasher("md5"))
        SuppressionSet.from_hashed_manifest(manifest)
    assert any("3 digests" in record.getMessage() for record in caplog.records)
    assert "@" not in caplog.text
    assert "+3361" not in caplog.text


def test_the_writer_writes_nothing_before_close(tmp_path):
    """The digests are sorted at close: nothing written before could follow the list's order."""
    with open(tmp_path / "list", "wb") as handle:
        writer = HashedListWriter(handle, AddressHasher("md5"))
        writer.write(RECORDS)
        handle.flush()
        assert (tmp_path / "list").read_bytes() == b""
        with pytest.raises(RuntimeError, match="known once the writer is closed"):
            writer.manifest(url(tmp_path / "list"))
        writer.close()
    assert len((tmp_path / "list").read_bytes()) == 3 * 33
