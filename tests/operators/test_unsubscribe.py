"""The operators inside real DAGs (dag.test() on SQLite) against the sandbox over loopback."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_mailpartner.operators.assets import asset_uri
from airflow_provider_mailpartner.operators.remove_unsubscribes import RemoveUnsubscribesOperator
from airflow_provider_mailpartner.operators.sql import UnsubscribesToSqlOperator
from airflow_provider_mailpartner.operators.unsubscribe import AddUnsubscribesOperator, UnsubscribeListOperator
from airflow_provider_mailpartner.testing import Fault

PARIS = ZoneInfo("Europe/Paris")
SEED = [
    {"email": "old@example.com", "created_at": "2019-06-01 08:00:00"},
    {"email": ' Quote"d,comma@example.com', "created_at": "2021-01-01 00:00:00"},
    {"email": "zoë@exämple.fr", "created_at": "2024-03-31 02:30:00"},
]


def expected_records(sandbox) -> list[dict]:
    return [
        {
            "id": entry["id"],
            "email": entry["email"].strip(),
            "created_at": datetime.fromisoformat(entry["createdAt"]).replace(tzinfo=PARIS).isoformat(),
        }
        for entry in sandbox.backend.entries()
    ]


def expected_bytes(records: list[dict], output_format: str) -> bytes:
    if output_format == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode()
    if output_format == "json":
        lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]
        return ("[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n").encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "email", "created_at", "odd"])
    writer.writerows([r["id"], r["email"], r["created_at"], r.get("odd", "")] for r in records)
    return buffer.getvalue().encode()


# --- UnsubscribeListOperator ------------------------------------------------------------------


@pytest.mark.parametrize("response_format", ["json", "xml"])
def test_list_to_xcom_returns_every_record(connection, run_dag, response_format):
    connection.backend.seed(SEED)
    result = run_dag(f"UnsubscribeListOperator(task_id='fetch', response_format={response_format!r})")
    assert result.state == "success"
    assert result.xcoms["fetch"] == expected_records(connection)


@pytest.mark.parametrize("output_format", ["jsonl", "csv", "json"])
def test_list_to_storage_writes_exactly_what_the_sandbox_served(connection, run_dag, tmp_path, output_format):
    connection.backend.seed(SEED)
    connection.backend.generate(500, seed=4)
    target = tmp_path / "out" / f"unsubscribes.{output_format}"
    result = run_dag(
        f"UnsubscribeListOperator(task_id='fetch', output_path='file://{target}', output_format={output_format!r})"
    )
    assert result.state == "success"
    content = target.read_bytes()
    assert content == expected_bytes(expected_records(connection), output_format)
    manifest = result.xcoms["fetch"]
    assert {key: manifest[key] for key in ("path", "format", "count", "sha256", "fetched", "added", "removed")} == {
        "path": f"file://{target}",
        "format": output_format,
        "count": 503,
        "sha256": hashlib.sha256(content).hexdigest(),
        "fetched": 503,
        "added": 503,  # a first run (tests/operators/test_list_tracking.py covers the changes)
        "removed": 0,
    }
    assert manifest["odd_entries"] == {}
    changes = target.with_name(f"unsubscribes.changes.{output_format}")
    assert sorted(p.name for p in target.parent.iterdir()) == [".mailpartner-state", changes.name, target.name]


def test_the_list_operator_leaves_hook_lineage_to_its_own_openlineage_report(
    connection, run_dag, tmp_path, hook_lineage
):
    result = run_dag(f"UnsubscribeListOperator(task_id='fetch', output_path='file://{tmp_path}/u.jsonl')")
    assert result.state == "success"
    assert (tmp_path / "u.jsonl").exists()
    assert not hook_lineage.has_collected  # (tests/operators/test_openlineage.py shows the file in its events)


def test_an_empty_list_writes_an_empty_but_valid_file(connection, run_dag, tmp_path):
    result = run_dag(
        f"UnsubscribeListOperator(task_id='fetch', output_path='file://{tmp_path}/u.json', output_format='json')"
    )
    assert result.state == "success"
    assert json.loads((tmp_path / "u.json").read_text()) == []


def test_templated_path_is_rendered_and_a_rerun_replaces_the_file(connection, run_dag, tmp_path):
    connection.backend.seed(SEED[:1])
    task = f"UnsubscribeListOperator(task_id='fetch', output_path='file://{tmp_path}/{{{{ ds }}}}/u.jsonl')"
    when = datetime(2026, 11, 26, 6, 0, tzinfo=ZoneInfo("UTC"))
    assert run_dag(task, logical_date=when).state == "success"
    connection.backend.seed(SEED[1:])
    assert run_dag(task, logical_date=when).state == "success"
    written = (tmp_path / "2026-11-26" / "u.jsonl").read_bytes()
    assert written == expected_bytes(expected_records(connection), "jsonl")
    assert sorted(p.name for p in (tmp_path / "2026-11-26").iterdir()) == ["u.changes.jsonl", "u.jsonl"]


@pytest.mark.parametrize(
    "fault",
    [
        lambda: Fault.truncated(),
        lambda: Fault.raw(json.dumps({"success": True, "code": 200, "nbData": 9, "data": []})),
        lambda: Fault.envelope_error(10),
    ],
    ids=["truncated-body", "nbData-mismatch", "wrong-key"],
)
def test_a_failed_fetch_leaves_the_previous_file_intact_and_nothing_partial(connection, run_dag, tmp_path, fault):
    connection.backend.generate(300, seed=2)
    task = f"UnsubscribeListOperator(task_id='fetch', output_path='file://{tmp_path}/u.csv', output_format='csv')"
    assert run_dag(task).state == "success"
    before = (tmp_path / "u.csv").read_bytes()
    connection.backend.generate(10, seed=3)
    connection.faults.script(*(fault() for _ in range(3)), command="unsubscribe/list")
    result = run_dag(task)
    assert result.state == "failed"
    assert (tmp_path / "u.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mailpartner-state", "u.changes.csv", "u.csv"]


def test_created_since_keeps_only_later_entries(connection, run_dag):
    connection.backend.seed(SEED)
    result = run_dag("UnsubscribeListOperator(task_id='fetch', created_since='2021-01-01')")
    assert [r["email"] for r in result.xcoms["fetch"]] == [SEED[1]["email"].strip(), SEED[2]["email"]]
    result = run_dag("UnsubscribeListOperator(task_id='fetch', created_since='2020-12-31T23:00:00+00:00')")
    assert len(result.xcoms["fetch"]) == 2, "midnight in Paris is 23:00 UTC the day before"


def test_too_many_records_for_xcom_fail_with_advice(connection, run_dag, capfd):
    connection.backend.generate(30, seed=1)
    result = run_dag("UnsubscribeListOperator(task_id='fetch', max_xcom_records=10)")
    assert result.state == "failed"
    assert "fetch" not in result.xcoms
    assert "Set output_path" in "".join(capfd.readouterr())


def test_a_plain_output_path_is_declared_as_an_asset_a_templated_one_is_not():
    plain = UnsubscribeListOperator(task_id="a", output_path="s3://aws_conn@bucket/mp/unsubscribes.jsonl")
    templated = UnsubscribeListOperator(task_id="b", output_path="file:///d/{{ ds }}/u.jsonl")
    assert [outlet.uri for outlet in plain.outlets] == ["s3://bucket/mp/unsubscribes.jsonl"]
    assert templated.outlets == []
    assert asset_uri("file:///data/u.jsonl") == "file:///data/u.jsonl"


def test_bad_arguments_fail_at_parse_time():
    with pytest.raises(ValueError, match="output_format"):
        UnsubscribeListOperator(task_id="x", output_format="xlsx")
    with pytest.raises(ValueError, match="exactly one of emails or input_path"):
        AddUnsubscribesOperator(task_id="y")
    with pytest.raises(ValueError, match="max_requests_per_minute must be above 0"):
        AddUnsubscribesOperator(task_id="z", emails=["a@example.com"], max_requests_per_minute=0)


# --- AddUnsubscribesOperator ------------------------------------------------------------------


def test_add_pushes_normalised_unique_addresses_and_a_rerun_is_harmless(connection, run_dag):
    connection.backend.seed(SEED[:1])
    emails = [" New@Example.com", "new@example.COM", "old@example.com", "not-an-address", "", "zoë@exämple.fr"]
    task = f"AddUnsubscribesOperator(task_id='push', emails={emails!r})"
    first = run_dag(task)
    assert first.state == "success"
    assert first.xcoms["push"] == {"added": 2, "already_listed": 1, "invalid": 1, "failed": 0}
    assert sorted(e["email"] for e in connection.backend.entries()) == [
        "New@Example.com",
        "old@example.com",
        "zoë@exämple.fr",
    ]
    second = run_dag(task)
    assert second.xcoms["push"] == {"added": 0, "already_listed": 3, "invalid": 1, "failed": 0}
    assert len(connection.backend.entries()) == 3


@pytest.mark.parametrize(
    "content",
    ["a@example.com\n\nb@example.com\n", "name,Email\nAnn,a@example.com\nBob,b@example.com\n"],
    ids=["one-per-line", "csv"],
)
def test_add_reads_addresses_from_a_file(connection, run_dag, tmp_path, content):
    (tmp_path / "optouts.txt").write_text(content)
    result = run_dag(f"AddUnsubscribesOperator(task_id='push', input_path='file://{tmp_path}/optouts.txt')")
    assert result.xcoms["push"]["added"] == 2
    assert sorted(e["email"] for e in connection.backend.entries()) == ["a@example.com", "b@example.com"]


def test_add_fails_counting_what_did_not_get_through_and_the_result_file_names_each_address(
    connection, run_dag, capfd, tmp_path
):
    connection.faults.script(*(Fault.http_error(503) for _ in range(3)), command="unsubscribe/add")
    connection.backend.seed([{"id": 7, "email": "c@example.com", "createdAt": "2024-03-01 09:30:00"}])
    emails = ["a@example.com", "b@example.com", "+33612345678", "C@example.com"]
    result = run_dag(
        f"AddUnsubscribesOperator(task_id='push', emails={emails!r}, max_workers=1, "
        f"result_path='file://{tmp_path}/outcomes.csv')"
    )
    assert result.state == "failed"
    output = "".join(capfd.readouterr())
    assert "1 opt-out(s) did not reach MailPartner after retries: 'a***@e***.com'; each address and its error" in output
    assert "MailPartnerAddError" in output
    for value in emails:  # personal data: counts and masked forms only
        assert value.lower() not in output.lower()
    rows = list(csv.DictReader((tmp_path / "outcomes.csv").open()))
    assert [(row["address"], row["outcome"], row["code"]) for row in rows] == [
        ("+33612345678", "invalid", ""),
        ("a@example.com", "failed", ""),
        ("b@example.com", "added", ""),
        ("C@example.com", "already_listed", ""),
    ]
    assert "HTTP 503" in rows[1]["error"]
    assert rows[2]["unsubscribe_id"].isdigit()
    assert sorted(e["email"] for e in connection.backend.entries()) == ["b@example.com", "c@example.com"]


def test_the_result_file_is_written_when_every_address_got_through(connection, run_dag, tmp_path):
    result = run_dag(
        f"AddUnsubscribesOperator(task_id='push', emails=['x@example.com'], result_path='file://{tmp_path}/r.csv')"
    )
    assert result.xcoms["push"] == {
        "added": 1,
        "already_listed": 0,
        "invalid": 0,
        "failed": 0,
        "result_path": f"file://{tmp_path}/r.csv",
    }
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == "address,outcome,code,unsubscribe_id,error"


def test_add_stays_under_the_request_limit_with_many_workers(sandbox, monkeypatch, run_dag):
    sandbox.rate_limit_per_minute = 600
    monkeypatch.setenv("AIRFLOW_CONN_MAILPARTNER_DEFAULT", sandbox.connection_json(extra={"retry_backoff": 0.01}))
    emails = [f"user{n}@example.com" for n in range(40)]
    result = run_dag(f"AddUnsubscribesOperator(task_id='push', emails={emails!r}, max_requests_per_minute=600)")
    assert result.xcoms["push"]["added"] == 40
    adds = [r for r in sandbox.requests if r.command == "unsubscribe/add"]
    assert [r.http_status for r in adds] == [200] * 40, "no request may be refused for exceeding the limit"
    gaps = [later.monotonic - earlier.monotonic for earlier, later in itertools.pairwise(adds)]
    assert min(gaps) >= 0.09, "600/min is one request every 0.1 s"


# --- input helpers ----------------------------------------------------------------------------


def test_a_french_excel_file_of_opt_outs_is_pushed_without_options(connection, run_dag, tmp_path):
    rows = "Id;Prénom;Adresse e-mail;Remarque\r\n1;Zoé;zoe@exemple.fr;désinscrite au salon\r\n2;Lé;lea@exemple.fr;\r\n"
    (tmp_path / "optouts.csv").write_bytes(rows.encode("cp1252"))
    result = run_dag(f"AddUnsubscribesOperator(task_id='push', input_path='file://{tmp_path}/optouts.csv')")
    assert result.xcoms["push"] == {"added": 2, "already_listed": 0, "invalid": 0, "failed": 0}
    assert sorted(entry["email"] for entry in connection.backend.entries()) == ["lea@exemple.fr", "zoe@exemple.fr"]


def test_an_encoding_the_package_does_not_read_is_refused_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match="encoding must be one of"):
        AddUnsubscribesOperator(task_id="push", input_path="file:///x.csv", encoding="latin-9")


# --- found by review: inputs as they really arrive --------------------------------------------


def test_add_reads_a_list_templated_from_an_upstream_xcom(connection, run_dag):
    result = run_dag(
        """
        from airflow.sdk import task

        @task
        def optouts():
            return ["a@example.com", "b@example.com"]

        optouts() >> AddUnsubscribesOperator(task_id="push", emails="{{ ti.xcom_pull(task_ids='optouts') }}")
        """
    )
    assert result.xcoms["push"] == {"added": 2, "already_listed": 0, "invalid": 0, "failed": 0}


@pytest.mark.parametrize(
    "content",
    ["\nname,email\nAnn,a@example.com\n", "nom;Email;ville\nAnn;a@example.com;Lyon\n"],
    ids=["blank-first-line", "semicolons"],
)
def test_add_reads_csv_files_as_spreadsheets_export_them(connection, run_dag, tmp_path, content):
    (tmp_path / "optouts.csv").write_text(content)
    result = run_dag(f"AddUnsubscribesOperator(task_id='push', input_path='file://{tmp_path}/optouts.csv')")
    assert result.xcoms["push"]["added"] == 1
    assert [e["email"] for e in connection.backend.entries()] == ["a@example.com"]


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("AddUnsubscribesOperator(task_id='push', emails=['nobody', 'mailto:x@example.com'])", "None of the 2"),
        ("AddUnsubscribesOperator(task_id='push', input_path='file://{tmp}/empty.txt')", "holds no address"),
    ],
    ids=["all-invalid", "empty-file"],
)
def test_add_fails_when_nothing_usable_came_in(connection, run_dag, tmp_path, capfd, task, message):
    (tmp_path / "empty.txt").write_text("\n")
    assert run_dag(task.format(tmp=tmp_path)).state == "failed"
    assert message in "".join(capfd.readouterr())


def test_add_counts_an_address_the_api_refuses_as_invalid_not_failed(connection, run_dag):
    connection.faults.script(Fault.envelope_error(9), command="unsubscribe/add")
    result = run_dag("AddUnsubscribesOperator(task_id='push', emails=['a@example.com'])")
    assert result.state == "success"
    assert result.xcoms["push"] == {"added": 0, "already_listed": 0, "invalid": 1, "failed": 0}


def test_add_stops_at_the_first_credential_error_and_still_writes_each_outcome(sandbox, monkeypatch, tmp_path):
    from airflow_provider_mailpartner.exceptions import MailPartnerAuthError

    monkeypatch.setenv(
        "AIRFLOW_CONN_MAILPARTNER_DEFAULT", json.dumps({**sandbox.connection_dict(), "password": "bad-key"})
    )
    emails = [f"user{n}@example.com" for n in range(60)]
    operator = AddUnsubscribesOperator(
        task_id="push", emails=emails, max_workers=2, result_path=f"file://{tmp_path}/added.csv"
    )
    with pytest.raises(MailPartnerAuthError):  # the key's error, as it is: not one failure per address
        operator.execute({})  # type: ignore[arg-type]
    assert len(sandbox.requests) <= 4, "one refused key must not cost one request per address"
    outcomes = Counter(row["outcome"] for row in csv.DictReader((tmp_path / "added.csv").open()))
    assert outcomes["not_sent"] >= 56
    assert outcomes["failed"] + outcomes["not_sent"] == 60


def test_a_run_removes_staging_files_of_runs_killed_long_ago_but_not_a_live_writers(connection, run_dag, tmp_path):
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mailpartner.storage import STALE_STAGING_AGE, staging_path

    target = ObjectStoragePath(f"file://{tmp_path}/u.jsonl")
    now = datetime.now(ZoneInfo("UTC"))
    killed = staging_path(target, now - STALE_STAGING_AGE - timedelta(minutes=5))
    live = staging_path(target, now)  # another run, still writing the same target
    for path in (killed, live):
        path.write_text("half a file")
    assert run_dag(f"UnsubscribeListOperator(task_id='fetch', output_path='{target}')").state == "success"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, ".mailpartner-state", "u.changes.jsonl", "u.jsonl"]
    )


def test_an_undefined_name_in_a_template_fails_naming_the_field(connection, run_dag, tmp_path, capfd):
    result = run_dag(
        f"UnsubscribeListOperator.partial(task_id='fetch').expand(output_path=['file://{tmp_path}/{{{{ nope }}}}/u'])"
    )
    assert result.state == "failed"
    assert "output_path: 'nope' is undefined" in "".join(capfd.readouterr())
    assert list(tmp_path.iterdir()) == []


def _list_with_state(path: str) -> UnsubscribeListOperator:
    return UnsubscribeListOperator(task_id="t", output_path="file:///data/u.jsonl", state_path=path)


def _add_with_result(path: str) -> AddUnsubscribesOperator:
    return AddUnsubscribesOperator(task_id="t", emails=["a@example.fr"], result_path=path)


def _remove_with_result(path: str) -> RemoveUnsubscribesOperator:
    return RemoveUnsubscribesOperator(task_id="t", emails=["a@example.fr"], result_path=path)


def _sql_on(conn_id: str) -> UnsubscribesToSqlOperator:
    return UnsubscribesToSqlOperator(task_id="t", unsubscribes={}, sql_conn_id=conn_id)


@pytest.mark.parametrize(
    ("build", "field", "template"),
    [
        (lambda t: UnsubscribeListOperator(task_id="t", output_path=t), "output_path", "file:///data/{{ ds }}/u.jsonl"),
        (_list_with_state, "state_path", "file:///data/{{ ds }}/state"),
        (_add_with_result, "result_path", "file:///data/{{ ds }}/added.csv"),
        (_remove_with_result, "result_path", "file:///data/{{ ds }}/removed.csv"),
        (_sql_on, "sql_conn_id", "crm_{{ ds_nodash }}"),
    ],
    ids=["list-output", "list-state", "add-result", "remove-result", "sql-conn"],
)
def test_a_logical_date_template_in_a_run_without_one_fails_with_the_way_out(build, field, template):
    from airflow.sdk import DAG
    from jinja2 import UndefinedError

    with DAG("manual", schedule=None):  # a DAG's templates fail on undefined names
        operator = build(template)
    with pytest.raises(UndefinedError) as raised:
        operator.render_template_fields({"run_id": "manual__2026-12-03T10:00:00+00:00"})  # type: ignore[typeddict-item]
    message = str(raised.value)
    assert message.startswith(
        f"{field}: '{template.split('{{ ')[1].split(' }}')[0]}' is undefined: this run has no logical date"
    )
    assert "{{ run_id }}" in message
    assert getattr(operator, field) == template, "nothing was half-rendered"


def test_a_template_that_renders_to_nothing_fails_naming_the_field_and_the_template():
    operator = AddUnsubscribesOperator(task_id="push", input_path="{{ run_id[:0] }}")
    with pytest.raises(ValueError, match=r"input_path rendered to nothing from the template '\{\{ run_id\[:0\] \}\}'"):
        operator.render_template_fields({"run_id": "manual__1"})  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    "build",
    [
        lambda: UnsubscribeListOperator(task_id="fetch", output_path=" "),
        lambda: AddUnsubscribesOperator(task_id="push", input_path=""),
    ],
    ids=["output_path", "input_path"],
)
def test_an_empty_path_is_refused_when_the_dag_is_parsed(build):
    with pytest.raises(ValueError, match="is empty"):
        build()


def test_user_outlets_are_kept_and_not_doubled():
    from airflow.sdk import Asset

    named = Asset(name="mp_unsubscribes", uri="file:///data/u.jsonl")
    operator = UnsubscribeListOperator(task_id="a", output_path="file:///data/u.jsonl", outlets=named)
    assert operator.outlets == [named]


def test_created_since_none_as_rendered_text_means_no_filter(connection, run_dag):
    connection.backend.seed(SEED)
    result = run_dag("UnsubscribeListOperator(task_id='fetch', created_since='None')")
    assert len(result.xcoms["fetch"]) == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"output_path": "data/unsubscribes.jsonl"}, "output_path 'data/unsubscribes.jsonl' is a relative path"),
        (
            {"output_path": "file:///data/list.csv"},
            r"is named \.csv but output_format is 'jsonl': set output_format='csv'",
        ),
        ({"output_path": "/d/l.jsonl", "output_format": "json"}, r"named \.jsonl but output_format is 'json'"),
    ],
    ids=["relative", "csv-named-jsonl-written", "jsonl-named-json-written"],
)
def test_paths_that_cannot_mean_what_was_meant_are_refused_when_the_dag_is_parsed(arguments, message):
    with pytest.raises(ValueError, match=message):
        UnsubscribeListOperator(task_id="fetch", **arguments)


def test_a_path_that_renders_relative_or_misnamed_fails_the_task_naming_the_field(connection, run_dag, capfd):
    result = run_dag("UnsubscribeListOperator(task_id='fetch', output_path='{{ run_id[:0] }}out/u.jsonl')")
    assert result.state == "failed"
    assert "output_path 'out/u.jsonl' is a relative path" in "".join(capfd.readouterr())


@pytest.mark.parametrize(
    "spelling", ["file:///data/u.jsonl", "file:///data/u.jsonl/", "file:///data//./u.jsonl", "/data/u.jsonl"]
)
def test_one_path_is_one_asset_however_it_is_spelled(spelling):
    declared = UnsubscribeListOperator(task_id="a", output_path=spelling).outlets
    assert [asset_uri(str(outlet.uri)) for outlet in declared] == [asset_uri("file:///data/u.jsonl")]


def test_a_dry_run_reads_the_list_and_sends_nothing(connection, run_dag, tmp_path):
    connection.backend.seed([{"id": 7, "email": "listed@example.com", "createdAt": "2024-03-01 09:30:00"}])
    emails = ["new@example.com", " LISTED@example.com", "not an address"]
    result = run_dag(
        f"AddUnsubscribesOperator(task_id='push', emails={emails!r}, dry_run=True, result_path='file://{tmp_path}/r.csv')"
    )
    assert result.xcoms["push"] == {
        "added": 0,
        "already_listed": 1,
        "invalid": 1,
        "failed": 0,
        "would_add": 1,
        "result_path": f"file://{tmp_path}/r.csv",
    }
    rows = [(row["address"], row["outcome"]) for row in csv.DictReader((tmp_path / "r.csv").open())]
    assert rows == [
        ("not an address", "invalid"),
        ("new@example.com", "would_add"),
        ("LISTED@example.com", "already_listed"),
    ]
    assert [request.command for request in connection.requests] == ["unsubscribe/list"]
    assert [entry["email"] for entry in connection.backend.entries()] == ["listed@example.com"]


def test_max_adds_refuses_before_sending_anything_and_counts_only_new_addresses(connection, run_dag, capfd):
    connection.backend.seed([{"id": 7, "email": "listed@example.com", "createdAt": "2024-03-01 09:30:00"}])
    emails = ["a@example.com", "b@example.com", "listed@example.com"]
    refused = run_dag(f"AddUnsubscribesOperator(task_id='push', emails={emails!r}, max_adds=1)")
    assert refused.state == "failed"
    assert "2 address(es) are not on MailPartner's list yet, more than max_adds=1: nothing was sent" in "".join(
        capfd.readouterr()
    )
    assert [request.command for request in connection.requests] == ["unsubscribe/list"]
    accepted = run_dag(f"AddUnsubscribesOperator(task_id='push', emails={emails!r}, max_adds=2)")
    assert accepted.xcoms["push"] == {"added": 2, "already_listed": 1, "invalid": 0, "failed": 0}
    assert [r.command for r in connection.requests].count("unsubscribe/add") == 2  # the listed one is not sent


def test_a_negative_max_adds_is_refused_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match="max_adds must be a count"):
        AddUnsubscribesOperator(task_id="push", emails=["a@example.com"], max_adds=-1)
