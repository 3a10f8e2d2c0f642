"""suppress_csv: the clean file is the contact file minus the listed rows, byte for byte, published atomically."""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_mailpartner import suppression as suppression_module
from airflow_provider_mailpartner.hashed_lists import AddressHasher, write_hashed_list
from airflow_provider_mailpartner.suppression import (
    ContactFileError,
    InvalidEmailError,
    SuppressionSet,
    suppress_csv,
)

LISTED_RECORDS = [
    {"id": 11, "email": "listed@example.com"},
    {"id": 12, "email": "zoë@exämple.fr"},
    {"id": 13, "email": "erin@example.org"},
]
LISTED = SuppressionSet.from_records(LISTED_RECORDS)

# BOM, CRLF, a header to find " Email " in, quoted commas and quotes, a field spanning two lines,
# extra columns, needless quotes, a short row, an empty, an invalid and a non-ASCII address.
CONTACTS = (
    "\ufeffContact_ID, Email ,name,notes\r\n"
    '1,ann@example.com,Ann,"likes ""quotes"", commas"\r\n'
    "2, ZOË@xn--exmple-cua.fr ,Zoë,\r\n"
    '3,bob@example.com,Bob,"two\r\nlines"\r\n'
    "4,Listed@Example.COM,Lis,extra,columns,here\r\n"
    "5\r\n"
    "6,,Empty,\r\n"
    '7,"carol, not an address",Carol,\r\n'
    '8,"dave@example.com","Dave","Paris"\r\n'
    "9,jürgen@bücher.example,Jürgen,\r\n"
    "10,\tERIN@example.org,Erin,\r\n"
)
CLEAN = (
    "\ufeffContact_ID, Email ,name,notes\r\n"
    '1,ann@example.com,Ann,"likes ""quotes"", commas"\r\n'
    '3,bob@example.com,Bob,"two\r\nlines"\r\n'
    '8,"dave@example.com","Dave","Paris"\r\n'
    "9,jürgen@bücher.example,Jürgen,\r\n"
)
REPORT = (
    "row,email,reason,unsubscribe_id\n"
    "2, ZOË@xn--exmple-cua.fr ,unsubscribed,12\n"
    "4,Listed@Example.COM,unsubscribed,11\n"
    "5,,invalid_email,\n"
    "6,,invalid_email,\n"
    '7,"carol, not an address",invalid_email,\n'
    "10,\tERIN@example.org,unsubscribed,13\n"
)
REPORT_LIKE_CONTACTS = "\ufeff" + REPORT.replace("\n", "\r\n")  # the input's BOM and CRLF, so Excel opens both alike


def url(path: Path) -> str:
    return f"file://{path}"


def files_in(*folders: Path) -> dict[str, bytes]:
    """Every file in the folders, hidden ones included, with its bytes."""
    return {str(path): path.read_bytes() for folder in folders for path in sorted(folder.rglob("*")) if path.is_file()}


def test_the_clean_file_is_the_input_without_listed_or_invalid_rows_byte_for_byte(tmp_path):
    (tmp_path / "contacts.csv").write_bytes(CONTACTS.encode())
    summary = suppress_csv(
        url(tmp_path / "contacts.csv"), LISTED, url(tmp_path / "out/clean.csv"), url(tmp_path / "out/report.csv")
    )
    assert (tmp_path / "out/clean.csv").read_bytes() == CLEAN.encode()
    assert (tmp_path / "out/report.csv").read_bytes() == REPORT_LIKE_CONTACTS.encode()
    assert summary.as_dict() == {
        "rows_in": 10,
        "rows_out": 4,
        "suppressed": 3,
        "invalid": 3,
        "clean_path": url(tmp_path / "out/clean.csv"),
        "report_path": url(tmp_path / "out/report.csv"),
        "seconds": summary.seconds,
    }
    json.dumps(summary.as_dict())
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["clean.csv", "report.csv"]


def test_lineage_never_names_a_hidden_staging_file(tmp_path, hook_lineage):
    (tmp_path / "contacts.csv").write_bytes(CONTACTS.encode())
    clean, report = url(tmp_path / "out/clean.csv"), url(tmp_path / "out/report.csv")
    suppress_csv(url(tmp_path / "contacts.csv"), LISTED, clean, report)
    assets = hook_lineage.collected_assets
    assert sorted(asset.asset.uri for asset in assets.outputs) == [clean, report]
    assert [asset.asset.uri for asset in assets.inputs] == [url(tmp_path / "contacts.csv")]


