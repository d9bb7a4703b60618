"""The state store in a SQLite file (`<state_dir>/state.sqlite`): the embedded default.

Each call opens its own connection; a lease is taken in one `BEGIN IMMEDIATE`
transaction, so two processes never both hold it. The file is in WAL mode with one
idle connection kept open, as the local run store's (`shared/sqlite_file.py`): a
queued run's five calls (journal, lease, forget) no longer each create, sync and
delete a rollback journal.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.sqlite_file import WalFile
from shared.state.store import JournalEntry, StateStoreUnavailable, Versioned

if TYPE_CHECKING:  # imported where used: alerts are not needed to start the app
    from shared.alerts.machine import AlertState

__all__ = ["LocalStateStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    run_id TEXT NOT NULL, path TEXT NOT NULL, entry TEXT NOT NULL,
    PRIMARY KEY (run_id, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, until TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS items (
    scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (scope, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
    flow TEXT NOT NULL, step TEXT NOT NULL, key_id TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (flow, step, key_id)) WITHOUT ROWID;
"""


def _prepare(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


class LocalStateStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._file = WalFile(self.path, _prepare, timeout=10)

    def __repr__(self) -> str:
        return f"LocalStateStore({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._file.open(isolation_level=None) as db:
                yield db
        except sqlite3.Error as exc:
            raise StateStoreUnavailable(f"the state store {self.path} failed: {exc}",
                                        hint="check that STATE_DIR is writable") from exc
        except OSError as exc:
            raise StateStoreUnavailable(f"the state store {self.path} failed: {exc}",
                                        hint="check that STATE_DIR is writable") from exc

    def read(self, scope: str, key: str) -> Versioned | None:
        with self._connect() as db:
            row = db.execute("SELECT value, version FROM items WHERE scope = ? AND key = ?",
                             (scope, key)).fetchone()
        return None if row is None else Versioned(json.loads(row[0]), str(row[1]))

    def write(self, scope: str, key: str, value: Any, *, version: str | None) -> bool:
        text = json.dumps(value, separators=(",", ":"), default=str)
        with self._connect() as db:
            if version is None:
                done = db.execute("INSERT OR IGNORE INTO items VALUES (?, ?, ?, 1)",
                                  (scope, key, text))
            else:
                done = db.execute("UPDATE items SET value = ?, version = version + 1 "
                                  "WHERE scope = ? AND key = ? AND version = ?",
                                  (text, scope, key, int(version)))
            return done.rowcount == 1

    def journal(self, run_id: str) -> dict[str, JournalEntry]:
        with self._connect() as db:
            rows = db.execute("SELECT path, entry FROM journal WHERE run_id = ?", (run_id,))
            return {path: JournalEntry.from_json(entry) for path, entry in rows}

    def record(self, run_id: str, path: str, entry: JournalEntry) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO journal VALUES (?, ?, ?)",
                       (run_id, path, entry.to_json()))

    def forget_run(self, run_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM journal WHERE run_id = ?", (run_id,))

    def try_lease(self, name: str, holder: str, until: datetime) -> bool:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT holder, until FROM leases WHERE name = ?",
                             (name,)).fetchone()
            now = datetime.now(until.tzinfo)
            if row is not None and row[0] != holder and datetime.fromisoformat(row[1]) > now:
                db.execute("ROLLBACK")
                return False
            db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)",
                       (name, holder, until.isoformat()))
            db.execute("COMMIT")
            return True

    def release_lease(self, name: str, holder: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    def lease_holder(self, name: str, now: datetime) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT holder, until FROM leases WHERE name = ?",
                             (name,)).fetchone()
        if row is None or datetime.fromisoformat(row[1]) <= now:
            return None
        return str(row[0])

    def alert_states(self, flow: str, step: str | None = None,
                     ) -> list[tuple[str, AlertState]]:
        with self._connect() as db:
            if step is None:
                rows = db.execute("SELECT step, state FROM alerts WHERE flow = ? "
                                  "ORDER BY step, key_id", (flow,)).fetchall()
            else:
                rows = db.execute("SELECT step, state FROM alerts WHERE flow = ? AND step = ? "
                                  "ORDER BY key_id", (flow, step)).fetchall()
        from shared.alerts.machine import AlertState

        return [(str(name), AlertState.from_json(state)) for name, state in rows]

    def all_alert_states(self) -> list[tuple[str, str, AlertState]]:
        with self._connect() as db:
            rows = db.execute("SELECT flow, step, state FROM alerts "
                              "ORDER BY flow, step, key_id").fetchall()
        from shared.alerts.machine import AlertState

        return [(str(flow), str(name), AlertState.from_json(state))
                for flow, name, state in rows]

    def save_alert_states(self, flow: str, step: str, states: Sequence[AlertState],
                          removed: Sequence[str] = ()) -> None:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?)",
                           [(flow, step, s.key_id, s.to_json()) for s in states])
            db.executemany("DELETE FROM alerts WHERE flow = ? AND step = ? AND key_id = ?",
                           [(flow, step, kid) for kid in removed])
            db.execute("COMMIT")

    def close(self) -> None:
        """Close the idle connection; the next call opens another."""
        self._file.close()
