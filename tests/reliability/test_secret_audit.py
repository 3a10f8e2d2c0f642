"""THE secret audit: once every public hook method, both operators and every example DAG have run,
succeeding and failing, with a key that every URL encoding changes, the key is nowhere.

"Nowhere" is everything a person or a program can read afterwards:

- every log record, at DEBUG (urllib3's request lines, which hold the URL, included), as records
  and as formatted text with their tracebacks;
- the process's stdout and stderr (``dag.test()`` prints task logs and tracebacks there, and
  Airflow 3.3 does not redact that console);
- every exception raised, with its whole chain (``__cause__`` and ``__context__``): text, repr,
  arguments, attributes, the URL of any ``requests`` exception in it, the formatted traceback,
  its pickle and what unpickling gives back;
- every value returned, the reprs of the hooks, their clients and settings, and of operators;
- the XComs of every DAG run as returned, and the ``xcom`` and ``rendered_task_instance_fields``
  rows as stored;
- every file the runs wrote (the examples' data folder, the operators' output folder), and every
  file under AIRFLOW_HOME: task logs if any, the DAG files, and the SQLite metadata DB with its
  WAL, byte for byte (the connection lives in the environment, so the DB must not hold the key
  at all).

The key is searched in every encoding of :mod:`tests.key_leaks` (raw, quote, quote(safe=''),
quote_plus, JSON-escaped with and without ``ensure_ascii`` and ``\\/``, XML-escaped, base64, hex,
UTF-8 bytes), and as any 12-character run of its text encodings. Not searched: the sandbox's
request log, since the key legitimately reaches the server.

The sabotage tests show the audit is real: a task that prints, logs or writes an encoded key, and
the package with its scrubbing switched off, are each reported by the same collection.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import sqlite3
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

import pendulum
import pytest

from airflow_provider_mailpartner.client.redaction import Redactor
from airflow_provider_mailpartner.hooks.mailpartner import MailPartnerHook
from airflow_provider_mailpartner.operators.unsubscribe import AddUnsubscribesOperator, UnsubscribeListOperator
from airflow_provider_mailpartner.testing import Fault, MailPartnerSandbox
from tests.key_leaks import find_key
from tests.nasty_key import NASTY_KEY

KEY = NASTY_KEY
DAY = pendulum.datetime(2031, 3, 1, tz="UTC")
NEXT_DAY = DAY.add(days=1)
DEBUG_LOGGERS = ("urllib3", "requests", "airflow_provider_mailpartner", "airflow.task")
SEED = [
    {"email": "anne@example.com", "created_at": "2024-01-01 10:00:00"},
    {"email": " Zoë@Exämple.fr ", "created_at": "2024-07-14 12:00:00"},
    {"email": "bob@example.org", "created_at": "2025-02-02 02:02:02"},
]

# Answers that put the key, in one encoding or another, where a careless client would print it.
ECHOED_URL = f"/v1/unsubscribe/list?apiKey={quote_plus(KEY)}&_format=json"
AUTH_ECHO = Fault.raw(json.dumps({"success": False, "code": 10, "message": f"invalid apiKey {KEY}"}), status=401)
AUTH_ECHO_XML = Fault.raw(
    f"<result><entry>false</entry><entry>1</entry><entry>bad key {xml_escape(KEY)}</entry></result>",
    content_type="application/xml",
)
ERROR_PAGE_WITH_URL = Fault.raw(
    f"<html><body><h1>500</h1><p>GET {ECHOED_URL}</p><p>{quote(KEY, safe='')}</p></body></html>",
    status=500,
    content_type="text/html",
)
ENVELOPE_ECHO = Fault.raw(
    '{"success": false, "code": 500, "message": "' + json.dumps(KEY)[1:-1].replace("/", "\\/") + '"}', status=503
)
FAULTS = {
    "auth error echoing the key": AUTH_ECHO,
    "auth error echoing the key in XML": AUTH_ECHO_XML,
    "500 HTML page quoting the request URL": ERROR_PAGE_WITH_URL,
    "HTML page at 200 quoting the key": Fault.raw(
        " " * 300 + f"<html>?apiKey={quote(KEY)} {KEY}", content_type="text/html"
    ),
    "error envelope echoing the key JSON-escaped": ENVELOPE_ECHO,
    "long error message, the key past the cut": Fault.raw(
        json.dumps({"success": False, "code": 9, "message": "x" * 185 + KEY})
    ),
    "redirect to a URL holding the key": Fault.raw(
        "", status=302, headers={"Location": f"https://x.example{ECHOED_URL}"}
    ),
    "connection reset": Fault.reset(),
    "reset mid-answer": Fault.reset(after_bytes=40),
    "truncated body": Fault.truncated(),
    "malformed body": Fault.malformed(),
    "HTTP 503 proxy page": Fault.http_error(503),
    "HTTP 429": Fault.rate_limited(retry_after=0),
}
TIMEOUT = 0.1  # the hook that meets the latency fault; the others keep the default
SLOW = Fault.latency(TIMEOUT * 3)

OPERATOR_TASKS = """\
UnsubscribeListOperator(task_id="to_xcom")
UnsubscribeListOperator(task_id="to_xcom_xml", response_format="xml", created_since="2024-06-01")
UnsubscribeListOperator(task_id="to_jsonl", output_path="file://{out}/{{{{ ds }}}}/list.jsonl")
UnsubscribeListOperator(task_id="to_csv", output_path="file://{out}/list.csv", output_format="csv")
UnsubscribeListOperator(task_id="to_json", output_path="file://{out}/list.json", output_format="json")
AddUnsubscribesOperator(task_id="add_emails", emails=["{email}", "anne@example.com", "not-an-address"])
AddUnsubscribesOperator(task_id="add_file", input_path="file://{out}/optouts.csv")
"""
EXAMPLE_RUNS = [
    ("example_mailpartner_suppress_file.py", "example_mailpartner_suppress_file"),
    ("example_mailpartner_suppress_sql.py", "example_mailpartner_suppress_sql"),
    ("example_mailpartner_assets.py", "example_mailpartner_asset_producer"),
    ("example_mailpartner_assets.py", "example_mailpartner_asset_consumer"),
    ("example_mailpartner_multi_account.py", "example_mailpartner_multi_account"),
    ("example_mailpartner_sync_optouts.py", "example_mailpartner_sync_optouts"),
]


class Evidence:
    """Everything the runs left that could be read, each piece labelled with where it came from."""

    def __init__(self) -> None:
        self.pieces: list[tuple[str, str | bytes]] = []

    def add(self, where: str, content: object) -> None:
        self.pieces.append((where, content if isinstance(content, (str, bytes)) else repr(content)))

    def add_error(self, where: str, error: BaseException) -> None:
        """The error as any reader meets it: traceback, pickle, and each link of its chain."""
        self.add(f"{where}: traceback", "".join(traceback.format_exception(error)))
        pickled = pickle.dumps(error)
        self.add(f"{where}: pickle", pickled)
        self.add(f"{where}: unpickled", repr(pickle.loads(pickled)))
        seen: set[int] = set()
        link: BaseException | None = error
        while link is not None and id(link) not in seen:
            seen.add(id(link))
            self.add(f"{where}: {type(link).__name__}", [str(link), repr(link), link.args, vars(link)])
            request = getattr(link, "request", None)  # a requests exception keeps the full URL there
            self.add(f"{where}: {type(link).__name__}.request", getattr(request, "url", request))
            link = link.__cause__ or link.__context__

    def run(self, where: str, call: Callable[[], object]) -> object:
        """Call; keep and return what comes back, or what is raised."""
        try:
            result = call()
        except Exception as error:
            self.add_error(where, error)
            return error
        self.add(f"{where}: result", result)
        return result

    def add_files(self, root: Path) -> int:
        files = [path for path in sorted(root.rglob("*")) if path.is_file()]
        for path in files:
            self.add(f"file {path}", path.read_bytes())
        return len(files)

    def leaks(self) -> list[str]:
        found = ((where, find_key(content)) for where, content in self.pieces)
        return [f"{where}: {leak}" for where, leak in found if leak]


@contextmanager
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger that matters at DEBUG (urllib3's request lines hold the URL), restored after."""
    loggers = [logging.getLogger(name) for name in DEBUG_LOGGERS]
    levels = [logger.level for logger in loggers]
    with caplog.at_level(logging.DEBUG):
        for logger in loggers:
            logger.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def hook_calls(hook: MailPartnerHook, sandbox: MailPartnerSandbox, label: str) -> dict[str, Callable[[], object]]:
    """Every public method of the hook, ready to call once (delete gets an entry that exists)."""
    return {
        "get_unsubscribes": hook.get_unsubscribes,
        "iter_unsubscribes": lambda: list(hook.iter_unsubscribes()),
        "iter_unsubscribe_records": lambda: list(hook.iter_unsubscribe_records()),
        "add_unsubscribe": lambda: hook.add_unsubscribe(f"{label}@example.com"),
        "delete_unsubscribe": lambda: hook.delete_unsubscribe(sandbox.backend.add(f"delete.{label}@example.com")),
        "get_credits": hook.get_credits,
        "test_connection": hook.test_connection,
    }


