"""The ``mailpartner`` connection form in Airflow's real UI, in headless Chromium, tested against the sandbox.

One Airflow API server (SQLite, simple auth with all admins, ``test_connection = Enabled``) serves the
module; the sandbox runs in this process and the server's hook reaches it on loopback. Screenshots of
every step go to the test's ``tmp_path`` (``pytest --basetemp DIR`` to keep them somewhere known); with
``MAILPARTNER_UPDATE_DOCS_IMAGES=1`` the form-with-success one is also copied to
``docs/images/connection-form.png``.

Airflow 3.3's UI has no Test button inside the form: Test is an action of a saved connection's row
in the list, and its answer comes as a toast. So the flow is add, save, test, edit, test again.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailpartner import get_provider_info
from airflow_provider_mailpartner.client.redaction import secret_forms
from airflow_provider_mailpartner.testing import MailPartnerSandbox
from tests.airflow_processes import ApiServer, run_airflow
from tests.nasty_key import NASTY_KEY

pytestmark = pytest.mark.e2e

CONN_ID = "mailpartner_ui"
WRONG_KEY = "not-the-mailpartner-key"
CREDIT_MAIL = 48213  # not the sandbox's default: the figure in the message must come from the account
DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "connection-form.png"
UPDATE_DOCS_IMAGES = os.environ.get("MAILPARTNER_UPDATE_DOCS_IMAGES") == "1"

(CONNECTION_TYPE,) = get_provider_info()["connection-types"]
EXTRA_LABELS = [field["label"] for field in CONNECTION_TYPE["conn-fields"].values()]
# Airflow's own labels of the standard fields, and what this provider's form makes of them.
STANDARD_LABELS = {"description": "Description", "host": "Host", "login": "Login", "password": "Password"}
STANDARD_LABELS |= {"port": "Port", "schema": "Schema"}
BEHAVIOUR = CONNECTION_TYPE["ui-field-behaviour"]
SHOWN_LABELS = [
    BEHAVIOUR["relabeling"].get(name, label)
    for name, label in STANDARD_LABELS.items()
    if name not in BEHAVIOUR["hidden-fields"]
]
HIDDEN_LABELS = [label for name, label in STANDARD_LABELS.items() if name in BEHAVIOUR["hidden-fields"]]


@pytest.fixture(scope="module")
def ui_sandbox() -> Iterator[MailPartnerSandbox]:
    with MailPartnerSandbox(api_key=NASTY_KEY, rate_limit_per_minute=None) as sandbox:
        sandbox.backend.set_credits(credit_mail=CREDIT_MAIL, currency="EUR", balance="1234.5")
        yield sandbox
        assert sandbox.errors == [], "the sandbox itself failed while serving"


class Screenshots:
    """Numbered screenshots of one page in one folder, one per step."""

    def __init__(self, page: Any, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, name: str, **options: Any) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        # Animations finished, not caught halfway (a dialog fading in is half transparent).
        self.page.screenshot(path=str(path), **({"full_page": True, "animations": "disabled"} | options))
        return path


@pytest.fixture
def page(browser: Any, airflow_api_server: ApiServer) -> Iterator[Any]:
    """A fresh browser page (``playwright.sync_api.Page``) on the API server."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    context = browser.new_context(viewport={"width": 1280, "height": 1200}, base_url=airflow_api_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def shots(page: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Screenshots]:
    """Screenshots in ``tmp_path/screenshots``, plus one of the last state when the test fails."""
    screenshots = Screenshots(page, tmp_path / "screenshots")
    yield screenshots
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        screenshots.take("failure")


def send_a_missing_port_as_null(route: Any) -> None:
    """Work around Airflow 3.3.2's list Test button for connections without a port.

    The UI posts ``port: Number(connection.port)``, which is ``0`` for a NULL port, and the API then
    refuses the test with 400 "The host or port to test differs from the stored connection" (every
    connection type without a port; fixed upstream in the API by apache/airflow#73298). This puts back
    the NULL the UI meant; nothing else in the request changes.
    """
    body = route.request.post_data_json
    if isinstance(body, dict) and body.get("port") == 0:
        body["port"] = None
    route.continue_(post_data=json.dumps(body))


def field(scope: Any, label: str) -> Any:
    """A form field's group, found by its visible label.

    Airflow's labels of plain-text extra fields point at the wrong id (``for`` is not the input's id),
    so ``get_by_label`` cannot find those inputs; the field group holding the label always works.
    """
    return scope.get_by_role("group").filter(has=scope.page.get_by_text(label, exact=True))


