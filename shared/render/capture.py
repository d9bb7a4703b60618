"""The sink `kusto.visualize` and `kusto.command` read into: the first rows for the
table, the full result as CSV (written as rows arrive, so the result is never held
as rows and text at once), and the rows a chart needs only when one is drawn."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..kusto.types import Column
from .cells import cell_text

__all__ = ["RenderCapture", "csv_text"]

#: Values the csv module writes exactly as `cell_text` prints them (None as empty):
#: passed through untouched. Exact types: a bool (an int) is printed `true`.
_PLAIN = frozenset({str, int, type(None)})


def csv_text(value: Any) -> str:
    """`cell_text`, with a shortcut for the common finite floats and UTC datetimes
    (byte-identical; tests compare the two). A datetime's `cell_text` costs ~7 us
    (astimezone, strftime); its isoformat a fraction of that."""
    kind = type(value)
    if kind is float:
        # Finite: cell_text prints repr (integral ones below 1e16 as `2.0`, repr too).
        return repr(value) if value - value == 0.0 else cell_text(value)
    if kind is datetime and value.tzinfo is UTC and value.year >= 1000:
        text: str = value.isoformat()[:-6]  # without "+00:00"; 6 digits when microseconds
        return (text.rstrip("0") if value.microsecond else text) + "Z"
    return cell_text(value)


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
        plain, text = _PLAIN, csv_text
        self._csv.writerows([v if type(v) in plain else text(v) for v in row] for row in rows)

    def csv_bytes(self) -> bytes:
        self._text.flush()
        data = self._buffer.getvalue()
        self._buffer = io.BytesIO()
        return data
