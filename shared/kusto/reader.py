"""Reading a result as it streams in: limits are counted client-side, row by row,
and reading stops the moment one is passed (never a silent truncation).

A backend drives a `ResultSink`; each step brings the sink that keeps only what it
needs (all rows for `kusto.query`; the first rows, the CSV and the chart data for
`kusto.visualize`), so a result is never held twice. A backend that reads JSON may
hand a sink that has `add_json_rows` the rows as JSON gave them
(`json_rows.JsonRows`, typed on demand; `json_rows.deliver`), so that values no one
needs typed are never converted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import LimitExceeded
from .json_rows import JsonRows, deliver
from .types import Column

__all__ = ["CollectSink", "GuardedSink", "ResultSink", "ResultTable", "estimate_row_bytes"]


class ResultSink(Protocol):
    def begin_table(self, name: str, columns: list[Column], primary: bool) -> None: ...

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None: ...


@dataclass
class ResultTable:
    name: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "columns": [c.to_dict() for c in self.columns],
                "rows": self.rows, "row_count": len(self.rows)}


def estimate_row_bytes(row: Sequence[Any]) -> int:
    """Roughly what the row weighs on the wire: text by length, scalars as 8 bytes."""
    size = 0
    for value in row:
        if value is None:
            continue
        size += len(value) if isinstance(value, str) else 8
    return size


class GuardedSink:
    """Counts records and bytes across every table; fails as soon as one is over."""

    def __init__(self, inner: ResultSink, max_records: int, max_bytes: int) -> None:
        self.inner = inner
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.records = 0
        self.bytes = 0

    def begin_table(self, name: str, columns: list[Column], primary: bool) -> None:
        self.inner.begin_table(name, columns, primary)

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        self._count(len(rows))
        self._weigh(sum(estimate_row_bytes(row) for row in rows))
        self.inner.add_rows(rows)

    def add_json_rows(self, batch: JsonRows) -> None:
        """The same counts from a batch as JSON gave it (`JsonRows.estimate_bytes` is
        `estimate_row_bytes` of its typed rows)."""
        self._count(len(batch))
        self._weigh(batch.estimate_bytes())
        deliver(self.inner, batch)

    def _count(self, records: int) -> None:
        self.records += records
        if self.records > self.max_records:
            raise LimitExceeded(
                f"the result has more than {self.max_records:,} records (the limit); "
                f"reading stopped",
                hint="aggregate (summarize), filter, or split the query into chunks; or raise "
                     "limits.max_records in the flow file")

    def _weigh(self, size: int) -> None:
        self.bytes += size
        if self.bytes > self.max_bytes:
            raise LimitExceeded(
                f"the result is larger than {self.max_bytes / 1024**2:,.0f} MB (the limit); "
                f"reading stopped after {self.records:,} records",
                hint="project fewer columns, aggregate (summarize), or split the query into "
                     "chunks; or raise limits.max_bytes in the flow file")


class CollectSink:
    """Keeps every table, rows as dicts (what `kusto.query` outputs)."""

    def __init__(self) -> None:
        self.tables: list[ResultTable] = []
        self.primary: ResultTable | None = None
        self._names: list[str] = []

    def begin_table(self, name: str, columns: list[Column], primary: bool) -> None:
        table = ResultTable(name, columns)
        self.tables.append(table)
        self._names = [c.name for c in columns]
        if primary and self.primary is None:
            self.primary = table

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        names = self._names
        self.tables[-1].rows.extend(dict(zip(names, row, strict=True)) for row in rows)
