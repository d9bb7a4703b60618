"""The state store's contract, on SQLite (the embedded default) and on Azurite's Table
service through the real azure-data-tables SDK: the step journal, leases that only one
holder wins, and small versioned values whose writes fail when someone wrote first.

Why: exactly-once side effects, the overlap policy, alert state and failure-notice grace
all rest on these three; both stores must behave the same, or a flow that works locally
double-mails in Azure.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.state import JournalEntry, StateStore
from shared.state.local import LocalStateStore
from shared.state.table import TableStateStore


@pytest.fixture(params=["local", "table"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "local":
        made: Any = LocalStateStore(tmp_path / "state.sqlite")
    else:
        azurite = request.getfixturevalue("azurite")
        made = TableStateStore.from_connection_string(
            azurite.connection_string, table_prefix=f"t{uuid.uuid4().hex[:10]}")
    yield made
    made.close()


def test_the_journal_keeps_each_steps_latest_entry_and_forgets_a_run(store: StateStore) -> None:
    run = uuid.uuid4().hex
    store.record(run, "mail", JournalEntry("Running"))
    store.record(run, "mail", JournalEntry("Succeeded", "sent", {"message_id": "m1"}))
    store.record(run, "each[1].mail", JournalEntry("Failed", error={"code": "EmailFailed"}))
    store.record("other-run", "mail", JournalEntry("Running"))
    journal = store.journal(run)
    assert journal["mail"] == JournalEntry("Succeeded", "sent", {"message_id": "m1"})
    assert journal["each[1].mail"].error == {"code": "EmailFailed"}
    assert set(journal) == {"mail", "each[1].mail"}
    store.forget_run(run)
    assert store.journal(run) == {} and set(store.journal("other-run")) == {"mail"}


def test_outputs_too_large_to_keep_are_dropped_but_the_outcome_is_kept(
        store: StateStore) -> None:
    run = uuid.uuid4().hex
    store.record(run, "q", JournalEntry("Succeeded", "big", {"rows": ["x" * 100] * 1000}))
    entry = store.journal(run)["q"]
    assert entry.status == "Succeeded" and "outputs_dropped" in entry.outputs


def test_a_lease_has_one_holder_until_it_expires_or_is_released(store: StateStore) -> None:
    name, now = f"flow-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    assert store.try_lease(name, "run-a", now + timedelta(minutes=5))
    assert not store.try_lease(name, "run-b", now + timedelta(minutes=5))
    assert store.lease_holder(name, now) == "run-a"
    assert store.try_lease(name, "run-a", now + timedelta(minutes=9))  # extended
    store.release_lease(name, "run-b")  # not the holder: nothing happens
    assert store.lease_holder(name, now) == "run-a"
    store.release_lease(name, "run-a")
    assert store.lease_holder(name, now) is None
    assert store.try_lease(name, "run-b", now - timedelta(seconds=1))  # already expired
    assert store.try_lease(name, "run-c", now + timedelta(minutes=5))


def test_a_versioned_write_fails_when_someone_wrote_first(store: StateStore) -> None:
    scope, key = "test", uuid.uuid4().hex
    assert store.read(scope, key) is None
    assert store.write(scope, key, {"n": 1}, version=None)
    assert not store.write(scope, key, {"n": 99}, version=None)  # exists already
    first = store.read(scope, key)
    assert first is not None and first.value == {"n": 1}
    assert store.write(scope, key, {"n": 2}, version=first.version)
    assert not store.write(scope, key, {"n": 3}, version=first.version)  # stale version
    latest = store.read(scope, key)
    assert latest is not None and latest.value == {"n": 2}
