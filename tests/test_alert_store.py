"""The state store's alert-state contract, the same suite on SQLite (the embedded
default), on Azurite's Table service through the real azure-data-tables SDK, and on
the in-memory store a backtest uses: states per (flow, step, key) written, replaced,
deleted and listed in order, with keys of any value.

Why: an alert that fires once locally must fire once in Azure; a store that lost or
mixed up keys would re-fire, or never resolve, a real incident.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.alerts.machine import AlertState
from shared.state import StateStore
from shared.state.local import LocalStateStore
from shared.state.memory import MemoryStateStore
from shared.state.table import TableStateStore

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["local", "table", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    made: Any
    if request.param == "local":
        made = LocalStateStore(tmp_path / "state.sqlite")
    elif request.param == "memory":
        made = MemoryStateStore()
    else:
        azurite = request.getfixturevalue("azurite")
        made = TableStateStore.from_connection_string(
            azurite.connection_string, table_prefix=f"t{uuid.uuid4().hex[:10]}")
    yield made
    made.close()


def state(key: dict[str, Any], status: str = "pending", evaluations: int = 1,
          row: dict[str, Any] | None = None) -> AlertState:
    firing = status == "firing"
    return AlertState(key, "firing" if firing else "pending", NOW, evaluations,
                      "1" * evaluations, row if row is not None else dict(key),
                      NOW + timedelta(minutes=evaluations),
                      fired_at=NOW if firing else None, notified_at=NOW if firing else None,
                      breach_times=(NOW,) * evaluations)


def test_states_are_kept_per_flow_step_and_key(store: StateStore) -> None:
    flow = f"f-{uuid.uuid4().hex[:8]}"
    texas, kansas = state({"State": "TEXAS"}), state({"State": "KANSAS"}, "firing", 3)
    store.save_alert_states(flow, "breach", [texas, kansas])
    store.save_alert_states(flow, "other", [state({"State": "TEXAS"}, evaluations=2)])
    store.save_alert_states("another-flow", "breach", [state({"State": "IOWA"})])
    # In step then key order; as written (the key ids: ["KANSAS"] < ["TEXAS"]).
    assert store.alert_states(flow, "breach") == [("breach", kansas), ("breach", texas)]
    listed = store.alert_states(flow)
    assert [(step, s.label) for step, s in listed] == [
        ("breach", "KANSAS"), ("breach", "TEXAS"), ("other", "TEXAS")]
    assert [s.evaluations for step, s in listed if step == "other"] == [2]
    assert store.alert_states("no-such-flow") == []


def test_a_save_replaces_changed_keys_and_deletes_removed_ones(store: StateStore) -> None:
    flow = f"f-{uuid.uuid4().hex[:8]}"
    texas, kansas, iowa = (state({"State": s}) for s in ("TEXAS", "KANSAS", "IOWA"))
    store.save_alert_states(flow, "breach", [texas, kansas, iowa])
    firing = state({"State": "TEXAS"}, "firing", 2, {"State": "TEXAS", "Damage": 250000})
    store.save_alert_states(flow, "breach", [firing], removed=[kansas.key_id, "[\"GONE\"]"])
    kept = {s.label: s for _, s in store.alert_states(flow, "breach")}
    assert kept == {"TEXAS": firing, "IOWA": iowa}
    assert kept["TEXAS"].row == {"State": "TEXAS", "Damage": 250000}
    store.save_alert_states(flow, "breach", [], removed=[firing.key_id, iowa.key_id])
    assert store.alert_states(flow) == []


def test_keys_of_any_value_and_length_are_told_apart(store: StateStore) -> None:
    flow = f"f-{uuid.uuid4().hex[:8]}"
    keys = [{"Service": "a/b#c?d\\e", "Region": "x"}, {"Service": "a/b#c?d\\e", "Region": "y"},
            {"Service": "é" * 600, "Region": None}, {"Service": 42, "Region": True},
            {"Service": "42", "Region": "true"}]
    store.save_alert_states(flow, "step.with/odd#chars", [state(k) for k in keys])
    found = [s.key for _, s in store.alert_states(flow, "step.with/odd#chars")]
    assert sorted(map(repr, found)) == sorted(map(repr, keys))


def test_a_state_with_a_large_row_is_kept_without_the_row(store: StateStore) -> None:
    flow = f"f-{uuid.uuid4().hex[:8]}"
    big = state({"State": "TEXAS"}, row={"State": "TEXAS", "Notes": "x" * 40_000})
    store.save_alert_states(flow, "breach", [big])
    [(_, kept)] = store.alert_states(flow)
    assert kept.row == {"row_dropped": "too large to keep"} and kept.history == "1"


def test_more_keys_than_one_table_transaction_holds_are_all_written(store: StateStore) -> None:
    flow = f"f-{uuid.uuid4().hex[:8]}"
    states = [state({"Id": i}) for i in range(230)]
    store.save_alert_states(flow, "breach", states)
    assert len(store.alert_states(flow, "breach")) == 230
    store.save_alert_states(flow, "breach", [], removed=[s.key_id for s in states[:200]])
    assert sorted(s.key["Id"] for _, s in store.alert_states(flow)) == list(range(200, 230))
