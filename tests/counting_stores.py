"""For the growth tests and `benchmarks/bench_growth.py`, which bound the requests a
page of history or of flows costs: what a run store asks of its storage, counted, and
a catalog of many flows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.loader import FolderResult, LoadedFlow, load_folder
from shared.runs import LocalRunStore
from tests.helpers import write_flow

__all__ = ["TINY_FLOW", "Counter", "CountingLocalStore", "many_flows"]

TINY_FLOW = """\
description: One of many.
trigger:
  schedule: "0 30 6 * * *"
  webhook: true
steps:
  - id: q
    action: kusto.query
    connection: samples
    query: StormEvents | take 1
"""


def many_flows(folder: Path, count: int) -> FolderResult:
    """*count* valid flows (`flow-0000` ...): `TINY_FLOW` loaded once from *folder*,
    copied in memory under each name."""
    write_flow(folder, "tiny", TINY_FLOW)
    loaded = load_folder(folder)
    assert not loaded.problems, loaded.problems
    proto = loaded.flows["tiny"]
    flows = {f"flow-{i:04d}": LoadedFlow(proto.flow.model_copy(update={"name": f"flow-{i:04d}"}),
                                         proto.path) for i in range(count)}
    return FolderResult(flows, {}, loaded.connections)


class Counter:
    """Counts requests: the Table client's `raw_request_hook` (one call per HTTP
    request, retries included), or SELECTs from the SQLite trace callback.
    `continued`: of those, the Table requests that only fetch the next part of a
    query's answer (Azurite splits an answer only past its $top, at most 1,000 rows;
    Azure also where it likes, e.g. after 5 seconds or at a partition boundary)."""

    def __init__(self) -> None:
        self.count = 0
        self.continued = 0

    def __call__(self, request: Any) -> None:
        self.count += 1
        url = request.http_request.url
        if "NextPartitionKey=" in url or "NextRowKey=" in url:
            self.continued += 1

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
