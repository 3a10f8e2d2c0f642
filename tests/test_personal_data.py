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


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            '{"id":1,"email":"+33612345678","createdAt":"2015-07-20 10:19:45"}',
            '{"id":1,"email":"+***","createdAt":"2015-07-20 10:19:45"}',
        ),
        ("<entry>+33 6 12 34 56 78</entry>", "<entry>+3***</entry>"),
        ("call 06 12 34 56 78 or 06.12.34.56.78", "call 06*** or 06***"),
        # Whatever an answer's address field holds is masked, whatever its shape.
        ('"email": 33612345678, "createdAt"', '"email": 3***, "createdAt"'),
        ('"email":"0033612345678"', '"email":"0***"'),
        ('"email":"a\\u0040b.fr"', '"email":"a***"'),
        ('"email":"+33 (0)6 12 3', '"email":"+***'),  # cut by the excerpt's end
        (
            "<entry><entry>1</entry><entry><![CDATA[ +1 (555) 123-4567]]></entry><entry>2015",
            "<entry><entry>1</entry><entry><![CDATA[+***]]></entry><entry>2015",
        ),
        ("<entry>\n<entry>2</entry><entry>07700 900123</entry>", "<entry>\n<entry>2</entry><entry>0***</entry>"),
        # Ids, counts and dates are not phone numbers: kept.
        ("id 1234567890, nbData 100004, 2024-05-06 07:08:09", "id 1234567890, nbData 100004, 2024-05-06 07:08:09"),
    ],
)
def test_phone_numbers_inside_a_text_are_masked_too(text, masked):
    assert mask_addresses(text) == masked


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


PHONES = [33612345678, "0033612345678", "+33 (0)6 12 34 56 78", "+1 (555) 123-4567", "07700 900123"]


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
        json.dumps({"success": True, "code": 200, "nbData": 9, "data": [{**data[0], "email": p} for p in PHONES]}),
    ]
    texts = []
    hook = make_hook(max_retries=0, strict=True)  # (odd entries are refused only when strict)
    with caplog.at_level(logging.DEBUG):
        for body in refusals:
            sandbox.faults.script(Fault.raw(body), command="unsubscribe/list")
            with pytest.raises(MailPartnerError) as caught:
                hook.get_unsubscribes()
            texts += ["".join(traceback.format_exception(caught.value)), repr(caught.value)]
    everything = "\n".join([*texts, caplog.text]).lower()
    assert "***@" in everything  # the masked forms are there, in place of the addresses
    assert [address for address in addresses if address.lower() in everything] == []
    assert [phone for phone in PHONES if str(phone)[1:] in everything] == []