def exercise_hook(
    evidence: Evidence, sandbox: MailPartnerSandbox, make_hook: Callable[..., MailPartnerHook], closed_port: int
) -> None:
    """Each public method in both formats: succeeding, then failing through every fault, both attempts."""
    for response_format in ("json", "xml"):
        hook = make_hook(response_format=response_format, max_retries=1)
        impatient = make_hook(response_format=response_format, max_retries=1, timeout=TIMEOUT)
        for name, call in hook_calls(hook, sandbox, f"ok.{response_format}").items():
            outcome = evidence.run(f"{response_format} {name}", call)
            assert not isinstance(outcome, Exception), outcome
            assert name != "test_connection" or outcome[0] is True, outcome  # type: ignore[index]
        cases = [(fault_name, fault, hook) for fault_name, fault in FAULTS.items()] + [("timeout", SLOW, impatient)]
        for number, (fault_name, fault, used) in enumerate(cases):
            for name, call in hook_calls(used, sandbox, f"fault{number}.{response_format}").items():
                sandbox.faults.script(fault, fault)  # the first attempt and its retry
                evidence.run(f"{response_format} {name} under {fault_name}", call)
                sandbox.faults.clear()
        for used in (hook, impatient):
            evidence.add(f"{response_format} hook", [used, used.settings, used.client, vars(used), vars(used.client)])
    for label, hook in (
        ("nothing listening", make_hook(host=f"http://127.0.0.1:{closed_port}", max_retries=0)),
        ("a wrong key", make_hook(password=f"wrong{KEY}")),
    ):
        for name, call in hook_calls(hook, sandbox, label.replace(" ", ".")).items():
            evidence.run(f"{name} with {label}", call)
    evidence.run("delete_unsubscribe of an unknown id", lambda: make_hook().delete_unsubscribe(424242))


