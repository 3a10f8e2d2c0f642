"""The asset pair: the producer's event carries the manifest; the consumer suppresses with a checked list."""

from __future__ import annotations

import csv

import pytest

FILE = "example_mailpartner_assets.py"
PRODUCER, CONSUMER = "example_mailpartner_asset_producer", "example_mailpartner_asset_consumer"


@pytest.fixture
def contacts(example_root, mailpartner):
    mailpartner.backend.seed(
        [
            {"id": 5, "email": "Listed@Example.com", "created_at": "2024-05-05 05:05:05"},
            {"id": 6, "email": "also.listed@gmail.com", "created_at": "2024-06-06 06:06:06"},
        ]
    )
    (example_root / "contacts.csv").write_text("email,plan\nlisted@example.com,gold\nkept@example.com,free\n")
    return example_root


def latest_event_extra(uri):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.id.desc())
        )
        event = session.scalars(query).first()
        return None if event is None else dict(event.extra)


def test_the_consumer_suppresses_with_the_list_the_producer_announced(run_example, contacts):
    produced = run_example(FILE, PRODUCER)

    assert produced.state == "success"
    manifest = produced.xcoms["fetch_unsubscribes"]
    assert latest_event_extra(f"file://{contacts}/latest/unsubscribes.jsonl") == manifest
    assert manifest["count"] == 2

    consumed = run_example(FILE, CONSUMER)

    assert consumed.state == "success"
    assert (contacts / "latest" / "contacts.clean.csv").read_text() == "email,plan\nkept@example.com,free\n"
    with (contacts / "latest" / "contacts.suppressed.csv").open(newline="") as handle:
        assert [(row["row"], row["unsubscribe_id"]) for row in csv.DictReader(handle)] == [("1", "5")]


def test_the_consumer_refuses_a_list_file_that_changed_after_its_event(run_example, contacts):
    assert run_example(FILE, PRODUCER).state == "success"
    list_file = contacts / "latest" / "unsubscribes.jsonl"
    list_file.write_text(list_file.read_text().splitlines(keepends=True)[0])  # half the list is gone

    consumed = run_example(FILE, CONSUMER)

    assert consumed.state == "failed"
    assert not (contacts / "latest" / "contacts.clean.csv").exists()
