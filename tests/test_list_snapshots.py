"""Property test of change tracking: over generated histories, with a failure injected at a random step of
random runs, the changes written are the set difference of the two snapshots, the state always names a
complete snapshot, and a run that fails (a guard, a disk error) publishes nothing the state depends on."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airflow_provider_mailpartner import list_snapshots
from airflow_provider_mailpartner.exceptions import MailPartnerGuardError
from airflow_provider_mailpartner.list_changes import Guards
from airflow_provider_mailpartner.list_snapshots import Tracking, publish_with_changes
from airflow_provider_mailpartner.list_state import read_state, snapshot_rows

STEPS = ["_write_list", "_write_changes", "staged", "write_state"]

lists = st.dictionaries(st.integers(1, 40), st.sampled_from(["a@x.fr", "b@x.fr", "c@y.fr"]), max_size=25)
days = st.lists(
    st.tuples(lists, st.booleans(), st.sampled_from([None, None, *STEPS])),  # (list, in id order, failing step)
    min_size=1,
    max_size=6,
)


def as_records(entries: dict[int, str], in_order: bool) -> list[dict]:
    ids = sorted(entries) if in_order else sorted(entries, key=lambda i: (i * 7919) % 41)
    return [{"id": i, "email": entries[i], "created_at": "2024-03-01T09:30:00+01:00"} for i in ids]


def difference(previous: list[dict], current: list[dict]) -> list[dict]:
    before, after = {r["id"]: r for r in previous}, {r["id"]: r for r in current}
    found = [{**after[i], "change": "added"} for i in after.keys() - before.keys()]
    found += [{**before[i], "change": "removed"} for i in before.keys() - after.keys()]
    found += [{**after[i], "change": "changed"} for i in after.keys() & before.keys() if after[i] != before[i]]
    return sorted(found, key=lambda change: (change["id"], change["change"]))


def named_snapshot(folder) -> list[dict] | None:
    """The entries of the snapshot the state names, read and checked (SHA-256, count) as a run reads them."""
    state = read_state(folder)
    if state is None:
        return None
    rows = snapshot_rows(state["snapshot"], folder / "state.json")
    return sorted(({"id": r.id, "email": r.email, "created_at": r.created_at} for r in rows), key=lambda r: r["id"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days)
def test_changes_are_the_set_difference_and_the_state_always_names_a_whole_snapshot(monkeypatch, history):
    from airflow.sdk import ObjectStoragePath

    with tempfile.TemporaryDirectory() as workdir, monkeypatch.context() as patch:
        root = ObjectStoragePath(f"file://{workdir}")
        published: list[dict] | None = None
        for day, (entries, in_order, failing) in enumerate(history):
            records = as_records(entries, in_order)
            tracking = Tracking(root / "state", Guards(max_removed_ratio=0.5), "conn", f"run{day}")
            if failing is not None:
                real = getattr(list_snapshots, failing)
                patch.setattr(list_snapshots, failing, _fails_once(real, failing))
            try:
                manifest = publish_with_changes(records, root / f"runs/{day}/u.jsonl", "jsonl", tracking)
            except (OSError, MailPartnerGuardError) as error:
                event(f"refused: {type(error).__name__}")
                assert named_snapshot(root / "state") == published  # the last good snapshot, whole
                continue
            finally:
                if failing is not None:
                    patch.setattr(list_snapshots, failing, real)
            changes = [
                json.loads(line) for line in Path(workdir, f"runs/{day}/u.changes.jsonl").read_text().splitlines()
            ]
            assert sorted(changes, key=lambda c: (c["id"], c["change"])) == difference(published or [], records)
            assert manifest["first_snapshot"] == (published is None)
            event("published" if in_order else "published, ids not in order")
            published = sorted(records, key=lambda r: r["id"])
            assert named_snapshot(root / "state") == published
        assert not [p for p in Path(workdir).rglob("*") if ".partial-" in p.name]


def _fails_once(real, step: str):
    calls = 0

    def failing(*args, **kwargs):
        nonlocal calls
        calls += 1
        if step == "staged" and calls < 3:  # the list's and the changes' staging files: fail on the snapshot's
            return real(*args, **kwargs)
        raise OSError(f"disk full in {step}")

    return failing


@pytest.mark.parametrize("in_order", [True, False])
def test_an_empty_list_is_refused_after_a_full_one(tmp_path, in_order):
    from airflow.sdk import ObjectStoragePath

    root = ObjectStoragePath(f"file://{tmp_path}")
    tracking = Tracking(root / "state", Guards(), "conn", "r1")
    publish_with_changes(as_records({1: "a@x.fr", 2: "b@x.fr"}, in_order), root / "u.jsonl", "jsonl", tracking)
    with pytest.raises(MailPartnerGuardError, match="is empty"):
        publish_with_changes([], root / "u.jsonl", "jsonl", Tracking(root / "state", Guards(), "conn", "r2"))
    assert [r["id"] for r in named_snapshot(root / "state")] == [1, 2]
