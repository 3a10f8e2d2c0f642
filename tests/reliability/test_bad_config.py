"""Bad configuration, systematically: every way a ``mailpartner`` connection, a hook argument or an
operator argument can be wrong fails at first use with a ``MailPartnerConfigError`` whose message
names the connection, the field and what is expected; before any request leaves, and never from
deep inside ``requests``. Through an operator in a DAG the task fails with that message, and
parsing the DAG never touches the connection.

Covered elsewhere, not repeated: how hook argument, extra and default combine, and the base URL
built from host and port (``tests/test_connection_settings.py``); that no DNS lookup happens for a
refused plain-http host (``tests/hooks/test_mailpartner.py``); operator arguments refused at parse
time (``tests/operators/test_unsubscribe.py``).
"""

from __future__ import annotations

import json
import socket
import textwrap
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import airflow
import pytest
import requests
from packaging.version import Version

from airflow_provider_mailpartner.exceptions import MailPartnerConfigError
from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook
from airflow_provider_mailpartner.testing import MailPartnerSandbox
from tests.dag_runs import dagbag_module, dags_folder, run_dag_file
from tests.key_leaks import assert_no_key
from tests.nasty_key import NASTY_KEY
from tests.operators.conftest import DAG_FILE

MISSING = object()
"""A connection that is not defined at all."""


@dataclass(frozen=True)
class Bad:
    """One wrong setting: how to make it, and what the error must say."""

    names: str  # what the message must name: the field
    expects: str  # what it must say is expected
    # over the sandbox's connection; text: the AIRFLOW_CONN_* value as written
    connection: dict[str, Any] | str | object = field(default_factory=dict)
    hook_args: dict[str, Any] = field(default_factory=dict)
    call_args: dict[str, Any] = field(default_factory=dict)  # given to every method call


URL = "http(s) URL such as https://api.mailpartner.fr"
TIMEOUT = "timeout must be a number from 0.001 to 300"
MAX_RETRIES = "max_retries must be a whole number from 0 to 20"
EXTRA_OBJECT = 'write a JSON object such as {"response_format": "xml"'

CASES: dict[str, Bad] = {
    "no-connection": Bad("is not defined", "create a connection of type 'mailpartner'", MISSING),
    "env-variable-not-json": Bad(
        "is set, but Airflow could not read it as a connection (not valid JSON: Expecting property name "
        "enclosed in double quotes at line 1, column 90)",
        'Write it as JSON, {"conn_type": "mailpartner"',
        f'{{"conn_type": "mailpartner", "password": {json.dumps(NASTY_KEY)},}}',
    ),
    "wrong-conn-type": Bad("type 'http'", "not 'mailpartner'", {"conn_type": "http"}),
    "key-empty": Bad("no API key", "in the connection's password field", {"password": ""}),
    "key-none": Bad("no API key", "in the connection's password field", {"password": None}),
    "key-white-space": Bad("no API key", "in the connection's password field", {"password": " \t\n "}),
    "response_format-extra": Bad("response_format", "one of ('json', 'xml')", {"extra": {"response_format": "yaml"}}),
    "response_format-hook-argument": Bad("response_format", "one of ('json', 'xml')", hook_args={"response_format": 5}),
    "response_format-method-argument": Bad("response_format", "'json' or 'xml'", call_args={"response_format": "csv"}),
    "timeout-negative": Bad(TIMEOUT, "not -1", {"extra": {"timeout": -1}}),
    "timeout-zero": Bad(TIMEOUT, "not 0", {"extra": {"timeout": 0}}),
    "timeout-not-a-number": Bad(TIMEOUT, "not 'ten seconds'", {"extra": {"timeout": "ten seconds"}}),
    "timeout-huge": Bad(TIMEOUT, "not 86400", {"extra": {"timeout": 86400}}),
    "timeout-nan": Bad(TIMEOUT, "not 'nan'", {"extra": {"timeout": "nan"}}),
    "timeout-hook-argument": Bad(TIMEOUT, "not -5", hook_args={"timeout": -5}),
    "timeout-hook-argument-infinite": Bad(TIMEOUT, "not inf", hook_args={"timeout": float("inf")}),
    "max_retries-negative": Bad(MAX_RETRIES, "not -1", {"extra": {"max_retries": -1}}),
    "max_retries-hook-argument-negative": Bad(MAX_RETRIES, "not -3", hook_args={"max_retries": -3}),
    "max_retries-fraction": Bad(MAX_RETRIES, "not '2.5'", {"extra": {"max_retries": "2.5"}}),
    "retry_backoff-negative": Bad(
        "retry_backoff must be a number from 0 to 60", "not -1", {"extra": {"retry_backoff": -1}}
    ),
    "host-mistyped-scheme": Bad("host 'http//x'", URL, {"host": "http//x"}),
    "host-mistyped-scheme-colon": Bad("host 'https:/api.mailpartner.fr'", URL, {"host": "https:/api.mailpartner.fr"}),
    "host-ftp": Bad("host 'ftp://x'", URL, {"host": "ftp://x"}),
    "host-scheme-only": Bad("host 'https://'", URL, {"host": "https://"}),
    "host-javascript": Bad("host 'javascript:alert(1)'", URL, {"host": "javascript:alert(1)"}),
    "host-space": Bad("host 'https://exa mple.com'", "without white space", {"host": "https://exa mple.com"}),
    "host-tab": Bad("host 'https://exa\\tmple.com'", "without white space", {"host": "https://exa\tmple.com"}),
    "host-bad-character": Bad("'exa%20mple.com'", "valid host name", {"host": "https://exa%20mple.com"}),
    "host-empty-label": Bad("'api..mailpartner.fr'", "valid host name", {"host": "https://api..mailpartner.fr"}),
    "host-query": Bad("host", "plain base URL", {"host": "https://api.mailpartner.fr/v1?apiKey=x"}),
    "host-fragment": Bad("host", "plain base URL", {"host": "https://api.mailpartner.fr/#v1"}),
    "host-user": Bad("host", "plain base URL", {"host": "https://me:pw@api.mailpartner.fr"}),
    "host-port-invalid": Bad(
        "host 'https://api.mailpartner.fr:99999'", URL, {"host": "https://api.mailpartner.fr:99999"}
    ),
    "host-port-zero": Bad("port", "from 1 to 65535, not 0", {"host": "http://127.0.0.1:0"}),
    "port-field-out-of-range": Bad("port", "from 1 to 65535, not 70000", {"host": "http://127.0.0.1", "port": 70000}),
    "http-to-public-host": Bad(
        "plain http to 'api.mailpartner.fr'", "set allow_insecure_http", {"host": "http://api.mailpartner.fr"}
    ),
    "allow_insecure_http-not-boolean": Bad(
        "allow_insecure_http", "true or false", {"extra": {"allow_insecure_http": "maybe"}}
    ),
    "extra-unknown-key": Bad(
        "unknown extra field(s) 'respone_format'", "known: [", {"extra": {"respone_format": "xml"}}
    ),
    "extra-invalid-json": Bad("extra is not valid JSON", EXTRA_OBJECT, {"extra": '{"timeout": 5,}'}),
    "extra-array": Bad("extra must be a JSON object", "not an array", {"extra": '["xml"]'}),
    "extra-string": Bad("extra must be a JSON object", "not a string", {"extra": '"xml"'}),
    "timezone-unknown": Bad("timezone 'Mars/Olympus'", "known IANA time zone", {"extra": {"timezone": "Mars/Olympus"}}),
}


