"""The state store in this process's memory: for a backtest, whose runs must leave
no state behind (alert states, journal, leases), and for tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.alerts.machine import AlertState
from shared.state.store import JournalEntry, Versioned

__all__ = ["MemoryStateStore"]


class MemoryStateStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._journal: dict[str, dict[str, JournalEntry]] = {}
        self._leases: dict[str, tuple[str, datetime]] = {}
        self._items: dict[tuple[str, str], tuple[str, int]] = {}
        self._alerts: dict[tuple[str, str], dict[str, str]] = {}

    def __repr__(self) -> str:
        return "MemoryStateStore()"

    def read(self, scope: str, key: str) -> Versioned | None:
        with self._lock:
            found = self._items.get((scope, key))
        return None if found is None else Versioned(json.loads(found[0]), str(found[1]))

    def write(self, scope: str, key: str, value: Any, *, version: str | None) -> bool:
        text = json.dumps(value, separators=(",", ":"), default=str)
        with self._lock:
            current = self._items.get((scope, key))
            if (current is None) != (version is None) or (
                    current is not None and str(current[1]) != version):
                return False
            self._items[(scope, key)] = (text, (current[1] if current else 0) + 1)
            return True

    def journal(self, run_id: str) -> dict[str, JournalEntry]:
        with self._lock:
            return dict(self._journal.get(run_id, {}))

    def record(self, run_id: str, path: str, entry: JournalEntry) -> None:
        with self._lock:
            self._journal.setdefault(run_id, {})[path] = JournalEntry.from_json(entry.to_json())

    def forget_run(self, run_id: str) -> None:
        with self._lock:
            self._journal.pop(run_id, None)

    def try_lease(self, name: str, holder: str, until: datetime) -> bool:
        with self._lock:
            current = self._leases.get(name)
            if current is not None and current[0] != holder and \
                    current[1] > datetime.now(until.tzinfo):
                return False
            self._leases[name] = (holder, until)
            return True

    def release_lease(self, name: str, holder: str) -> None:
        with self._lock:
            if self._leases.get(name, ("", None))[0] == holder:
                del self._leases[name]

    def lease_holder(self, name: str, now: datetime) -> str | None:
        with self._lock:
            current = self._leases.get(name)
        return None if current is None or current[1] <= now else current[0]

    def alert_states(self, flow: str, step: str | None = None,
                     ) -> list[tuple[str, AlertState]]:
        with self._lock:
            found = [(name, kid, text) for (f, name), states in self._alerts.items()
                     if f == flow and step in (None, name) for kid, text in states.items()]
        return [(name, AlertState.from_json(text)) for name, _, text in sorted(found)]

    def all_alert_states(self) -> list[tuple[str, str, AlertState]]:
        with self._lock:
            found = [(flow, name, kid, text) for (flow, name), states in self._alerts.items()
                     for kid, text in states.items()]
        return [(flow, name, AlertState.from_json(text)) for flow, name, _, text in sorted(found)]

    def save_alert_states(self, flow: str, step: str, states: Sequence[AlertState],
                          removed: Sequence[str] = ()) -> None:
        with self._lock:
            kept = self._alerts.setdefault((flow, step), {})
            for state in states:
                kept[state.key_id] = state.to_json()
            for kid in removed:
                kept.pop(kid, None)

    def close(self) -> None:
        return None