def accordion_section(dialog: Any, title: str) -> Any:
    """Open the form's accordion section ``title`` and return its content.

    Found through the trigger's ``aria-controls``: the content's ``aria-labelledby`` names an id with a
    space in it, so it has no accessible name to look it up by.
    """
    trigger = dialog.get_by_role("button", name=title, exact=True)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    return dialog.locator(f'[id="{trigger.get_attribute("aria-controls")}"]')


def labels(region: Any) -> list[str]:
    return [text.strip() for text in region.locator("label").all_inner_texts() if text.strip()]


def toast(page: Any, title: str) -> Any:
    return page.get_by_role("status").filter(has_text=title)


def hold(toast: Any) -> None:
    """Keep a toast up: its 2-second timer pauses while the pointer rests on it."""
    toast.hover()


def no_toasts(page: Any) -> None:
    """Wait until every toast has gone, for a clean screenshot and an unambiguous next one."""
    from playwright.sync_api import expect

    page.mouse.move(0, 0)  # a toast under the pointer stays up
    expect(page.get_by_role("status")).to_have_count(0)


def around(*locators: Any, margin: int = 16) -> dict[str, float]:
    """The screenshot clip holding every locator's box, with a margin, inside the viewport."""
    boxes = [locator.bounding_box() for locator in locators]
    page = locators[0].page
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    left = max(min(box["x"] for box in boxes) - margin, 0)
    top = max(min(box["y"] for box in boxes) - margin, 0)
    right = min(max(box["x"] + box["width"] for box in boxes) + margin, width)
    bottom = min(max(box["y"] + box["height"] for box in boxes) + margin, height)
    return {"x": left, "y": top, "width": right - left, "height": bottom - top}


def assert_no_key_in(text: str) -> None:
    leaked = [form for form in secret_forms(NASTY_KEY) if form in text]
    assert leaked == [], "the API key reached the page"


