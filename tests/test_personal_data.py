"""What logs and errors may show of an address: masked forms that keep no more than three characters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_mailpartner.personal_data import mask_address, mask_addresses, masked_list


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("jean.dupont@exemple.fr", "j***@e***.fr"),
        ("  Zoë@Exämple.FR ", "Z***@E***.FR"),
        ("paul@localhost", "p***@l***"),
        ("+33612345678", "+***"),
        ("", "***"),
    ],
)
def test_an_address_keeps_its_first_characters_and_top_level_domain(value, masked):
    assert mask_address(value) == masked


def test_addresses_inside_a_text_are_masked_and_the_rest_kept():
    text = "entry 3: 'anne.martin@gmail.com' refused; body starts '{\"email\":\"bob@orange.fr\"}'"
    assert mask_addresses(text) == "entry 3: 'a***@g***.com' refused; body starts '{\"email\":\"b***@o***.fr\"}'"


def test_a_long_list_is_cut_and_says_how_many_more():
    assert (
        masked_list([f"user{n}@example.fr" for n in range(25)], limit=2) == "'u***@e***.fr', 'u***@e***.fr' and 23 more"
    )


# Printable, no white space, none of the characters that end an address in a text.
local = st.text(
    st.characters(whitelist_categories=("L", "N", "P", "S"), blacklist_characters="@\"'<>()[]{},;:="),
    min_size=2,
    max_size=20,
)


@given(local, local, st.sampled_from(["fr", "com", "org"]))
def test_no_more_of_an_address_than_two_characters_and_its_top_level_domain_is_left(user, domain, top):
    address = f"{user}@{domain}.{top}"
    masked = mask_addresses(f"failed: {address} (HTTP 503)")
    assert user not in masked
    assert f"{domain}.{top}" not in masked


def test_no_subscriber_address_reaches_an_error_or_a_log_line_when_a_list_is_refused(sandbox, make_hook, caplog):
    """The personal-data audit of the list: answers refused for every reason that quotes them."""
    import json
    import logging
    import traceback

    from airflow_provider_mailpartner.exceptions import MailPartnerError
    from airflow_provider_mailpartner.testing import Fault

    sandbox.backend.generate(30, seed=3)
    entries = sandbox.backend.entries()
    addresses = [entry["email"] for entry in entries]
    data = [{"id": e["id"], "email": e["email"], "createdAt": e["createdAt"]} for e in entries]
    refusals = [
        json.dumps({"success": True, "code": 200, "nbData": 31, "data": data}),  # nbData: body excerpt
        json.dumps({"success": True, "code": 200, "nbData": 30, "data": data})[:-40],  # cut: invalid JSON
        json.dumps({"success": True, "code": 200, "nbData": 1, "data": [{"id": 1, "email": addresses[0]}]}),
        json.dumps({"success": False, "code": 9, "message": f"invalid email {addresses[1]}"}),
        json.dumps({"success": True, "code": 200, "nbData": 2, "data": [data[0], {**data[0], "id": "x"}]}),
    ]
    texts = []
    hook = make_hook(max_retries=0)
    with caplog.at_level(logging.DEBUG):
        for body in refusals:
            sandbox.faults.script(Fault.raw(body), command="unsubscribe/list")
            with pytest.raises(MailPartnerError) as caught:
                hook.get_unsubscribes()
            texts += ["".join(traceback.format_exception(caught.value)), repr(caught.value)]
    everything = "\n".join([*texts, caplog.text]).lower()
    assert "***@" in everything  # the masked forms are there, in place of the addresses
    assert [address for address in addresses if address.lower() in everything] == []
