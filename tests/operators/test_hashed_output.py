"""UnsubscribeListOperator(hashed_path=...): the whole list hashed beside the file, published with it or not at all."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

import pytest
from airflow.sdk import Asset

from airflow_provider_mailpartner.exceptions import MailPartnerGuardError
from airflow_provider_mailpartner.operators.unsubscribe import UnsubscribeListOperator
from airflow_provider_mailpartner.suppression import SuppressionSet, suppress_csv

DATE = "2024-03-01 09:30:00"
LISTED = [
    {"id": 1, "email": " Jean.Dupont@Example.FR ", "createdAt": DATE},
    {"id": 2, "email": "anne@example.com", "createdAt": DATE},
    {"id": 3, "email": "Paul@Example.org", "createdAt": DATE},
    {"id": 4, "email": "+33612345678", "createdAt": DATE},  # not an e-mail: not hashed, counted
    {"id": 5, "email": "late@example.org", "createdAt": "2024-05-01 10:00:00"},
]
# The common convention, written out: the digest of the trimmed, lower-cased address.
ADDRESSES = ["jean.dupont@example.fr", "anne@example.com", "paul@example.org", "late@example.org"]
SECRET = "shared-with-the-partner-5e3f"


def fetch(tmp_path, run: str = "day1", **arguments: object) -> dict:
    arguments.setdefault("hashed_path", f"file://{tmp_path}/{run}/suppression.txt")
    operator = UnsubscribeListOperator(
        task_id="fetch",
        output_path=f"file://{tmp_path}/{run}/u.jsonl",
        state_path=f"file://{tmp_path}/state",
        **arguments,
    )
    return operator.execute({"params": {}, "run_id": run})  # type: ignore[arg-type]


@pytest.mark.parametrize(("algorithm", "digest"), [("sha256", hashlib.sha256), ("md5", hashlib.md5)])
def test_the_whole_list_is_hashed_as_the_common_convention_with_its_manifest(connection, tmp_path, algorithm, digest):
    connection.backend.seed(LISTED)
    manifest = fetch(tmp_path, hash_algorithm=algorithm, created_since="2024-04-01")
    assert manifest["count"] == 1  # created_since filters the file, never the hashed list
    lines = (tmp_path / "day1" / "suppression.txt").read_text().splitlines()
    assert lines == sorted(digest(address.encode()).hexdigest() for address in ADDRESSES)
    hashed = manifest["hashed_list"]
    assert (hashed["path"], hashed["algorithm"], hashed["count"], hashed["unmatchable"]) == (
        f"file://{tmp_path}/day1/suppression.txt",
        algorithm,
        4,
        1,
    )
    assert hashed["sha256"] == hashlib.sha256((tmp_path / "day1" / "suppression.txt").read_bytes()).hexdigest()
    sidecar = json.loads((tmp_path / "day1" / "suppression.txt.manifest.json").read_text())
    assert sidecar == hashed


def test_a_partner_suppresses_with_the_hashed_list_alone(connection, tmp_path):
    connection.backend.seed(LISTED)
    manifest = fetch(tmp_path)
    suppression = SuppressionSet.from_hashed_manifest(f"file://{tmp_path}/day1/suppression.txt.manifest.json")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email,name\njean.dupont@example.fr,J\nkeep@example.fr,K\nAnne@Example.com,A\n")
    summary = suppress_csv(
        f"file://{contacts}", suppression, f"file://{tmp_path}/clean.csv", f"file://{tmp_path}/r.csv"
    )
    assert summary.suppressed == 2
    assert (tmp_path / "clean.csv").read_text() == "email,name\nkeep@example.fr,K\n"
    assert manifest["hashed_list"]["count"] == len(suppression)


def test_hmac_takes_its_secret_from_a_connection_and_never_shows_it(connection, tmp_path, monkeypatch, caplog):
    connection.backend.seed(LISTED)
    monkeypatch.setenv("AIRFLOW_CONN_PARTNER_HMAC", json.dumps({"conn_type": "generic", "password": SECRET}))
    with caplog.at_level(logging.DEBUG):
        manifest = fetch(tmp_path, hash_algorithm="hmac-sha256", hash_conn_id="partner_hmac")
    lines = (tmp_path / "day1" / "suppression.txt").read_text().splitlines()
    expected = [hmac.new(SECRET.encode(), a.encode(), hashlib.sha256).hexdigest() for a in ADDRESSES]
    assert lines == sorted(expected)
    forms = [SECRET, SECRET.encode().hex(), base64.b64encode(SECRET.encode()).decode()]
    everything = [caplog.text, json.dumps(manifest)] + [
        path.read_text(errors="replace") for path in tmp_path.rglob("*") if path.is_file()
    ]
    assert [form for form in forms if any(form in text for text in everything)] == []


def test_a_refused_run_publishes_neither_the_list_nor_its_hashed_list(connection, tmp_path):
    connection.backend.seed(LISTED)
    fetch(tmp_path, run="day1", hashed_path=f"file://{tmp_path}/fixed/suppression.txt")
    before = {path.name: path.read_bytes() for path in (tmp_path / "fixed").iterdir()}
    for entry_id in (1, 2):
        connection.backend.delete(entry_id)  # 2 of 5 gone: more than max_removed_ratio allows
    with pytest.raises(MailPartnerGuardError):
        fetch(tmp_path, run="day2", hashed_path=f"file://{tmp_path}/fixed/suppression.txt")
    assert {path.name: path.read_bytes() for path in (tmp_path / "fixed").iterdir()} == before


def test_a_fixed_hashed_path_is_an_asset_too(tmp_path):
    operator = UnsubscribeListOperator(
        task_id="fetch", output_path=f"file://{tmp_path}/u.jsonl", hashed_path=f"file://{tmp_path}/h.txt"
    )
    assert {outlet.uri for outlet in operator.outlets if isinstance(outlet, Asset)} == {
        f"file://{tmp_path}/u.jsonl",
        f"file://{tmp_path}/h.txt",
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"output_path": None}, "hashed_path needs output_path"),
        ({"hash_algorithm": "sha1"}, "hash algorithm must be one of"),
        ({"hash_algorithm": "hmac-sha256"}, "hmac-sha256 needs the id of the connection"),
        ({"hash_algorithm": "md5", "hash_conn_id": "partner"}, "md5 takes no secret"),
        ({"hashed_path": "suppression.txt"}, "hashed_path"),
    ],
)
def test_hashed_arguments_are_refused_when_the_dag_is_parsed(arguments, message):
    given = {"output_path": "file:///data/u.jsonl", "hashed_path": "file:///data/h.txt", **arguments}
    with pytest.raises(ValueError, match=message):
        UnsubscribeListOperator(task_id="fetch", **given)


def test_a_failure_while_hashing_publishes_nothing_at_all(connection, tmp_path, monkeypatch):
    from airflow_provider_mailpartner.hashed_lists import HashedListWriter

    connection.backend.seed(LISTED)

    def disk_full(self: HashedListWriter) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(HashedListWriter, "close", disk_full)
    with pytest.raises(OSError, match="No space left"):
        fetch(tmp_path)
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == []  # no list, no state, no staging


@pytest.mark.parametrize("hashed", ["u.jsonl", "u.changes.jsonl"])
def test_a_hashed_path_that_would_overwrite_the_list_is_refused(tmp_path, connection, hashed):
    with pytest.raises(ValueError, match="would overwrite output_path or its changes file"):
        UnsubscribeListOperator(
            task_id="fetch", output_path=f"file://{tmp_path}/u.jsonl", hashed_path=f"file://{tmp_path}/{hashed}"
        )
    templated = UnsubscribeListOperator(  # the same, known only once rendered
        task_id="fetch",
        output_path=f"file://{tmp_path}/{{{{ run_id }}}}/u.jsonl",
        hashed_path=f"file://{tmp_path}/{{{{ run_id }}}}/{hashed}",
        state_path=f"file://{tmp_path}/state",
    )
    templated.output_path = f"file://{tmp_path}/r/u.jsonl"
    templated.hashed_path = f"file://{tmp_path}/r/{hashed}"
    with pytest.raises(ValueError, match="would overwrite"):
        templated.execute({"params": {}, "run_id": "r"})  # type: ignore[arg-type]
    assert not (tmp_path / "r").exists()


def test_a_short_hmac_secret_is_refused(connection, tmp_path, monkeypatch):
    from airflow_provider_mailpartner.exceptions import MailPartnerConfigError

    monkeypatch.setenv("AIRFLOW_CONN_PARTNER_HMAC", json.dumps({"conn_type": "generic", "password": "abc12"}))
    with pytest.raises(MailPartnerConfigError, match="shorter than 16 bytes"):
        fetch(tmp_path, hash_algorithm="hmac-sha256", hash_conn_id="partner_hmac")