def exercise_operators(evidence: Evidence, sandbox: MailPartnerSandbox, run_dag: Callable[..., Any], out: Path) -> None:
    """Both operators in one DAG, to XCom and to storage: succeeding, then against key-echoing answers."""
    out.mkdir()
    (out / "optouts.csv").write_text("email\nfrom.file@example.com\n")
    succeeded = run_dag(OPERATOR_TASKS.format(out=out, email="new.one@example.com"), logical_date=DAY)
    assert succeeded.state == "success", succeeded.task_states
    evidence.add("operators", succeeded)

    sandbox.faults.set_rate(1.0, kinds=[ERROR_PAGE_WITH_URL], command="unsubscribe/list")  # outlives the retries
    sandbox.faults.script(*[AUTH_ECHO] * 10, command="unsubscribe/add")  # more than the add tasks send
    (out / "optouts.csv").write_text("email\nother.one@example.com\n")
    failed = run_dag(OPERATOR_TASKS.format(out=out, email="newer.one@example.com"), logical_date=NEXT_DAY)
    sandbox.faults.clear()
    assert set(failed.task_states.values()) == {"failed"}, failed.task_states
    evidence.add("operators failing", failed)
    for operator in (
        UnsubscribeListOperator(task_id="list", output_path=f"file://{out}/x.jsonl", response_format="xml"),
        AddUnsubscribesOperator(task_id="add", emails=["a@example.com"]),
    ):
        evidence.add(f"operator {operator.task_id}", [operator, vars(operator)])


