"""A small MailPartner client for the sandbox's tests: requests shaped as the API docs describe."""

from __future__ import annotations

from typing import Any

import requests
import xmltodict

from airflow_provider_mailpartner.testing import MailPartnerSandbox

API_KEY = "test-key-5f1c9a"
TIMEOUT = 10


class ApiClient:
    """Sends MailPartner requests the way the docs describe them (key in the query or JSON body)."""

    def __init__(self, sandbox: MailPartnerSandbox, session: requests.Session) -> None:
        self.sandbox = sandbox
        self.session = session

    def url(self, command: str) -> str:
        return f"{self.sandbox.url}/v1/{command}"

    def get(
        self, command: str, *, key: str | None = API_KEY, fmt: str | None = None, **params: str
    ) -> requests.Response:
        query = dict(params)
        if key is not None:
            query["apiKey"] = key
        if fmt is not None:
            query["_format"] = fmt
        return self.session.get(self.url(command), params=query, timeout=TIMEOUT)

    def post(
        self, command: str, *, key: str | None = API_KEY, fmt: str | None = None, **fields: object
    ) -> requests.Response:
        body = dict(fields)
        if key is not None:
            body["apiKey"] = key
        if fmt is not None:
            body["_format"] = fmt
        return self.session.post(self.url(command), json=body, timeout=TIMEOUT)

    def control(self, method: str, name: str, body: object = None) -> requests.Response:
        return self.session.request(method, f"{self.sandbox.url}/_sandbox/{name}", json=body, timeout=TIMEOUT)


def xml_entries(text: str | bytes) -> list[Any]:
    """The ``<entry>`` children of ``<result>``, always as a list (the 0/1/many-safe parse)."""
    parsed = xmltodict.parse(text, force_list=("entry",), disable_entities=True)
    entries = parsed["result"]["entry"]
    assert isinstance(entries, list)
    return entries
