"""Record files read back exactly as written, and refused when they are not what was written."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_mailpartner.record_files import RecordFileError, read_records, write_records

RECORDS = [
    {"id": 1, "email": "zoë@exämple.fr", "created_at": "2024-03-31T01:59:59+01:00"},
    {"id": 2, "email": 'odd,"quoted"@example.com', "created_at": "2024-03-31T03:00:00+02:00"},
    {"id": 3, "email": "plain@example.com", "created_at": "2024-10-27T02:30:00+02:00"},
]


@pytest.mark.parametrize("output_format", ["jsonl", "csv", "json"])
@pytest.mark.parametrize("records", [RECORDS, []], ids=["three", "empty"])
def test_what_is_written_reads_back_the_same_and_matches_its_manifest(tmp_path, output_format, records):
    path = ObjectStoragePath(f"file://{tmp_path}/list.{output_format}")
    manifest = write_records(iter(records), path, output_format)
    assert list(read_records(path, sha256=manifest["sha256"])) == records


def test_jsonl_lines_are_compact_json_in_the_documented_key_order(tmp_path):
    path = ObjectStoragePath(f"file://{tmp_path}/list.jsonl")
    write_records(iter(RECORDS), path, "jsonl")
    lines = [json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n" for record in RECORDS]
    assert path.read_bytes() == "".join(lines).encode()


@pytest.mark.parametrize("output_format", ["jsonl", "csv", "json"])
def test_lineage_never_names_the_hidden_staging_file(tmp_path, output_format, hook_lineage):
    path = ObjectStoragePath(f"file://{tmp_path}/list.{output_format}")
    write_records(iter(RECORDS), path, output_format)
    assets = hook_lineage.collected_assets
    assert [asset.asset.uri for asset in assets.outputs] == [f"file://{tmp_path}/list.{output_format}"]
    assert assets.inputs == []


def test_a_writer_that_reports_its_own_lineage_leaves_the_collector_alone(tmp_path, hook_lineage):
    write_records(iter(RECORDS), ObjectStoragePath(f"file://{tmp_path}/list.jsonl"), "jsonl", lineage=False)
    assert not hook_lineage.has_collected


@pytest.mark.parametrize("output_format", ["jsonl", "csv", "json"])
def test_a_file_changed_after_its_manifest_is_refused_at_the_end(tmp_path, output_format):
    path = ObjectStoragePath(f"file://{tmp_path}/list.{output_format}")
    manifest = write_records(iter(RECORDS), path, output_format)
    path.write_bytes(path.read_bytes().replace(b"plain@", b"pla1n@"))
    with pytest.raises(RecordFileError, match=r"SHA-256 .* its manifest says"):
        list(read_records(path, sha256=manifest["sha256"]))


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("list.jsonl", b'{"id": 1, "email": "a@b.fr"}\n', "record 1 is not"),
        ("list.jsonl", b'{"id": "1", "email": "a@b.fr", "created_at": "x"}\n', "record 1 is not"),
        ("list.jsonl", b"not json\n", "record 1 is not JSON"),
        ("list.csv", b"email,id,created_at\n", "the header is not"),
        ("list.csv", b"id,email,created_at\nx,a@b.fr,2024\n", "record 1 is not an id"),
        ("list.csv", b"id,email,created_at,odd\n1,a@b.fr,2024\n", "record 1 is not an id"),
        ("list.jsonl", b'{"id": 1, "email": "a@b.fr", "created_at": "x", "extra": 1}\n', "record 1 is not"),
        ("list.jsonl", b'{"id": 1, "email": "a@b.fr", "created_at": "x", "odd": 5}\n', "record 1 is not"),
        ("list.json", b'{"id": 1}', "holds one array"),
        ("list.jsonl", b'{"id": 1, "email": "\xff@b.fr", "created_at": "x"}\n', "not UTF-8"),
        ("list.txt", b"", "cannot tell the format"),
    ],
)
def test_malformed_record_files_are_refused_with_the_reason(tmp_path, name, content, problem):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(RecordFileError, match=problem):
        list(read_records(ObjectStoragePath(f"file://{tmp_path}/{name}")))


ODD_RECORDS = [
    {"id": 1, "email": "a@example.fr", "created_at": "2024-03-01T09:30:00+01:00"},
    {"id": None, "email": "zero.id@example.fr", "created_at": "2024-03-01T09:30:00+01:00", "odd": "id_not_usable"},
    {"id": 3, "email": "+33612345678", "created_at": None, "odd": "not_an_email,date_not_readable"},
]


@pytest.mark.parametrize("output_format", ["jsonl", "csv", "json"])
def test_odd_records_read_back_as_written(tmp_path, output_format):
    path = ObjectStoragePath(f"file://{tmp_path}/list.{output_format}")
    manifest = write_records(ODD_RECORDS, path, output_format)
    assert list(read_records(path, sha256=manifest["sha256"])) == ODD_RECORDS
    if output_format == "csv":
        assert (tmp_path / "list.csv").read_text().splitlines() == [
            "id,email,created_at,odd",
            "1,a@example.fr,2024-03-01T09:30:00+01:00,",
            ",zero.id@example.fr,2024-03-01T09:30:00+01:00,id_not_usable",
            '3,+33612345678,,"not_an_email,date_not_readable"',
        ]


def test_a_csv_written_before_the_odd_column_still_reads(tmp_path):
    (tmp_path / "old.csv").write_text("id,email,created_at\n7,a@example.fr,2024-03-01T09:30:00+01:00\n")
    assert list(read_records(ObjectStoragePath(f"file://{tmp_path}/old.csv"))) == [
        {"id": 7, "email": "a@example.fr", "created_at": "2024-03-01T09:30:00+01:00"}
    ]


def test_a_folder_at_the_target_path_is_refused_and_left_as_it_was(tmp_path):
    (tmp_path / "list.jsonl").mkdir()
    (tmp_path / "list.jsonl" / "keep.txt").write_text("mine")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        write_records(iter(RECORDS), ObjectStoragePath(f"file://{tmp_path}/list.jsonl"), "jsonl")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["keep.txt", "list.jsonl"]
