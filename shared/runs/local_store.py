"""The run store in a local SQLite file (`<state_dir>/runs.sqlite`): the embedded
default when no Table Storage setting is given (`make run`, tests, the CLI).

Same keys (`keys.py`), limits (`records.py`) and semantics (`store_base.py`) as the
Table Storage store, so either can stand in for the other: newest first by the
inverted-ticks row key, the continuation token is an opaque string holding the last
row key returned, lists leave out the trigger body.

The latest-run index is a table `latest` (flow, row key of its newest run), kept in
the same transaction as each run write, so `last_runs` is one join however many
flows and runs there are. A file written before the index existed gets it filled
from its runs when the table is created.

Thread-safe: each call opens its own connection (`shared/sqlite_file.py`: WAL mode,
one idle connection kept open so that closing one does not checkpoint the log), and
writes in this process take a lock (SQLite's own locking covers other processes, with
a busy timeout).

The file lives in STATE_DIR, so a read-only, full or uncreatable STATE_DIR fails
every call: an `OSError` (the folder) or a `sqlite3.OperationalError` naming the
file and STATE_DIR. Both count as transient for `ResilientStore`, which then tries
its spool (on the same disk, so usually in vain) and logs the record (see
`resilient.py`): the run goes on either way.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shared.results import RunResult, RunStatus, StepResult, StepStatus, utc_now
from shared.runs.keys import (
    encode_token,
    older_than_row_key,
    prefix_end,
    run_row_key,
    step_row_key,
)
from shared.runs.records import (
    as_utc,
    decode_trigger_body,
    encode_trigger_body,
    run_record,
    step_order,
    step_record,
)
from shared.runs.store import RunPage, RunRecord, StepRecord
from shared.runs.store_base import ListRequest, RunStoreBase
from shared.sqlite_file import WalFile

__all__ = ["LocalRunStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    flow TEXT NOT NULL,
    row_key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    status TEXT NOT NULL,
    trigger TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    duration_ms REAL NOT NULL,
    failing_step TEXT NOT NULL,
    error_code TEXT NOT NULL,
    error_message TEXT NOT NULL,
    error_hint TEXT NOT NULL,
    resubmitted_from TEXT NOT NULL,
    step_count INTEGER NOT NULL,
    trigger_body TEXT,
    trigger_body_truncated INTEGER NOT NULL,
    PRIMARY KEY (flow, row_key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS runs_by_id ON runs (run_id, flow);
CREATE INDEX IF NOT EXISTS runs_by_age ON runs (row_key);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    row_key TEXT NOT NULL,
    flow TEXT NOT NULL,
    path TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    summary TEXT NOT NULL,
    error_code TEXT NOT NULL,
    error_message TEXT NOT NULL,
    error_hint TEXT NOT NULL,
    PRIMARY KEY (run_id, row_key)
) WITHOUT ROWID;
"""

#: The latest-run index, created with its entries (each flow's newest run) in one
#: transaction, so a file written before the index existed gets a complete one.
_LATEST_SCHEMA = ("CREATE TABLE latest (flow TEXT NOT NULL PRIMARY KEY,"
                  " row_key TEXT NOT NULL) WITHOUT ROWID")
_BACKFILL_LATEST = ("INSERT INTO latest (flow, row_key)"
                    " SELECT flow, min(row_key) FROM runs GROUP BY flow")

#: Keep the index on a run write: a run that started later (a smaller row key)
#: replaces the flow's entry; the same run or an older one leaves it.
_PUT_LATEST = ("INSERT INTO latest (flow, row_key) VALUES (:flow, :row_key)"
               " ON CONFLICT (flow) DO UPDATE SET row_key = excluded.row_key"
               " WHERE excluded.row_key < latest.row_key")

#: Flows named in one `IN (...)` of `last_runs`; more are filtered after the read
#: (well below SQLite's bound-parameter limit on every build).
_MAX_IN = 500

#: SQLite errors that come from the disk under STATE_DIR, not from the query.
_DISK_ERRORS = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR",
                "SQLITE_PERM")

_COLUMNS = ("run_id", "flow", "status", "trigger", "started_at", "ended_at", "duration_ms",
            "failing_step", "error_code", "error_message", "error_hint", "resubmitted_from",
            "step_count", "trigger_body_truncated")
_LIST_COLUMNS = ", ".join(_COLUMNS)
_JOINED_COLUMNS = ", ".join(f"r.{c}" for c in _COLUMNS)


