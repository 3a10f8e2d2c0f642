"""Reading opt-out addresses from a value or a file, as the add operator does."""

from __future__ import annotations

import pytest

from airflow_provider_mailpartner.opt_out_addresses import (
    address_values,
    addresses_in_file,
    addresses_in_text,
    unique_addresses,
)


def test_unique_addresses_keep_the_first_spelling_and_report_invalid_ones():
    unique, invalid = unique_addresses(["A@x.fr", " a@X.FR ", "b@x.fr", "oops", None, "c d@x.fr"])
    assert unique == ["A@x.fr", "b@x.fr"]
    assert invalid == ["oops", "c d@x.fr"]


def test_a_csv_without_an_address_column_is_refused_naming_its_header_cells():
    with pytest.raises(ValueError, match=r"optouts.csv: no column named like an address .* \['name', 'phone'\]"):
        list(addresses_in_text("name,phone\nAnn,0612345678\n", "optouts.csv"))


def test_files_with_one_address_per_line_are_read_as_such():
    assert list(addresses_in_text("a@x.fr\nb@x.fr")) == ["a@x.fr", "b@x.fr"]
    assert list(addresses_in_text("email\na@x.fr")) == ["a@x.fr"]
    assert list(addresses_in_text("Adresse e-mail\na@x.fr")) == ["a@x.fr"]


@pytest.mark.parametrize(
    ("text", "email_column"),
    [
        ("Id;Prénom;E-mail Address;Ville\n1;Zoé;z@x.fr;Lyon\n2;Léa;l@x.fr;Nice\n", None),
        ("Nom\tCourriel\nZoé\tz@x.fr\nLéa\tl@x.fr\n", None),
        ("nom|adresse mél\nZoé|z@x.fr\nLéa|l@x.fr\n", None),
        ("Nom;Contact pro\nZoé;z@x.fr\nLéa;l@x.fr\n", "contact PRO"),
    ],
    ids=["excel-semicolon", "tab-courriel", "pipe-mel", "named-by-the-user"],
)
def test_the_address_column_is_found_whatever_the_separator_and_its_french_name(text, email_column):
    assert list(addresses_in_text(text, "optouts.csv", email_column)) == ["z@x.fr", "l@x.fr"]


@pytest.mark.parametrize(
    ("emails", "expected"),
    [
        (["a@x.fr", "b@x.fr"], ["a@x.fr", "b@x.fr"]),
        ("['a@x.fr', 'b@x.fr']", ["a@x.fr", "b@x.fr"]),
        ("a@x.fr, b@x.fr;c@x.fr\nd@x.fr", ["a@x.fr", "b@x.fr", "c@x.fr", "d@x.fr"]),
        ("[not a list", ["[not", "a", "list"]),
        (None, []),
    ],
    ids=["list", "rendered-list", "separated-text", "bracket-but-not-a-list", "none"],
)
def test_address_values_read_lists_and_the_text_a_template_renders(emails, expected):
    assert list(address_values(emails)) == expected


def test_a_cp1252_file_is_read_and_an_empty_one_is_refused(tmp_path):
    from airflow.sdk import ObjectStoragePath

    (tmp_path / "optouts.csv").write_bytes("Nom;Adresse e-mail\r\nZoé;zoé@x.fr\r\n".encode("cp1252"))
    assert addresses_in_file(ObjectStoragePath(f"file://{tmp_path}/optouts.csv")) == ["zoé@x.fr"]
    (tmp_path / "empty.csv").write_bytes(b"email\r\n\r\n")
    with pytest.raises(ValueError, match=r"empty\.csv holds no address: an empty file is a mistake"):
        addresses_in_file(ObjectStoragePath(f"file://{tmp_path}/empty.csv"))