def test_connection_form_creates_tests_and_edits_a_mailpartner_connection(
    page: Any, shots: Screenshots, ui_sandbox: MailPartnerSandbox, airflow_api_server: ApiServer
) -> None:
    from playwright.sync_api import expect

    page.route("**/api/v2/connections/test", send_a_missing_port_as_null)
    page.goto("/connections")

    # 1. A new connection of type MailPartner.
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(CONN_ID)
    dialog.get_by_role("combobox", name="Connection Type").fill("MailPartner")
    page.get_by_role("option", name=CONNECTION_TYPE["hook-name"], exact=True).click()

    # 2. Standard fields: host and password relabelled, the unused ones hidden, the key masked.
    standard = accordion_section(dialog, "Standard Fields")
    expect(standard).to_be_visible()
    assert labels(standard) == SHOWN_LABELS == ["Description", "Base URL", "API Key"]
    for hidden in [*HIDDEN_LABELS, "Host", "Password"]:
        expect(dialog.get_by_text(hidden, exact=True)).to_have_count(0)
    base_url = standard.get_by_label("Base URL")
    api_key = standard.get_by_label("API Key")
    expect(base_url).to_have_attribute("placeholder", "https://api.mailpartner.fr")
    expect(api_key).to_have_attribute("type", "password")
    expect(api_key).to_have_attribute("placeholder", "your MailPartner API key")
    shots.take("standard-fields")
    base_url.fill(ui_sandbox.url)
    api_key.fill(NASTY_KEY)

    # 3. Extra fields: every conn-field with its label, the format as a json/xml dropdown.
    extras = accordion_section(dialog, "Extra Fields")
    expect(extras).to_be_visible()
    assert labels(extras) == EXTRA_LABELS
    response_format = field(extras, "Response format")
    expect(response_format).to_contain_text("json")  # the declared default
    response_format.get_by_role("combobox").click()
    expect(page.get_by_role("option")).to_have_text(["json", "xml"])
    page.get_by_role("option", name="xml", exact=True).click()
    field(extras, "Timeout (s)").get_by_role("spinbutton").fill("5")
    field(extras, "Max retries").get_by_role("spinbutton").fill("1")
    field(extras, "Retry backoff (s)").get_by_role("spinbutton").fill("0.5")
    field(extras, "Time zone of createdAt").get_by_role("textbox").fill("Europe/Paris")
    expect(field(extras, "Allow plain http").get_by_role("checkbox")).not_to_be_checked()
    shots.take("extra-fields")

    # 4. Saved: the key is the password (masked by the REST API), the extras typed under their bare keys.
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    expect(row).to_contain_text(ui_sandbox.url)
    no_toasts(page)
    shots.take("saved")
    status, body = airflow_api_server.request("GET", f"/api/v2/connections/{CONN_ID}")
    assert status == 200, body
    stored = json.loads(body)
    assert (stored["conn_type"], stored["host"], stored["password"]) == ("mailpartner", ui_sandbox.url, "***")
    assert json.loads(stored["extra"]) == {
        "response_format": "xml",
        "timeout": 5,
        "max_retries": 1,
        "retry_backoff": 0.5,
        "timezone": "Europe/Paris",
        "allow_insecure_http": False,
    }

    # 5. Test: the hook runs on the API server, calls the sandbox in XML, and the UI shows its message.
    #    (A shorter window from here on keeps the toasts near the dialog in the docs' screenshot.)
    page.set_viewport_size({"width": 1280, "height": 900})
    ui_sandbox.clear_requests()
    row.get_by_role("button", name="Test Connection").click()
    success = toast(page, "Test Connection Successful")
    expect(success).to_contain_text(f"Connected to MailPartner at {ui_sandbox.url}: {CREDIT_MAIL} mail credits")
    hold(success)
    assert [(r.command, r.response_format, r.code) for r in ui_sandbox.requests] == [("me", "xml", 200)]
    shots.take("test-success")

    # 6. The form again, with the success message still up: the docs' screenshot. The pointer stays on
    #    the toast while the keyboard opens the edit dialog.
    row.get_by_role("button", name="Edit Connection").focus()
    page.keyboard.press("Enter")
    expect(dialog.get_by_label("Base URL")).to_have_value(ui_sandbox.url)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    expect(success).to_be_visible()
    form_with_success = shots.take("form-with-test-success", full_page=False, clip=around(dialog, success))
    if UPDATE_DOCS_IMAGES:
        shutil.copyfile(form_with_success, DOCS_IMAGE)
    # The browser never receives the stored key: the form shows Airflow's mask.
    expect(dialog.get_by_label("API Key")).to_have_value("***")
    assert_no_key_in(page.content())

    # 7. A wrong key: saved, then Test shows the hook's failure message. The success toast goes first:
    #    its region covers the dialog's Save button in this window.
    no_toasts(page)
    dialog.get_by_label("API Key").fill(WRONG_KEY)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    no_toasts(page)
    ui_sandbox.clear_requests()
    row.get_by_role("button", name="Test Connection").click()
    failure = toast(page, "Test Connection Failed")
    expect(failure).to_contain_text("MailPartner refused the credentials (code 10: Wrong API key)")
    hold(failure)
    assert [(r.command, r.code) for r in ui_sandbox.requests] == [("me", 10)]
    shots.take("test-failure")

    # 8. The right key back; Airflow's CLI reads it from the DB exactly as typed, odd characters and all.
    no_toasts(page)
    row.get_by_role("button", name="Edit Connection").click()
    dialog.get_by_label("API Key").fill(NASTY_KEY)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    shots.take("key-restored")
    assert_no_key_in(page.content())
    got = run_airflow("connections", "get", CONN_ID, "-o", "json", env=airflow_api_server.env)
    assert got.returncode == 0, got.stderr
    (connection,) = json.loads(got.stdout)
    assert (connection["conn_type"], connection["host"]) == ("mailpartner", ui_sandbox.url)
    assert connection["password"] == NASTY_KEY
    assert set(connection["extra_dejson"]) == set(CONNECTION_TYPE["conn-fields"])


def test_rest_api_test_endpoint_returns_the_hooks_message(
    airflow_api_server: ApiServer, ui_sandbox: MailPartnerSandbox
) -> None:
    """What the UI's button calls, as a script would: the message with the credits, or the refusal."""

    def test_with(key: str) -> dict[str, Any]:
        connection = {"connection_id": "mailpartner_rest", **ui_sandbox.connection_dict(extra={"max_retries": 0})}
        connection["password"] = key
        connection["extra"] = json.dumps(connection["extra"])
        status, body = airflow_api_server.request("POST", "/api/v2/connections/test", json.dumps(connection).encode())
        assert status == 200, body
        answer: dict[str, Any] = json.loads(body)
        assert_no_key_in(answer["message"])
        return answer

    assert test_with(NASTY_KEY) == {
        "status": True,
        "message": f"Connected to MailPartner at {ui_sandbox.url}: {CREDIT_MAIL} mail credits, balance 1234.500 EUR",
    }
    refused = test_with(WRONG_KEY)
    assert refused["status"] is False
    assert "MailPartner refused the credentials (code 10: Wrong API key)" in refused["message"]