def test_line_feeds_another_column_name_and_delimiter_are_kept(tmp_path):
    contacts = "id;Courriel;ville\n1;a@example.fr;Lyon\n2;LISTED@example.com;Nice\n3;b@example.fr;Paris, France\n"
    (tmp_path / "contacts.csv").write_text(contacts)
    summary = suppress_csv(
        ObjectStoragePath(url(tmp_path / "contacts.csv")),
        LISTED,
        ObjectStoragePath(url(tmp_path / "clean.csv")),
        url(tmp_path / "report.csv"),
        email_column="COURRIEL",
        delimiter=";",
    )
    assert (
        tmp_path / "clean.csv"
    ).read_text() == "id;Courriel;ville\n1;a@example.fr;Lyon\n3;b@example.fr;Paris, France\n"
    assert (
        tmp_path / "report.csv"
    ).read_text() == "row;email;reason;unsubscribe_id\n2;LISTED@example.com;unsubscribed;11\n"
    assert (summary.rows_in, summary.rows_out, summary.suppressed, summary.invalid) == (3, 2, 1, 0)


def test_a_file_with_only_its_header_gives_a_header_only_clean_file_and_report(tmp_path):
    (tmp_path / "contacts.csv").write_text("email,name\n")
    summary = suppress_csv(url(tmp_path / "contacts.csv"), LISTED, url(tmp_path / "c.csv"), url(tmp_path / "r.csv"))
    assert (tmp_path / "c.csv").read_text() == "email,name\n"
    assert (tmp_path / "r.csv").read_text() == "row,email,reason,unsubscribe_id\n"
    assert (summary.rows_in, summary.rows_out) == (0, 0)