def _moment(text: str | None) -> datetime | None:
    return as_utc(datetime.fromisoformat(text)) if text else None


def _run_from_row(row: sqlite3.Row, with_body: bool) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        flow=row["flow"],
        status=RunStatus(row["status"]),
        trigger=row["trigger"],
        started_at=as_utc(datetime.fromisoformat(row["started_at"])),
        ended_at=_moment(row["ended_at"]),
        duration_ms=float(row["duration_ms"]),
        failing_step=row["failing_step"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        error_hint=row["error_hint"],
        trigger_body=decode_trigger_body(row["trigger_body"]) if with_body else None,
        resubmitted_from=row["resubmitted_from"],
        step_count=int(row["step_count"]),
        trigger_body_truncated=bool(row["trigger_body_truncated"]),
    )


def _step_from_row(row: sqlite3.Row) -> StepRecord:
    return StepRecord(
        path=row["path"],
        action=row["action"],
        status=StepStatus(row["status"]),
        started_at=as_utc(datetime.fromisoformat(row["started_at"])),
        duration_ms=float(row["duration_ms"]),
        summary=row["summary"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        error_hint=row["error_hint"],
    )


def _create_latest(conn: sqlite3.Connection) -> None:
    """The latest-run index, filled from the runs, unless the file has it already."""
    conn.isolation_level = None  # explicit transaction: DDL and backfill together
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'latest'"
                        ).fetchone() is None:
            conn.execute(_LATEST_SCHEMA)
            conn.execute(_BACKFILL_LATEST)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _prepare(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)
    _create_latest(conn)


