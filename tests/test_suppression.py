from __future__ import annotations

import pytest

from airflow_provider_mailpartner.suppression import InvalidEmailError, normalize_email


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (" Zoë@Exämple.FR ", "zoë@xn--exmple-cua.fr"),
        ("zoë@xn--exmple-cua.fr", "zoë@xn--exmple-cua.fr"),
        ("Zoe\u0308@example.fr", "zoë@example.fr"),  # NFD spelling of the same address
        ("Straße@Example.com", "strasse@example.com"),
        ("a@b.c.", "a@b.c"),
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
    ],
)
def test_what_is_not_an_address_is_reported(text):
    with pytest.raises(InvalidEmailError):
        normalize_email(text)
