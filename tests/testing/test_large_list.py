"""A million-entry list served whole, as the real API does (no paging), in JSON and in XML."""

from __future__ import annotations

import json
import time
from xml.parsers.expat import ParserCreate

import pytest
import requests

from airflow_provider_mailpartner.testing import MailPartnerSandbox

MILLION = 1_000_000


@pytest.mark.slow
def test_a_million_entry_list_is_served_in_json_and_xml_with_matching_nbdata() -> None:
    timings: dict[str, float] = {}
    with MailPartnerSandbox(api_key="k") as sandbox, requests.Session() as session:
        started = time.perf_counter()
        sandbox.backend.generate(MILLION)
        timings["generate(1_000_000)"] = time.perf_counter() - started
        url = f"{sandbox.url}/v1/unsubscribe/list"

        for fmt in ("json", "xml"):
            for attempt in ("first", "cached"):
                started = time.perf_counter()
                response = session.get(url, params={"apiKey": "k", "_format": fmt}, timeout=120)
                body = response.content
                timings[f"{fmt} fetch ({attempt})"] = time.perf_counter() - started
                assert response.status_code == 200
                assert int(response.headers["Content-Length"]) == len(body)
            if fmt == "json":
                document = json.loads(body)
                assert document["nbData"] == len(document["data"]) == MILLION
                assert document["data"][-1]["id"] == MILLION
                del document
            else:
                parser = ParserCreate()
                parser.Parse(body, True)  # well-formed, or ExpatError
                head = body[:200].decode()
                assert f"<entry>true</entry><entry>200</entry><entry>{MILLION}</entry>" in head
                assert body.count(b"]]></entry></entry>") == MILLION  # one per record's closing createdAt
        assert sandbox.errors == []

    print("\n" + "\n".join(f"{name}: {seconds:.2f} s" for name, seconds in timings.items()))