class LocalRunStore(RunStoreBase):
    """`RunStore` in a SQLite file at *path* (created with its folder on first use)."""

    #: A continuation token holds the last row key returned.
    _position_type = str

    def __init__(self, path: Path | str, *, abandon_after: timedelta | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(abandon_after=abandon_after, clock=clock)
        self.path = Path(path)
        self._write_lock = threading.Lock()
        self._file = WalFile(self.path, _prepare, timeout=30)

    def __repr__(self) -> str:
        return f"LocalRunStore({str(self.path)!r})"

    def close(self) -> None:
        """Close the idle connection; the next call opens another."""
        self._file.close()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._file.open() as conn:
                conn.row_factory = sqlite3.Row
                with conn:  # one transaction: commit on success, roll back on error
                    yield conn
        except sqlite3.OperationalError as exc:
            if not str(getattr(exc, "sqlite_errorname", "")).startswith(_DISK_ERRORS):
                raise
            raise sqlite3.OperationalError(
                f"{exc} ({self.path}: STATE_DIR must be a writable folder with free "
                "space)") from exc

    def _write(self, sql: str, values: dict[str, Any], *also: str) -> None:
        """*sql* and then each of *also* with the same *values*, in one transaction."""
        with self._write_lock, self._connect() as conn:
            conn.execute(sql, values)
            for more in also:
                conn.execute(more, values)

    # -- writes ----------------------------------------------------------------

    def _put_run(self, run: RunResult) -> None:
        record = run_record(run)
        body, truncated = encode_trigger_body(record.trigger_body)
        self._write(
            "INSERT OR REPLACE INTO runs VALUES (:flow, :row_key, :run_id, :status, :trigger,"
            " :started_at, :ended_at, :duration_ms, :failing_step, :error_code,"
            " :error_message, :error_hint, :resubmitted_from, :step_count, :trigger_body,"
            " :trigger_body_truncated)",
            {
                "flow": record.flow,
                "row_key": run_row_key(record.started_at, record.run_id),
                "run_id": record.run_id,
                "status": str(record.status),
                "trigger": record.trigger,
                "started_at": record.started_at.isoformat(),
                "ended_at": record.ended_at.isoformat() if record.ended_at else None,
                "duration_ms": record.duration_ms,
                "failing_step": record.failing_step,
                "error_code": record.error_code,
                "error_message": record.error_message,
                "error_hint": record.error_hint,
                "resubmitted_from": record.resubmitted_from,
                "step_count": record.step_count,
                "trigger_body": body,
                "trigger_body_truncated": int(truncated),
            },
            _PUT_LATEST,
        )

    def start_run(self, run: RunResult) -> None:
        self._put_run(run)

    def finish_run(self, run: RunResult) -> None:
        self._put_run(run)

    def record_step(self, run: RunResult, step: StepResult) -> None:
        record = step_record(step)
        self._write(
            "INSERT OR REPLACE INTO steps VALUES (:run_id, :row_key, :flow, :path, :action,"
            " :status, :started_at, :duration_ms, :summary, :error_code, :error_message,"
            " :error_hint)",
            {
                "run_id": run.run_id,
                "row_key": step_row_key(step_order(run, step), step.path),
                "flow": run.flow,
                "path": record.path,
                "action": record.action,
                "status": str(record.status),
                "started_at": record.started_at.isoformat(),
                "duration_ms": record.duration_ms,
                "summary": record.summary,
                "error_code": record.error_code,
                "error_message": record.error_message,
                "error_hint": record.error_hint,
            },
        )

    # -- reads -----------------------------------------------------------------

    def _list_page(self, flow: str, request: ListRequest) -> RunPage:
        plan, top = request.plan, request.top
        clauses, values = ["flow = ?"], [flow]
        for clause, value in (("status = ?", plan.stored), ("row_key >= ?", plan.key_at_least),
                              ("row_key < ?", plan.key_below), ("row_key > ?", request.position)):
            if value is not None:
                clauses.append(clause)
                values.append(value)
        sql = (f"SELECT {_LIST_COLUMNS}, row_key FROM runs WHERE {' AND '.join(clauses)}"
               " ORDER BY row_key LIMIT ?")
        with self._connect() as conn:
            rows = conn.execute(sql, [*values, top + 1]).fetchall()
        more = len(rows) > top
        rows = rows[:top]
        items = [self._shown(_run_from_row(r, with_body=False), request.now) for r in rows]
        token = encode_token(flow, request.token_status, rows[-1]["row_key"]) if more else None
        return RunPage(items, token)

    def _latest(self, flows: list[str] | None) -> list[RunRecord]:
        sql = (f"SELECT {_JOINED_COLUMNS} FROM latest l"
               " JOIN runs r ON r.flow = l.flow AND r.row_key = l.row_key")
        values: list[str] = []
        if flows is not None and len(flows) <= _MAX_IN:
            sql += f" WHERE l.flow IN ({', '.join('?' * len(flows))})"
            values = flows
        with self._connect() as conn:
            rows = conn.execute(sql, values).fetchall()
        return [_run_from_row(row, with_body=False) for row in rows]

    def find_run_ids(self, prefix: str) -> list[tuple[str, str]]:
        # A range of the run id index (runs_by_id): TEXT compares as UTF-8 bytes, which
        # is code point order, so the prefix's ids are [prefix, prefix_end).
        end = prefix_end(prefix)
        sql = "SELECT flow, run_id FROM runs WHERE run_id >= ?"
        values = [prefix]
        if end is not None:
            sql += " AND run_id < ?"
            values.append(end)
        with self._connect() as conn:
            rows = conn.execute(f"{sql} ORDER BY run_id, flow", values).fetchall()
        return [(row["flow"], row["run_id"]) for row in rows
                if str(row["run_id"]).startswith(prefix)]

    def get_run(self, flow: str, run_id: str) -> tuple[RunRecord, list[StepRecord]] | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE run_id = ? AND flow = ?",
                               (run_id, flow)).fetchone()
            if row is None:
                return None
            steps = conn.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY row_key",
                                 (run_id,)).fetchall()
        record = self._shown(_run_from_row(row, with_body=True), self._now())
        return record, [_step_from_row(s) for s in steps]

    # -- retention -------------------------------------------------------------

    def delete_older_than(self, cutoff: datetime, *, page_size: int = 100) -> int:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        bound = older_than_row_key(as_utc(cutoff))
        deleted = 0
        while True:
            with self._write_lock, self._connect() as conn:
                rows = conn.execute(
                    "SELECT flow, row_key, run_id FROM runs WHERE row_key >= ?"
                    " ORDER BY row_key LIMIT ?", (bound, page_size)).fetchall()
                conn.executemany("DELETE FROM steps WHERE run_id = ?",
                                 [(r["run_id"],) for r in rows])
                conn.executemany("DELETE FROM runs WHERE flow = ? AND row_key = ?",
                                 [(r["flow"], r["row_key"]) for r in rows])
            deleted += len(rows)
            if len(rows) < page_size:
                break
        # Index entries of the runs gone (a flow's newest run went: all its runs did).
        with self._write_lock, self._connect() as conn:
            conn.execute("DELETE FROM latest WHERE row_key >= ?", (bound,))
        return deleted
