"""The embedded default: KQL run in-process by duckdb-kql over the bundled,
synthetic sample database (`shared.kusto.sample_data`). duckdb-kql is a local/test
extra, imported only when an embedded connection is first used."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import KustoQueryError, KustoUnavailable, RequestTimeout
from .backend import ExecutionInfo, KustoRequest
from .reader import ResultSink
from .types import Column

__all__ = ["EmbeddedBackend"]

_BATCH = 10_000


class _Deadline:
    """Interrupt the connection once `seconds` have passed, until the block ends."""

    def __init__(self, con: Any, seconds: float) -> None:
        self._con, self._seconds = con, seconds
        self._done = threading.Event()
        self.fired = False

    def __enter__(self) -> _Deadline:
        threading.Thread(target=self._watch, daemon=True).start()
        return self

    def _watch(self) -> None:
        if self._done.wait(self._seconds):
            return
        self.fired = True
        while not self._done.wait(0.01):
            self._con.interrupt()

    def __exit__(self, *exc: object) -> None:
        self._done.set()


def _fixer(kind: str) -> Callable[[Any], Any] | None:
    if kind == "datetime":
        return lambda v: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v
    if kind == "dynamic":
        return lambda v: json.loads(v) if isinstance(v, str) else v
    if kind == "guid":
        return lambda v: str(v) if isinstance(v, uuid.UUID) else v
    return None


class EmbeddedBackend:
    cluster = "embedded"

    def __init__(self, database: str = "Samples") -> None:
        self.database = database
        self._lock = threading.Lock()
        self._con: Any = None

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
            con.execute(f'ATTACH \':memory:\' AS "{self.database}"; USE "{self.database}"')
            load_into(con)
            self._con = con
        return self._con

    def execute(self, request: KustoRequest, sink: ResultSink) -> ExecutionInfo:
        import duckdb
        import duckdb_kql
        from duckdb_kql.types import kusto_type

        values = {name: value for name, (_, value) in request.parameters.items()}
        with self._lock:
            con = self._connection()
            database = None if request.database in ("", self.database) else request.database
            deadline = _Deadline(con, request.timeout)
            try:
                with deadline:
                    cursor = duckdb_kql.execute(con, request.text, values or None, database)
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
            except duckdb_kql.KqlError as exc:
                raise KustoQueryError(f"query failed: {exc}",
                                      hint="fix the KQL; it was not retried") from exc
            except duckdb.Error as exc:
                if deadline.fired:
                    raise _timeout(request.timeout) from exc
                raise KustoQueryError(f"query failed: {exc}",
                                      hint="fix the KQL; it was not retried") from exc
        return ExecutionInfo()


def _timeout(seconds: float) -> RequestTimeout:
    return RequestTimeout(
        f"the request ran longer than its {seconds:g} s time-out",
        hint="make the query more efficient so it runs faster, or separate it into chunks, "
             "each over a different part of the data")