def exercise_examples(
    evidence: Evidence,
    sandbox: MailPartnerSandbox,
    run_example: Callable[..., Any],
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every example DAG succeeding; the two that start by calling MailPartner, failing on key echoes too."""
    (root / "contacts.csv").write_text("email,name\nAnne@Example.com,Anne\nkept@example.com,Kept\n")
    (root / "optouts").mkdir()
    for day in (DAY, NEXT_DAY):
        (root / "optouts" / f"{day.date()}.csv").write_text(f"email\nopt.out.{day.day}@example.com\nnot-an-address\n")
    crm = root / "crm.db"
    with sqlite3.connect(crm) as db:
        db.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, unsubscribed_at TEXT)")
        db.execute("INSERT INTO contacts (email) VALUES ('Anne@Example.com'), ('kept@example.com')")
    db.close()
    monkeypatch.setenv("AIRFLOW_CONN_MAILPARTNER_EXAMPLE_DB", json.dumps({"conn_type": "sqlite", "host": str(crm)}))
    # A second account, read as XML, so the mapped fetch of the multi-account DAG runs both formats.
    for name, value in sandbox.airflow_env("mailpartner_audit_xml", "xml", extra={"retry_backoff": 0.01}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRFLOW_VAR_MAILPARTNER_ACCOUNTS", json.dumps(["mailpartner_default", "mailpartner_audit_xml"]))

    for file_name, dag_id in EXAMPLE_RUNS:
        result = run_example(file_name, dag_id, logical_date=DAY)
        assert result.state == "success", (dag_id, result.task_states)
        evidence.add(f"example {dag_id}", result)

    failing = [
        ("example_mailpartner_suppress_file.py", "unsubscribe/list", [AUTH_ECHO, AUTH_ECHO_XML, ENVELOPE_ECHO]),
        ("example_mailpartner_sync_optouts.py", "unsubscribe/add", [ENVELOPE_ECHO]),  # each address fails
    ]
    for file_name, command, faults in failing:
        sandbox.faults.set_rate(1.0, kinds=faults, command=command)
        result = run_example(file_name, file_name.removesuffix(".py"), logical_date=NEXT_DAY)
        sandbox.faults.clear()
        assert result.state == "failed", (file_name, result.task_states)
        evidence.add(f"example {file_name} failing", result)


def metadata_db() -> Path:
    from airflow.configuration import conf

    uri = conf.get("database", "sql_alchemy_conn")
    assert uri.startswith("sqlite:///"), uri
    return Path(uri.removeprefix("sqlite:///"))


def collect_afterwards(
    evidence: Evidence, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], *folders: Path
) -> dict[str, int]:
    """Add what the runs left outside Python objects; return how much of each kind was read."""
    from airflow.utils.session import create_session
    from sqlalchemy import text

    out, err = capfd.readouterr()
    evidence.add("stdout", out)
    evidence.add("stderr", err)
    evidence.add("log records", "\n".join(record.getMessage() for record in caplog.records))
    evidence.add("formatted log", caplog.text)
    counts = {"log records": len(caplog.records), "console lines": len((out + err).splitlines())}
    with create_session() as session:
        for table in ("xcom", "rendered_task_instance_fields"):
            rows = [tuple(row) for row in session.execute(text(f"SELECT * FROM {table}"))]
            evidence.add(f"metadata DB table {table}", rows)
            counts[table] = len(rows)
    for folder in (*folders, Path(os.environ["AIRFLOW_HOME"])):
        counts[str(folder)] = evidence.add_files(folder)
    return counts


def test_the_key_is_nowhere_after_every_method_operator_and_example_dag(
    sandbox,
    make_hook,
    mailpartner,
    run_dag,
    run_example,
    example_root,
    closed_port,
    tmp_path,
    monkeypatch,
    caplog,
    capfd,
):
    sandbox.backend.seed(SEED)
    evidence = Evidence()
    with debug_logging(caplog):
        exercise_hook(evidence, sandbox, make_hook, closed_port)
        exercise_operators(evidence, sandbox, run_dag, tmp_path / "out")
        exercise_examples(evidence, sandbox, run_example, example_root, monkeypatch)
    counts = collect_afterwards(evidence, caplog, capfd, tmp_path)

    # The audit read what it claims to: urllib3's request lines (scrubbed), the runs' rows, the DB.
    assert "apiKey=***" in "\n".join(record.getMessage() for record in caplog.records), "no urllib3 DEBUG line"
    assert counts["xcom"], counts
    assert counts["rendered_task_instance_fields"], counts
    assert counts[str(tmp_path)] >= 15, counts
    assert any(where == f"file {metadata_db()}" for where, _ in evidence.pieces), "the metadata DB was not read"
    assert evidence.leaks() == []


SABOTAGE = {
    "print-quote_plus": ("print('apiKey=' + quote_plus(key))", "stdout"),
    "log-quote-safe-empty": ("logging.getLogger('sabotage').debug('apiKey=%s', quote(key, safe=''))", "log records"),
    "file-base64": ("open({folder!r} + '/leak.txt', 'w').write(base64.b64encode(key.encode()).decode())", "file"),
}


@pytest.mark.parametrize(("leak", "caught_in"), SABOTAGE.values(), ids=SABOTAGE.keys())
def test_the_audit_catches_a_task_that_leaks_the_key(mailpartner, run_dag, tmp_path, caplog, capfd, leak, caught_in):
    task = f"""\
from airflow.sdk import BaseHook, task

@task
def sabotage():
    import base64, logging
    from urllib.parse import quote, quote_plus
    key = BaseHook.get_connection("mailpartner_default").password
    {leak.format(folder=str(tmp_path))}

sabotage()
"""
    evidence = Evidence()
    with debug_logging(caplog):
        assert run_dag(task).state == "success"
    collect_afterwards(evidence, caplog, capfd, tmp_path)
    assert [found for found in evidence.leaks() if found.startswith(caught_in)], evidence.leaks()


def test_the_audit_catches_the_package_leaking_when_its_scrubbing_is_off(sandbox, make_hook, monkeypatch, caplog):
    monkeypatch.setattr(Redactor, "scrub", lambda self, text: text)
    evidence = Evidence()
    with debug_logging(caplog):
        hook = make_hook(max_retries=0)
        sandbox.faults.script(AUTH_ECHO)
        evidence.run("get_credits", hook.get_credits)
        hook.get_unsubscribes()
    evidence.add("log records", "\n".join(record.getMessage() for record in caplog.records))
    assert [found for found in evidence.leaks() if found.startswith("get_credits: traceback")], evidence.leaks()
    assert [found for found in evidence.leaks() if found.startswith("log records")], evidence.leaks()
