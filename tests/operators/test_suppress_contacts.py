"""SuppressContactsOperator in real DAGs (dag.test()) against the sandbox: the main job as French users run it."""

from __future__ import annotations

import csv
import io
import json

import pytest

from airflow_provider_mailpartner.operators.suppression import SuppressContactsOperator

LISTED = [
    {"email": "zoe.lefevre@exemple.fr", "created_at": "2024-03-31 02:30:00"},
    {"email": "jean-francois@orange.fr", "created_at": "2024-10-27 02:30:00"},
]
# A French Excel export: cp1252, ";", CRLF, "Adresse e-mail", accents elsewhere, quoted separators and
# line breaks, listed addresses in another case and spacing, an invalid one.
ROWS = [
    ("N°", "Prénom", "Nom", "Adresse e-mail", "Ville", "Remarque"),
    ("1", "Zoé", "Lefèvre", "ZOE.LEFEVRE@exemple.fr", "Lyon; 2e", "aime « les promos »"),
    ("2", "Léa", "Müller", "lea.muller@free.fr", "Nice", 'dit "non merci"'),
    ("3", "Jean-François", "Dœuf", " Jean-Francois@Orange.fr ", "Paris", "deux\r\nlignes"),
    ("4", "Chloé", "Gérard", "chloe@exemple", "Montréal", ""),
    ("5", "Noël", "Ça", "noel.ca@wanadoo.fr", "Besançon", "€ 12,50"),
]


def excel(rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("cp1252")


TASKS = """
fetch = UnsubscribeListOperator(task_id="fetch", output_path="file://{root}/{{{{ run_id }}}}/unsubscribes.jsonl")
SuppressContactsOperator(
    task_id="suppress",
    unsubscribes={unsubscribes},
    contacts_path="file://{root}/contacts.csv",
    clean_path="file://{root}/published/contacts.clean.csv",
    report_path="file://{root}/published/contacts.suppressed.csv",
)
"""


@pytest.fixture
def contacts(connection, tmp_path):
    connection.backend.seed(LISTED)
    (tmp_path / "contacts.csv").write_bytes(excel(ROWS))
    return tmp_path


def test_a_french_excel_export_is_suppressed_with_no_options_and_keeps_its_dialect(contacts, run_dag):
    result = run_dag(TASKS.format(root=contacts, unsubscribes="fetch.output"))

    assert result.state == "success"
    assert (contacts / "published/contacts.clean.csv").read_bytes() == excel([ROWS[0], ROWS[2], ROWS[5]])
    assert (contacts / "published/contacts.suppressed.csv").read_bytes() == excel(
        [
            ("row", "email", "reason", "unsubscribe_id"),
            ("1", "ZOE.LEFEVRE@exemple.fr", "unsubscribed", "1"),
            ("3", " Jean-Francois@Orange.fr ", "unsubscribed", "2"),
            ("4", "chloe@exemple", "invalid_email", ""),
        ]
    )
    summary = result.xcoms["suppress"]
    assert {key: summary[key] for key in ("rows_in", "rows_out", "suppressed", "invalid")} == {
        "rows_in": 5,
        "rows_out": 2,
        "suppressed": 2,
        "invalid": 1,
    }


@pytest.mark.parametrize(
    "unsubscribes",
    [
        "\"{{ ti.xcom_pull(task_ids='fetch') }}\"",  # a manifest rendered to text, read back
        "\"{{ ti.xcom_pull(task_ids='fetch')['path'] }}\"",  # the list file's path, without its check
    ],
    ids=["manifest-as-text", "record-file-path"],
)
def test_the_list_may_come_as_a_templated_manifest_or_a_file_path(contacts, run_dag, unsubscribes):
    result = run_dag(TASKS.format(root=contacts, unsubscribes=unsubscribes) + "fetch >> dag.get_task('suppress')\n")
    assert result.state == "success"
    assert result.xcoms["suppress"]["suppressed"] == 2


def test_a_list_file_changed_after_its_fetch_publishes_nothing(contacts, run_dag):
    (contacts / "published").mkdir()
    (contacts / "published/contacts.clean.csv").write_bytes(b"yesterday's clean list")
    tasks = TASKS.format(root=contacts, unsubscribes="fetch.output") + (
        "from airflow.sdk import task\n"
        "@task\n"
        "def tamper(manifest):\n"
        "    from pathlib import Path\n"
        "    Path(manifest['path'].removeprefix('file://')).write_text('')\n"
        "tamper(fetch.output) >> dag.get_task('suppress')\n"
    )
    result = run_dag(tasks)

    assert result.state == "failed"
    assert result.task_states["suppress"] == "failed"
    assert (contacts / "published/contacts.clean.csv").read_bytes() == b"yesterday's clean list"
    assert sorted(path.name for path in (contacts / "published").iterdir()) == ["contacts.clean.csv"]


def test_a_fixed_clean_path_is_an_asset_a_templated_one_is_not():
    fixed = SuppressContactsOperator(
        task_id="a", unsubscribes={}, contacts_path="/c.csv", clean_path="s3://crm@b/clean.csv", report_path="/r.csv"
    )
    templated = SuppressContactsOperator(
        task_id="b", unsubscribes={}, contacts_path="/c.csv", clean_path="file:///{{ run_id }}/c.csv", report_path="/r"
    )
    assert [outlet.uri for outlet in fixed.outlets] == ["s3://b/clean.csv"]
    assert templated.outlets == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"contacts_path": " "}, "contacts_path is empty"),
        ({"clean_path": ""}, "clean_path is empty"),
        ({"encoding": "latin-1"}, "encoding must be one of"),
        ({"delimiter": ";;"}, "delimiter must be one character"),
        ({"report_path": "out/report.csv"}, "report_path 'out/report.csv' is a relative path"),
    ],
)
def test_bad_arguments_are_refused_when_the_dag_is_parsed(arguments, message):
    given = {"unsubscribes": {}, "contacts_path": "/c", "clean_path": "/k", "report_path": "/r", **arguments}
    with pytest.raises(ValueError, match=message):
        SuppressContactsOperator(task_id="s", **given)


def test_the_summary_is_plain_json(contacts, run_dag):
    result = run_dag(TASKS.format(root=contacts, unsubscribes="fetch.output"))
    json.dumps(result.xcoms["suppress"])


@pytest.mark.parametrize(
    "given",
    [
        '{"records": [{"id": 1, "email": "jean.dupont@example.fr", "created_at": null}]}',  # JSON, not Python
        "{'email': 'jean.dupont@example.fr'} and more",
    ],
)
def test_text_that_is_not_a_manifest_is_refused_without_quoting_the_addresses_it_holds(given):
    from airflow_provider_mailpartner.operators.suppression import manifest_of

    with pytest.raises(ValueError, match="neither a manifest nor a path") as caught:
        manifest_of(given)
    assert "j***@e***.fr" in str(caught.value)
    assert "jean.dupont" not in str(caught.value)


@pytest.mark.parametrize(
    "given", [[{"id": 1, "email": "jean.dupont@example.fr"}], "[{'id': 1, 'email': 'jean.dupont@example.fr'}]"]
)
def test_records_instead_of_a_manifest_are_refused_without_quoting_them(given):
    from airflow_provider_mailpartner.operators.suppression import suppression_set

    with pytest.raises(ValueError, match="holds records, not the list operator's manifest") as caught:
        suppression_set(given)
    assert "jean" not in str(caught.value)
