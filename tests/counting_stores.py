"""What a run store asks of its storage, counted: for the growth tests and
`benchmarks/bench_growth.py`, which bound the requests a page of history costs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.runs import LocalRunStore

__all__ = ["Counter", "CountingLocalStore"]


class Counter:
    """Counts requests: the Table client's `raw_request_hook` (one call per HTTP
    request, retries included), or SELECTs from the SQLite trace callback."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: Any) -> None:
        self.count += 1

    def sql(self, statement: str) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.count += 1


class CountingLocalStore(LocalRunStore):
    """The SQLite store, counting the SELECTs it runs; `bulk()` puts every write it
    makes meanwhile in one transaction (its own statements, on one connection)."""

    def __init__(self, path: Path, counter: Counter, **options: Any) -> None:
        super().__init__(path, **options)
        self.counter = counter
        self._held: sqlite3.Connection | None = None

    @contextmanager
    def bulk(self) -> Iterator[None]:
        with super()._connect() as conn:
            self._held = conn
            try:
                yield
            finally:
                self._held = None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self._held is not None:
            yield self._held
            return
        with super()._connect() as conn:
            conn.set_trace_callback(self.counter.sql)
            yield conn
