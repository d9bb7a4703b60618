"""The sink `kusto.visualize` and `kusto.command` read into: the first rows for the
table, the full result as CSV (written as rows arrive, so the result is never held
as rows and text at once), and the rows a chart needs only when one is drawn."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from ..kusto.types import Column
from .cells import cell_text

__all__ = ["RenderCapture"]


class RenderCapture:
    def __init__(self, head_rows: int, keep_rows: bool) -> None:
        self.head_rows = head_rows
        self.keep_rows = keep_rows
        self.columns: list[Column] = []
        self.head: list[Sequence[Any]] = []
        self.rows: list[Sequence[Any]] = []
        self.total = 0
        self._buffer = io.BytesIO()
        self._text = io.TextIOWrapper(self._buffer, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text)
        self._started = False

    def begin_table(self, name: str, columns: list[Column], primary: bool) -> None:
        if self._started:  # only the primary (first) table is rendered
            self._skip = True
            return
        self._started, self._skip = True, False
        self.columns = columns
        self._csv.writerow([c.name for c in columns])

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        if self._skip:
            return
        room = self.head_rows - len(self.head)
        if room > 0:
            self.head.extend(rows[:room])
        if self.keep_rows:
            self.rows.extend(rows)
        self.total += len(rows)
        self._csv.writerows([cell_text(v) for v in row] for row in rows)

    def csv_bytes(self) -> bytes:
        self._text.flush()
        data = self._buffer.getvalue()
        self._buffer = io.BytesIO()
        return data