def generated_contacts(rng: random.Random, rows: int) -> tuple[str, list[str]]:
    """A header and ``rows`` contact rows of every kind, each row's text as the writer wrote it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    texts = []
    for number in range(rows):
        kind = rng.randrange(10)
        if kind == 0:
            email = rng.choice(
                [" listed@example.com", "LISTED@EXAMPLE.COM\t", "erin@Example.org", "erin@example.org\n"]
            )
        elif kind == 1:
            email = rng.choice(
                ["ZOË@xn--exmple-cua.fr", unicodedata.normalize("NFD", "zoë@exämple.fr"), "x@exämple.fr"]
            )
        elif kind == 2:
            email = rng.choice(["", "n/a", f"contact{number} at example.com", f"<c{number}@example.com>", "a@b"])
        else:
            email = f"person.{number}@{rng.choice(['example.com', 'mail.example.fr', 'ex-ample.net'])}"
        notes = rng.choice(["", "vip", "two\nlines", 'said "hi", left'])
        row = [str(number), email, notes] if rng.random() > 0.01 else [str(number)]
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        texts.append(buffer.getvalue())
    return "id,email,notes\n", texts


@pytest.mark.parametrize("block_rows", [7, suppression_module._BLOCK_ROWS])
def test_a_generated_file_is_suppressed_as_row_by_row_normalisation_says_across_blocks(
    tmp_path, monkeypatch, block_rows
):
    monkeypatch.setattr(suppression_module, "_BLOCK_ROWS", block_rows)
    header, texts = generated_contacts(random.Random(4), 2345)
    (tmp_path / "contacts.csv").write_text(header + "".join(texts))
    expected_clean, expected_report = [header], [["row", "email", "reason", "unsubscribe_id"]]
    for number, row in enumerate(csv.reader(texts), 1):
        email = row[1] if len(row) > 1 else ""
        try:
            listing = LISTED.match(email)
        except InvalidEmailError:
            expected_report.append([str(number), email, "invalid_email", ""])
            continue
        if listing is None:
            expected_clean.append(texts[number - 1])
        else:
            expected_report.append([str(number), email, "unsubscribed", str(listing.unsubscribe_id)])
    summary = suppress_csv(url(tmp_path / "contacts.csv"), LISTED, url(tmp_path / "c.csv"), url(tmp_path / "r.csv"))
    assert (tmp_path / "c.csv").read_text() == "".join(expected_clean)
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as report:
        assert list(csv.reader(report)) == expected_report
    assert summary.rows_out == len(expected_clean) - 1
    assert summary.suppressed + summary.invalid == len(expected_report) - 1
    assert summary.suppressed > 0
    assert summary.invalid > 0


def report_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as report:
        return list(csv.reader(report))


@pytest.mark.parametrize("algorithm", ["md5", "sha256", "hmac-sha256"])
def test_a_hashed_list_leaves_out_the_rows_the_plain_list_does_with_empty_ids(tmp_path, monkeypatch, caplog, algorithm):
    monkeypatch.setattr(suppression_module, "_BLOCK_ROWS", 7)
    header, texts = generated_contacts(random.Random(5), 2345)
    (tmp_path / "contacts.csv").write_text(header + "".join(texts))
    hasher = AddressHasher(algorithm, b"a shared key" if algorithm == "hmac-sha256" else None)
    manifest = write_hashed_list(LISTED_RECORDS, url(tmp_path / "list.txt"), hasher)
    with caplog.at_level(logging.INFO, logger="airflow_provider_mailpartner.suppression"):
        hashed = suppress_csv(
            url(tmp_path / "contacts.csv"),
            SuppressionSet.from_hashed_manifest(manifest, hasher),
            url(tmp_path / "hashed-clean.csv"),
            url(tmp_path / "hashed-report.csv"),
        )
    plain = suppress_csv(url(tmp_path / "contacts.csv"), LISTED, url(tmp_path / "c.csv"), url(tmp_path / "r.csv"))
    assert (tmp_path / "hashed-clean.csv").read_bytes() == (tmp_path / "c.csv").read_bytes()
    unknown_ids = [[*row[:3], ""] if row[2] == "unsubscribed" else row for row in report_rows(tmp_path / "r.csv")]
    assert report_rows(tmp_path / "hashed-report.csv") == unknown_ids
    assert (hashed.rows_out, hashed.suppressed, hashed.invalid) == (plain.rows_out, plain.suppressed, plain.invalid)
    assert hashed.suppressed > 0
    assert "@" not in caplog.text


def test_an_entry_whose_id_is_unknown_is_suppressed_and_reported_with_an_empty_id(tmp_path):
    listed = SuppressionSet.from_records(
        [
            {"id": None, "email": "ann@example.com", "created_at": None, "odd": "id_not_an_integer"},
            {"id": None, "email": "zoë@exämple.fr", "created_at": None, "odd": "id_not_an_integer"},
            {"id": 14, "email": "+33612345678", "created_at": None, "odd": "not_an_email"},
        ]
    )
    (tmp_path / "contacts.csv").write_text(
        "email\nAnn@Example.com\nbob@example.com\n ZOË@xn--exmple-cua.fr\n+33612345678\n"
    )
    summary = suppress_csv(url(tmp_path / "contacts.csv"), listed, url(tmp_path / "c.csv"), url(tmp_path / "r.csv"))
    assert (tmp_path / "c.csv").read_text() == "email\nbob@example.com\n"
    assert (tmp_path / "r.csv").read_text() == (
        "row,email,reason,unsubscribe_id\n1,Ann@Example.com,unsubscribed,\n3, ZOË@xn--exmple-cua.fr,unsubscribed,\n"
        "4,+33612345678,invalid_email,\n"
    )
    assert (summary.suppressed, summary.invalid) == (2, 1)


def test_the_counts_are_logged_at_info_without_any_address(tmp_path, caplog):
    (tmp_path / "contacts.csv").write_bytes(CONTACTS.encode())
    with caplog.at_level(logging.INFO, logger="airflow_provider_mailpartner.suppression"):
        suppress_csv(url(tmp_path / "contacts.csv"), LISTED, url(tmp_path / "c.csv"), url(tmp_path / "r.csv"))
    (message,) = [record.getMessage() for record in caplog.records]
    assert re.fullmatch(
        r"Suppression: 10 contacts in \(utf-8-sig, separator ','\), 4 out, 3 unsubscribed, 3 invalid addresses, "
        r"in [0-9.]+ s",
        message,
    )
    assert "@" not in caplog.text


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """A folder holding the previous run's clean file and report."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out/clean.csv").write_text("email\nold@example.com\n")
    (tmp_path / "out/report.csv").write_text("row,email,reason,unsubscribe_id\n")
    return tmp_path / "out"


def assert_fails_leaving_previous_outputs(tmp_path, contacts, error, match, clean=None, report=None):
    folders = [tmp_path / "out", tmp_path / "elsewhere"]
    before = files_in(*folders)
    with pytest.raises(error, match=match):
        suppress_csv(
            url(contacts),
            LISTED,
            url(clean or tmp_path / "out/clean.csv"),
            url(report or tmp_path / "out/report.csv"),
        )
    assert files_in(*folders) == before


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"id,phone\n1,0612345678\n", r"no column named like an address \(email, .*\) in the header \['id', 'phone'\]"),
        (b"email,E-mail \n1,2\n", "2 columns named like an address .*; give email_column= to choose"),
        (b"", "the file is empty"),
        (b'"id,email\n' + b"x" * 200_000 + b"\n", "the header row is unreadable: field larger"),
        (b"\x81email\n", r"byte 0x81 in its first bytes is not cp1252"),  # not UTF-8, and a byte cp1252 lacks
    ],
)
def test_a_file_without_a_usable_header_writes_nothing(tmp_path, published, content, match):
    (tmp_path / "contacts.csv").write_bytes(content)
    assert_fails_leaving_previous_outputs(tmp_path, tmp_path / "contacts.csv", ContactFileError, match)