def define_connection(monkeypatch: pytest.MonkeyPatch, sandbox: MailPartnerSandbox, conn_id: str, bad: Bad) -> None:
    """The sandbox's connection with the bad setting put in (extra given as text stays as written)."""
    if bad.connection is MISSING:
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)
        return
    if isinstance(bad.connection, str):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", bad.connection)
        return
    assert isinstance(bad.connection, dict)
    connection: dict[str, Any] = {**sandbox.connection_dict(), **bad.connection}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


def public_calls(hook: MailPartnerHook, call_args: dict[str, Any]) -> dict[str, Callable[[], object]]:
    """Every public way into the hook; each is a possible first use."""
    calls: dict[str, Callable[[], object]] = {
        "get_unsubscribes": lambda: hook.get_unsubscribes(**call_args),
        "iter_unsubscribes": lambda: list(hook.iter_unsubscribes(**call_args)),
        "iter_unsubscribe_records": lambda: list(hook.iter_unsubscribe_records(**call_args)),
        "add_unsubscribe": lambda: hook.add_unsubscribe("someone@example.com", **call_args),
        "delete_unsubscribe": lambda: hook.delete_unsubscribe(1, **call_args),
        "get_credits": lambda: hook.get_credits(**call_args),
    }
    if not call_args:  # these two take no argument
        calls.update(get_conn=hook.get_conn, test_connection=hook.test_connection)
    return calls


def assert_clear(message: str, conn_id: str, bad: Bad) -> None:
    assert message.startswith(f"Connection {conn_id!r}"), message
    assert bad.names in message, message
    assert bad.expects in message, message
    assert_no_key(message)


