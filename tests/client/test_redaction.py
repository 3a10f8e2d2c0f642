from __future__ import annotations

import json
import logging
from urllib.parse import quote, quote_plus, urlencode

from airflow_provider_mailpartner.client import redaction
from airflow_provider_mailpartner.client.redaction import Redactor, register_secret, secret_forms

KEY = "Sëcret+key/with=odd%chars and space&more"


def test_every_encoding_of_the_key_is_scrubbed():
    redactor = Redactor(KEY)
    encodings = [
        KEY,
        quote(KEY),
        quote(KEY, safe=""),
        quote_plus(KEY),
        quote(KEY, safe="").lower(),
        urlencode({"apiKey": KEY}).split("=", 1)[1],
        json.dumps(KEY)[1:-1],
        json.dumps({"apiKey": KEY}, ensure_ascii=False),
    ]
    for encoded in encodings:
        scrubbed = redactor.scrub(f"GET /v1/me?apiKey={encoded}&_format=json")
        assert "***" in scrubbed
        for form in secret_forms(KEY):
            assert form.lower() not in scrubbed.lower()


def test_text_without_the_key_is_unchanged():
    assert Redactor(KEY).scrub("nothing to hide here") == "nothing to hide here"


def test_redactor_repr_does_not_show_the_key():
    assert KEY not in repr(Redactor(KEY))
    assert quote_plus(KEY) not in repr(Redactor(KEY))


def test_registered_key_is_scrubbed_from_urllib3_debug_lines(caplog):
    register_secret(KEY)
    logger = logging.getLogger("urllib3.connectionpool")
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        logger.debug('%s://%s:%s "%s %s %s" %s', "http", "h", 80, "GET", f"/v1/me?apiKey={quote_plus(KEY)}", "1.1", 200)
    assert caplog.records, "the debug line must still be logged"
    assert quote_plus(KEY) not in caplog.text
    # (Not "apiKey=***": another test may have registered a one-letter key, which masks every "k".)
    assert '=*** 1.1" 200' in caplog.text


def test_registered_key_is_masked_by_airflow_in_every_encoding():
    from airflow.sdk._shared.secrets_masker import redact

    register_secret(KEY)
    for encoded in (KEY, quote(KEY, safe=""), quote_plus(KEY)):
        assert encoded not in str(redact(f"url=...?apiKey={encoded}"))


def test_a_short_key_registered_in_the_same_process_cannot_break_a_longer_one_into_unmatched_pieces():
    scrubbing = redaction._ScrubbingFilter()  # a fresh one: the module's has other tests' keys
    scrubbing.add(Redactor("k"))  # (a test key; a real one is long), registered first
    scrubbing.add(Redactor(KEY))
    record = logging.LogRecord(
        "urllib3.connectionpool", logging.DEBUG, "", 0, "GET /v1/me?apiKey=%s", (quote_plus(KEY),), None
    )
    scrubbing.filter(record)
    assert (
        record.getMessage() == "GET /v1/me?api***ey=***"
    )  # the short key masks each "k"; nothing of the long one is left