def test_bytes_that_are_not_utf8_deep_in_the_file_fail_the_run_and_publish_nothing(tmp_path, published):
    rows = b"".join(b"%d,person%d@example.com\n" % (number, number) for number in range(3000))
    (tmp_path / "contacts.csv").write_bytes(b"id,email\n" + rows + b"3000,caf\xe9@example.com\n" + rows)
    assert_fails_leaving_previous_outputs(
        tmp_path,
        tmp_path / "contacts.csv",
        ContactFileError,
        r"byte 0xe9 after data row \d+ is not utf-8, though the file's start was read as utf-8\. "
        r".*encoding= \(cp1252\?\)",
    )


def test_an_unterminated_quote_that_swallows_the_rest_of_the_file_fails_the_run(tmp_path, published):
    rows = "".join(f"{number},person{number}@example.com,a note\n" for number in range(10_000))
    (tmp_path / "contacts.csv").write_text('id,email,notes\n1,a@example.com,"never closed\n' + rows)
    assert_fails_leaving_previous_outputs(tmp_path, tmp_path / "contacts.csv", ContactFileError, "field larger")


def test_a_clean_path_under_a_file_fails_before_anything_is_written(tmp_path, published):
    (tmp_path / "contacts.csv").write_bytes(CONTACTS.encode())
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/not-a-folder").write_text("x")
    assert_fails_leaving_previous_outputs(
        tmp_path, tmp_path / "contacts.csv", OSError, None, clean=tmp_path / "elsewhere/not-a-folder/clean.csv"
    )


def test_a_report_path_that_is_a_folder_is_refused(tmp_path, published):
    (tmp_path / "contacts.csv").write_bytes(CONTACTS.encode())
    (tmp_path / "elsewhere/report.csv").mkdir(parents=True)
    assert_fails_leaving_previous_outputs(
        tmp_path, tmp_path / "contacts.csv", IsADirectoryError, "is a folder", report=tmp_path / "elsewhere/report.csv"
    )


def test_one_path_for_both_outputs_is_refused(tmp_path, published):
    (tmp_path / "contacts.csv").write_bytes(CONTACTS.encode())
    same = tmp_path / "out/clean.csv"
    assert_fails_leaving_previous_outputs(
        tmp_path, tmp_path / "contacts.csv", ValueError, "are the same file", clean=same, report=same
    )


def test_staging_files_a_run_killed_long_ago_left_behind_are_removed(tmp_path, published):
    from airflow_provider_mailpartner.storage import STALE_STAGING_AGE, staging_path

    (tmp_path / "contacts.csv").write_bytes(CONTACTS.encode())
    long_ago = datetime.now(UTC) - STALE_STAGING_AGE - timedelta(hours=1)
    for name in ("clean.csv", "report.csv"):
        staging_path(ObjectStoragePath(url(published / name)), long_ago).write_text("half a file")
    other = staging_path(ObjectStoragePath(url(published / "other.csv")), long_ago)
    other.write_text("another target's: not ours to remove")
    suppress_csv(url(tmp_path / "contacts.csv"), LISTED, url(published / "clean.csv"), url(published / "report.csv"))
    assert sorted(path.name for path in published.iterdir()) == [other.name, "clean.csv", "report.csv"]
    assert (published / "clean.csv").read_bytes() == CLEAN.encode()


def test_the_contact_file_itself_can_be_replaced_by_its_clean_copy(tmp_path):
    (tmp_path / "contacts.csv").write_bytes(CONTACTS.encode())
    suppress_csv(url(tmp_path / "contacts.csv"), LISTED, url(tmp_path / "contacts.csv"), url(tmp_path / "report.csv"))
    assert (tmp_path / "contacts.csv").read_bytes() == CLEAN.encode()


def test_a_missing_contact_file_fails_naming_it_and_publishes_nothing(tmp_path, published):
    assert_fails_leaving_previous_outputs(tmp_path, tmp_path / "nowhere.csv", ContactFileError, "no such contact file")
