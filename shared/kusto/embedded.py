"""The embedded default: KQL run in-process by duckdb-kql over the bundled,
synthetic sample database (`shared.kusto.sample_data`). duckdb-kql is a local/test
extra, imported only when an embedded connection is first used.

A query is bounded like one sent to a cluster (`embedded_limits`): duckdb's memory
limit (out of memory ends the step `LimitExceeded`), the request time-out (another
thread interrupts the connection: `RequestTimeout`), and rows are fetched in batches
as they are produced, so the step's `max_records`/`max_bytes` stop the read early."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import KustoUnavailable, LimitExceeded, RequestTimeout
from .backend import ExecutionInfo, KustoRequest
from .embedded_errors import ConnectionView, query_error
from .embedded_limits import EngineLimits
from .embedded_translate import Translations
from .reader import ResultSink
from .types import Column

__all__ = ["EmbeddedBackend"]

_BATCH = 10_000


class _Deadline:
    """Interrupt the connection once `seconds` have passed, until the block ends.

    The watcher thread is joined on exit: no interrupt can reach a later query, and
    the thread never holds the last reference to the connection (a duckdb connection
    destroyed by a daemon thread at interpreter exit aborts the process)."""

    def __init__(self, con: Any, seconds: float) -> None:
        self._con, self._seconds = con, seconds
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = False

    def __enter__(self) -> _Deadline:
        self._thread = threading.Thread(target=self._watch, name="embedded-kusto-deadline",
                                        daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        if self._done.wait(max(self._seconds, 0.0)):
            return
        self.fired = True
        while not self._done.wait(0.01):
            self._con.interrupt()

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _fixer(kind: str) -> Callable[[Any], Any] | None:
    if kind == "datetime":
        return lambda v: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v
    if kind == "dynamic":
        return lambda v: json.loads(v) if isinstance(v, str) else v
    if kind == "guid":
        return lambda v: str(v) if isinstance(v, uuid.UUID) else v
    return None


def _start(con: Any, text: str, values: dict[str, Any], database: str | None,
           translations: Translations) -> Any:
    """What `duckdb_kql.execute` does (through its public API), with `range` read as a
    stream (`streaming_ranges`) and the translation kept (`embedded_translate`);
    returns the cursor, rows not yet fetched."""
    import duckdb_kql
    from duckdb_kql.engine import databases

    if database is not None:
        known = databases(con)
        if database not in known:
            raise duckdb_kql.KqlSchemaError(
                database, hint=f"database not attached to this connection; reachable: {known}")
    statement = translations.statement(con, text, values, database)
    try:
        if statement.values:
            return con.execute(statement.sql, statement.values)
        return con.execute(statement.sql)
    finally:  # also when it failed part way: a command may have changed some tables
        translations.ran(statement)


class EmbeddedBackend:
    cluster = "embedded"

    def __init__(self, database: str = "Samples", *, limits: EngineLimits | None = None) -> None:
        self.database = database
        self.limits = limits or EngineLimits.default()
        self._lock = threading.Lock()
        self._con: Any = None
        self._translations = Translations()

    def _connection(self) -> Any:
        if self._con is None:
            try:
                import duckdb_kql
            except ImportError as exc:
                raise KustoUnavailable(
                    "the embedded Kusto engine is not installed",
                    hint="pip install 'duckdb-kql[kusto]' (requirements-dev.txt), or point the "
                         "connection at a real cluster") from exc
            from .sample_data import load_into

            con = duckdb_kql.connect()
            self.limits.apply(con)
            con.execute("SET TimeZone='UTC'")  # the connection is this backend's alone
            con.execute(f'ATTACH \':memory:\' AS "{self.database}"; USE "{self.database}"')
            load_into(con)
            self._con = con
        return self._con

    def execute(self, request: KustoRequest, sink: ResultSink) -> ExecutionInfo:
        import duckdb
        import duckdb_kql
        from duckdb_kql.types import kusto_type

        values = {name: value for name, (_, value) in request.parameters.items()}
        started = time.monotonic()
        # Waiting for the connection (one query at a time) counts against the time-out.
        if not self._lock.acquire(timeout=max(request.timeout, 0.0)):
            raise _timeout(request.timeout)
        try:
            con = self._connection()
            database = None if request.database in ("", self.database) else request.database
            deadline = _Deadline(con, request.timeout - (time.monotonic() - started))
            try:
                with deadline:
                    cursor = _start(con, request.text, values, database,
                                    self._translations)
                    description = cursor.description or []
                    columns = [Column(d[0], kusto_type(d[1])) for d in description]
                    fixers = [_fixer(c.type) for c in columns]
                    needs_fix = any(fixers)
                    sink.begin_table("PrimaryResult", columns, True)
                    while batch := cursor.fetchmany(_BATCH):
                        rows: Sequence[Sequence[Any]] = batch
                        if needs_fix:
                            rows = [[f(v) if f else v for f, v in zip(fixers, row, strict=True)]
                                    for row in batch]
                        sink.add_rows(rows)
            except duckdb.InterruptException as exc:
                raise _timeout(request.timeout) from exc
            except duckdb.OutOfMemoryException as exc:
                if deadline.fired:
                    raise _timeout(request.timeout) from exc
                raise LimitExceeded(
                    f"the query needed more than the embedded engine's "
                    f"{self.limits.describe()} of memory; it was stopped",
                    hint="aggregate (summarize) or filter (where, take) earlier in the query, "
                         "so less is sorted, joined or collected") from exc
            except duckdb_kql.KqlError as exc:
                raise query_error(exc, request.text,
                                  ConnectionView(con, values, database)) from exc
            except duckdb.Error as exc:
                if deadline.fired:
                    raise _timeout(request.timeout) from exc
                raise query_error(exc, request.text,
                                  ConnectionView(con, values, database)) from exc
        finally:
            self._lock.release()
        return ExecutionInfo()


def _timeout(seconds: float) -> RequestTimeout:
    return RequestTimeout(
        f"the request ran longer than its {seconds:g} s time-out",
        hint="make the query more efficient so it runs faster, or separate it into chunks, "
             "each over a different part of the data")
