"""The state store's alert-state contract, the same suite on SQLite (the embedded
default), on Azurite's Table service through the real azure-data-tables SDK, and on
the in-memory store a backtest uses: states per (flow, step, key) written, replaced,
deleted and listed in order, with keys of any value; every flow's states listed
in one store query (requests counted on Azurite, SELECTs on SQLite), and by the
service only for flows whose file is still in the folder.

Why: an alert that fires once locally must fire once in Azure; a store that lost or
mixed up keys would re-fire, or never resolve, a real incident. And `alerts`
without a flow must not ask the store once per flow: 1,000 flows were 1,000 queries.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.alerts.machine import AlertState
from shared.errors import FlowNotFound
from shared.loader import load_folder
from shared.resources import Resources
from shared.service import FlowService
from shared.settings import Settings
from shared.state import JournalEntry, StateStore
from shared.state.local import LocalStateStore
from shared.state.memory import MemoryStateStore
from shared.state.table import TableStateStore
from tests.counting_stores import TINY_FLOW, Counter, many_flows
from tests.helpers import settings_for, write_flow

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


# -- every flow's states at once ---------------------------------------------------

class CountingStateStore(LocalStateStore):
    """The SQLite state store, counting the SELECTs it runs."""

    def __init__(self, path: Path, counter: Counter) -> None:
        super().__init__(path)
        self.counter = counter

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with super()._connect() as db:
            db.set_trace_callback(self.counter.sql)
            yield db


class GivenState(Resources):
    """Resources whose state store is *state* (one the test made, and closes)."""

    def __init__(self, settings: Settings, state: StateStore) -> None:
        super().__init__(settings, {})
        self._given = state

    def state(self) -> StateStore:
        return self._given


@pytest.fixture(params=["table", "local"])
def counted(request: pytest.FixtureRequest,
            tmp_path: Path) -> Iterator[tuple[StateStore, Counter]]:
    """A Table (Azurite, no retries) or SQLite state store and what counts its requests."""
    counter = Counter()
    made: Any
    if request.param == "local":
        made = CountingStateStore(tmp_path / "state.sqlite", counter)
    else:
        from azure.data.tables import TableServiceClient

        made = TableStateStore(TableServiceClient.from_connection_string(
            request.getfixturevalue("azurite").connection_string, retry_total=0,
            raw_request_hook=counter), table_prefix=f"t{uuid.uuid4().hex[:10]}")
    yield made, counter
    made.close()


def listed(found: list[tuple[str, str, AlertState]]) -> list[tuple[str, str, str]]:
    return [(flow, step, s.label) for flow, step, s in found]


def test_every_flows_states_are_listed_in_flow_step_and_key_order(store: StateStore) -> None:
    saved = {("zulu", "breach"): ["TEXAS", "IOWA"], ("alpha", "zz"): ["OHIO"],
             ("alpha", "breach"): ["UTAH", "KANSAS"], ("odd/na%me:x", "breach"): ["MAINE"]}
    for (flow, step), labels in saved.items():
        store.save_alert_states(flow, step, [state({"State": label}) for label in labels])
    # The other row kinds of the store are not alert states.
    store.record("run-1", "breach", JournalEntry("Succeeded"))
    assert store.try_lease("alert|lease", "me", NOW)
    assert store.write("alert|scope", "key", {"v": 1}, version=None)
    found = store.all_alert_states()
    assert listed(found) == [
        ("alpha", "breach", "KANSAS"), ("alpha", "breach", "UTAH"), ("alpha", "zz", "OHIO"),
        ("odd/na%me:x", "breach", "MAINE"),
        ("zulu", "breach", "IOWA"), ("zulu", "breach", "TEXAS")]
    # The same states as the per-flow listing, field for field.
    for flow in ("alpha", "odd/na%me:x", "zulu"):
        assert [(step, s) for f, step, s in found if f == flow] == store.alert_states(flow)
    store.save_alert_states("zulu", "breach", [], removed=[state({"State": "IOWA"}).key_id])
    assert ("zulu", "breach", "IOWA") not in listed(store.all_alert_states())


def test_the_alert_states_of_30_flows_cost_one_store_query(
        counted: tuple[StateStore, Counter], tmp_path: Path) -> None:
    store, counter = counted
    catalog = many_flows(tmp_path / "flows", 30)
    names = sorted(catalog.flows)
    for name in [*names, "flow-gone"]:
        for step in ("breach", "other"):
            store.save_alert_states(name, step, [state({"State": "TEXAS"}),
                                                 state({"State": "IOWA"}, "firing", 2)])
    service = FlowService(catalog, GivenState(settings_for(tmp_path), store))
    counter.count = counter.continued = 0
    found = service.alert_states()
    # One query; a request that only fetched the rest of its answer is not another.
    assert counter.count - counter.continued == 1
    assert listed(found) == [(name, step, label) for name in names
                             for step in ("breach", "other") for label in ("IOWA", "TEXAS")]
    counter.count = counter.continued = 0
    assert listed(service.alert_states("flow-0007"))[0] == ("flow-0007", "breach", "IOWA")
    assert counter.count - counter.continued == 1


def test_the_states_of_a_deleted_flow_file_are_not_listed_by_the_service(
        store: StateStore, tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    for name in ("keep", "gone"):
        write_flow(folder, name, TINY_FLOW)
    write_flow(folder, "broken", "steps: [")  # an invalid file: still a flow of the folder
    for name in ("keep", "gone", "broken"):
        store.save_alert_states(name, "breach", [state({"State": "TEXAS"})])
    (folder / "gone.yaml").unlink()
    catalog = load_folder(folder)
    assert "gone" not in catalog.flows and "keep" in catalog.flows and catalog.problems
    service = FlowService(catalog, GivenState(settings_for(tmp_path, flows_dir=folder), store))
    assert listed(service.alert_states()) == [("broken", "breach", "TEXAS"),
                                              ("keep", "breach", "TEXAS")]
    with pytest.raises(FlowNotFound):
        service.alert_states("gone")
    assert [flow for flow, _, _ in store.all_alert_states()] == ["broken", "gone", "keep"]
