"""Error texts of untrustworthy answers: scrubbed of the key before anything is cut."""

from __future__ import annotations

import io
import json

import pytest

from airflow_provider_mailpartner.client.answer_checks import AnswerChecks
from airflow_provider_mailpartner.client.envelope import DocumentError
from airflow_provider_mailpartner.client.exchange import Answer
from airflow_provider_mailpartner.client.json_list import json_events
from airflow_provider_mailpartner.client.redaction import Redactor
from airflow_provider_mailpartner.client.retry import RetryPolicy
from tests.key_leaks import find_key
from tests.nasty_key import NASTY_KEY


def test_a_long_problem_quoting_the_key_past_the_cut_shows_no_piece_of_it():
    checks = AnswerChecks("mp", Redactor(NASTY_KEY), RetryPolicy(max_retries=0, backoff=0))
    answer = Answer(200, "application/xml", None, "", io.BytesIO(b"<result/>"))
    for offset in (0, 280, 290, 299):  # the key straddling the 300-character cut, or inside it
        problem = f"the XML answer has <{'x' * offset}{NASTY_KEY}> where only <entry> is expected"
        message = checks.response_error(answer, problem).message
        assert not find_key(message, NASTY_KEY), message


def test_a_repeated_key_holding_the_api_key_is_quoted_whole_so_the_scrubbing_finds_it():
    checks = AnswerChecks("mp", Redactor(NASTY_KEY), RetryPolicy(max_retries=0, backoff=0))
    name = json.dumps("x" * 10 + NASTY_KEY).encode()
    body = b"{" + name + b": 1, " + name + b': 2, "data": []}'
    with pytest.raises(DocumentError) as refused:
        list(json_events([body]))
    message = checks.response_error(Answer(200, "application/json", None, "", io.BytesIO(body)), str(refused.value))
    assert "twice" in message.message
    assert not find_key(message.message, NASTY_KEY), message.message