def assert_raised_here(error: BaseException) -> None:
    """Raised by the package's own checks: no frame of requests or urllib3, nothing chained under it."""
    frames = traceback.extract_tb(error.__traceback__)
    assert not [frame for frame in frames if "/requests/" in frame.filename or "/urllib3/" in frame.filename]
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request that would leave the process; a request is refused, not sent."""
    attempts: list[str] = []

    def refuse(adapter: object, request: requests.PreparedRequest, **kwargs: object) -> None:
        attempts.append(str(request.method))
        raise AssertionError("a request left before the configuration was checked")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", refuse)
    return attempts


# Airflow 3.1 drops a connection whose extra is not a JSON object as if it were not defined: the hook can
# only say it is not defined (docs/compatibility.md). From 3.2 on, the hook gets it and names the problem.
DROPPED_BY_AIRFLOW_3_1 = (
    {"extra-invalid-json", "extra-array", "extra-string"} if Version(airflow.__version__) < Version("3.2") else set()
)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(
            bad,
            id=name,
            marks=pytest.mark.skipif(
                name in DROPPED_BY_AIRFLOW_3_1, reason="Airflow 3.1 drops a connection whose extra is not an object"
            ),
        )
        for name, bad in CASES.items()
    ],
)
def test_bad_configuration_fails_at_first_use_naming_connection_and_field(sandbox, monkeypatch, sent, bad):
    define_connection(monkeypatch, sandbox, "mp_bad", bad)
    hook = MailPartnerHook("mp_bad", **bad.hook_args)  # reads nothing yet

    for name, call in public_calls(hook, bad.call_args).items():
        if name == "test_connection":  # never raises: the UI shows its text
            ok, message = hook.test_connection()
            assert ok is False
            assert_clear(message, "mp_bad", bad)
            continue
        with pytest.raises(MailPartnerConfigError) as info:
            call()
        assert_clear(str(info.value), "mp_bad", bad)
        assert info.value.conn_id == "mp_bad", name
        assert_raised_here(info.value)

    assert sent == []
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("connection", "base_url"),
    [
        ({"host": "http://api.mailpartner.fr", "extra": {"allow_insecure_http": True}}, "http://api.mailpartner.fr"),
        ({"host": "http://api.mailpartner.fr", "extra": {"allow_insecure_http": "true"}}, "http://api.mailpartner.fr"),
        ({"host": "https://api.mailpartner.fr:8443", "extra": '{"timeout": 5}'}, "https://api.mailpartner.fr:8443"),
        ({"host": "  https://api.mailpartner.fr/  ", "extra": ""}, "https://api.mailpartner.fr"),
        ({"host": "https://mailpartner.exämple.fr", "port": 0}, "https://mailpartner.exämple.fr"),
    ],
    ids=["http-allowed", "http-allowed-as-text", "extra-as-text", "white-space-around", "unicode-host"],
)
def test_what_looks_odd_but_is_right_is_accepted(sandbox, monkeypatch, sent, connection, base_url):
    define_connection(monkeypatch, sandbox, "mp_odd", Bad("", "", connection))
    assert MailPartnerHook("mp_odd").settings.base_url == base_url
    assert sent == []


# The connection-level cases an operator meets (hook and method arguments are not operator arguments),
# plus the operator's own response_format argument.
DAG_CASES = {
    name: bad
    for name, bad in CASES.items()
    if not bad.hook_args and not bad.call_args and name not in DROPPED_BY_AIRFLOW_3_1
}


def test_an_operator_task_fails_with_that_message_and_parsing_never_touches_the_connection(
    airflow_db, sandbox, monkeypatch, sent, capfd
):
    tasks = []
    for number, (name, bad) in enumerate(DAG_CASES.items()):
        define_connection(monkeypatch, sandbox, f"bad_{number}", bad)
        tasks.append(f"UnsubscribeListOperator(task_id={name!r}, mailpartner_conn_id='bad_{number}')")
    monkeypatch.setenv("AIRFLOW_CONN_GOOD", sandbox.connection_json())
    key_empty = f"bad_{list(DAG_CASES).index('key-empty')}"
    tasks += [
        "UnsubscribeListOperator(task_id='bad_response_format', mailpartner_conn_id='good', response_format='yml')",
        "AddUnsubscribesOperator(task_id='add_no_connection', mailpartner_conn_id='bad_0', emails=['a@example.com'])",
        f"AddUnsubscribesOperator(task_id='add_no_key', mailpartner_conn_id={key_empty!r}, emails=['a@example.com'])",
    ]
    path = dags_folder() / "bad_config.py"
    path.write_text(DAG_FILE.format(dag_id="bad_config", tasks=textwrap.indent("\n".join(tasks), "    ")))

    with monkeypatch.context() as guard:  # parsing: no connection, no variable, no network
        from airflow.sdk import BaseHook, Connection, Variable

        def forbidden(*args: object, **kwargs: object) -> None:
            raise AssertionError("the DAG file looked up a connection, a variable or the network at parse time")

        guard.setattr(BaseHook, "get_connection", classmethod(forbidden))
        guard.setattr(Connection, "get", classmethod(forbidden))
        guard.setattr(Variable, "get", staticmethod(forbidden))
        guard.setattr(socket.socket, "connect", forbidden)
        bag = dagbag_module().DagBag(dag_folder=str(path))
        assert bag.import_errors == {}
        assert len(bag.get_dag("bad_config").tasks) == len(tasks)

    result = run_dag_file(path, "bad_config")

    assert result.state == "failed"
    assert set(result.task_states.values()) == {"failed"}, result.task_states
    console = "".join(capfd.readouterr())
    raised = [line for line in console.splitlines() if line.startswith(f"{MailPartnerConfigError.__module__}.")]
    for number, bad in enumerate(DAG_CASES.values()):
        [message] = {line.split(": ", 1)[1] for line in raised if f"Connection 'bad_{number}'" in line}
        assert_clear(message, f"bad_{number}", bad)
    assert any("Connection 'good': response_format must be one of" in line for line in raised)
    assert "/requests/" not in console, "a stack trace from inside requests"
    assert "/urllib3/" not in console, "a stack trace from inside urllib3"
    assert sent == []
    assert sandbox.requests == []
