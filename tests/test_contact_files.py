"""Contact files as spreadsheets write them: every encoding, separator and line ending, round trips byte for byte."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pytest

from airflow_provider_mailpartner.contact_files import (
    ContactFileError,
    detect_delimiter,
    detect_encoding,
    find_email_column,
    sniff_dialect,
)
from airflow_provider_mailpartner.suppression import SuppressionSet, suppress_csv

LISTED = SuppressionSet.from_records(
    [{"id": 21, "email": "zoe.lefevre@exemple.fr"}, {"id": 22, "email": "jean-francois@orange.fr"}]
)
HEADERS = ("Adresse e-mail", "E-mail Address", "Courriel", "email")
# Rows as a French CRM exports them: accents in other columns, separators, quotes and a line break
# inside quoted fields, listed addresses in another case, an invalid one.
ROWS = [
    ("1", "Zoé", "Lefèvre", "ZOE.LEFEVRE@exemple.fr", "Lyon; 2e", "aime « les promos »"),
    ("2", "Léa", "Müller", "lea.muller@free.fr", "Nice", 'dit "non merci"'),
    ("3", "Jean-François", "Dœuf", " Jean-Francois@Orange.fr ", "Paris, France", "deux\r\nlignes"),
    ("4", "Chloé", "Gérard", "chloe@exemple", "Montréal|QC", ""),
    ("5", "Noël", "Ça", "noel.ca@wanadoo.fr", "Besançon", "€ 12,50"),
]
KEPT = ("2", "5")


def csv_line(row: tuple[str, ...], delimiter: str, terminator: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=terminator).writerow(row)
    return buffer.getvalue()


def export(header_name: str, delimiter: str, terminator: str) -> tuple[str, dict[str, str]]:
    """The file's text and each row's text, quoted as Excel quotes (as Python's csv module does)."""
    header = csv_line(("N°", "Prénom", "Nom", header_name, "Ville", "Remarque"), delimiter, terminator)
    rows = {row[0]: csv_line(row, delimiter, terminator) for row in ROWS}
    return header + "".join(rows.values()), {"header": header, **rows}


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8", "utf-8-sig"])
@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"], ids=["semicolon", "comma", "tab", "pipe"])
@pytest.mark.parametrize("terminator", ["\r\n", "\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("header_name", HEADERS)
def test_every_excel_dialect_is_read_without_options_and_kept_byte_for_byte(
    tmp_path: Path, encoding: str, delimiter: str, terminator: str, header_name: str
) -> None:
    text, parts = export(header_name, delimiter, terminator)
    (tmp_path / "contacts.csv").write_bytes(text.encode(encoding))

    summary = suppress_csv(
        f"file://{tmp_path}/contacts.csv", LISTED, f"file://{tmp_path}/clean.csv", f"file://{tmp_path}/report.csv"
    )

    clean = parts["header"] + "".join(parts[number] for number in KEPT)
    assert (tmp_path / "clean.csv").read_bytes() == clean.encode(encoding)
    report = [
        ("row", "email", "reason", "unsubscribe_id"),
        ("1", "ZOE.LEFEVRE@exemple.fr", "unsubscribed", "21"),
        ("3", " Jean-Francois@Orange.fr ", "unsubscribed", "22"),
        ("4", "chloe@exemple", "invalid_email", ""),
    ]
    expected_report = "".join(csv_line(row, delimiter, terminator) for row in report)
    assert (tmp_path / "report.csv").read_bytes() == expected_report.encode(encoding)
    assert (summary.rows_in, summary.rows_out, summary.suppressed, summary.invalid) == (5, 2, 2, 1)


def test_a_cp1252_file_is_read_as_such_with_a_warning_saying_how_to_choose_otherwise(caplog):
    with caplog.at_level(logging.WARNING, logger="airflow_provider_mailpartner.contact_files"):
        assert detect_encoding("Prénom;Adresse e-mail\r\n".encode("cp1252"), "contacts.csv") == "cp1252"
    (message,) = [record.getMessage() for record in caplog.records]
    assert message.startswith("contacts.csv is not UTF-8 (byte 0xe9 at offset 2): reading it as cp1252")
    assert "give encoding= (one of utf-8, utf-8-sig, cp1252)" in message


def test_utf8_cut_in_the_middle_of_a_character_at_the_end_of_the_head_is_still_utf8():
    head = ("a" * 10 + "é").encode()[:-1]  # the sniffed bytes end half-way through "é"
    assert detect_encoding(head, "x") == "utf-8"


def test_a_bom_means_utf8_and_the_dialect_is_the_files():
    dialect = sniff_dialect("\ufeffN°;E-mail\r\n1;a@x.fr\r\n".encode("utf-8-sig"), "x")
    assert (dialect.encoding, dialect.delimiter, dialect.line_terminator, dialect.text_encoding) == (
        "utf-8-sig",
        ";",
        "\r\n",
        "utf-8",
    )


def test_given_options_win_and_bad_ones_are_refused():
    dialect = sniff_dialect(b"a;b,c\n", "x", encoding="cp1252", delimiter=",")
    assert (dialect.encoding, dialect.delimiter) == ("cp1252", ",")
    with pytest.raises(ValueError, match="encoding must be one of"):
        sniff_dialect(b"", "x", encoding="latin-1")
    with pytest.raises(ValueError, match="delimiter must be one character"):
        sniff_dialect(b"", "x", delimiter=";;")


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [("a,b;c;d", ";"), ("a\tb\tc", "\t"), ("a|b", "|"), ('"Nom; prénom",email', ","), ("email", ",")],
)
def test_the_separator_is_the_one_that_splits_the_header_into_most_cells(header, delimiter):
    assert detect_delimiter(header) == delimiter


@pytest.mark.parametrize(
    "name", ["email", "E-mail", " EMAIL ", "Mail", "E-mail Address", "Adresse e-mail", "adresse_mél", "Courriel", "Mél"]
)
def test_address_columns_are_found_by_their_usual_names(name):
    assert find_email_column(["N°", "Nom", name], "x") == 2


def test_no_or_several_address_columns_fail_listing_the_header():
    with pytest.raises(ContactFileError, match=r"x: no column named like an address .* \['Nom', 'Téléphone'\]$"):
        find_email_column(["Nom", "Téléphone"], "x")
    with pytest.raises(ContactFileError, match=r"2 columns named like an address .*give email_column= to choose"):
        find_email_column(["Email", "Courriel"], "x")
    assert find_email_column(["Email", "Courriel"], "x", email_column="COURRIEL") == 1
    with pytest.raises(ContactFileError, match=r"no column named 'Mail pro' in the header"):
        find_email_column(["Email"], "x", email_column="Mail pro")


def test_a_cp1252_byte_deep_in_a_file_whose_start_is_utf8_fails_and_publishes_nothing(tmp_path: Path) -> None:
    rows = "".join(f"{n};client{n}@exemple.fr;Paris\r\n" for n in range(4000)).encode()
    late = "4000;zoe@exemple.fr;Besançon\r\n".encode("cp1252")
    (tmp_path / "contacts.csv").write_bytes(b"N;Adresse e-mail;Ville\r\n" + rows + late)
    with pytest.raises(ContactFileError, match=r"byte 0xe7 after data row \d+ is not utf-8.*encoding= \(cp1252\?\)"):
        suppress_csv(
            f"file://{tmp_path}/contacts.csv", LISTED, f"file://{tmp_path}/out/c.csv", f"file://{tmp_path}/out/r.csv"
        )
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    suppress_csv(  # told the encoding, it reads on
        f"file://{tmp_path}/contacts.csv",
        LISTED,
        f"file://{tmp_path}/out/c.csv",
        f"file://{tmp_path}/out/r.csv",
        encoding="cp1252",
    )
    assert (tmp_path / "out/c.csv").read_bytes() == (tmp_path / "contacts.csv").read_bytes()


@pytest.mark.parametrize(
    ("source", "output_encoding", "expected"),
    [
        ("cp1252", "utf-8", "utf-8"),  # a French Excel export for a tool that reads UTF-8
        ("cp1252", "utf-8-sig", "utf-8-sig"),  # ... or for Excel again, in "CSV UTF-8"
        ("utf-8-sig", "cp1252", "cp1252"),  # the BOM goes: cp1252 has none
        ("utf-8", None, "utf-8"),
    ],
)
def test_the_outputs_are_written_in_another_encoding_when_asked(tmp_path, source, output_encoding, expected):
    text, parts = export("Adresse e-mail", ";", "\r\n")
    (tmp_path / "contacts.csv").write_bytes(text.encode(source))

    suppress_csv(
        f"file://{tmp_path}/contacts.csv",
        LISTED,
        f"file://{tmp_path}/clean.csv",
        f"file://{tmp_path}/report.csv",
        output_encoding=output_encoding,
    )

    clean = parts["header"] + "".join(parts[number] for number in KEPT)
    assert (tmp_path / "clean.csv").read_bytes() == clean.encode(expected)
    assert (tmp_path / "report.csv").read_bytes().startswith("row;email;reason;unsubscribe_id\r\n".encode(expected))


def test_a_character_the_output_encoding_cannot_hold_fails_and_publishes_nothing(tmp_path):
    (tmp_path / "contacts.csv").write_text("email;ville\nanne@example.fr;Kraków 🌍\n", encoding="utf-8")
    with pytest.raises(ContactFileError, match=r"holds '🌍' \(U\+1F30D\), which cp1252 cannot hold: choose output_enc"):
        suppress_csv(
            f"file://{tmp_path}/contacts.csv",
            LISTED,
            f"file://{tmp_path}/out/clean.csv",
            f"file://{tmp_path}/out/report.csv",
            output_encoding="cp1252",
        )
    assert list((tmp_path / "out").iterdir()) == []
