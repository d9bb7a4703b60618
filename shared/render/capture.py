"""The sink `kusto.visualize` and `kusto.command` read into: the first rows for the
table, the full result as CSV (written as rows arrive, so the result is never held
as rows and text at once), and the rows a chart needs only when one is drawn.

From a backend that reads JSON, rows come as JSON gave them (`JsonRows`): only the
table's first rows (and a chart's) are typed, and the CSV is written from the raw
values, column by column, byte for byte what `cell_text` of each typed value
writes (`csv_cells`; tests/test_kusto_rows.py compares the two): strings, numbers
and nulls as they are, booleans as `true`/`false`, Kusto's datetimes cut to
cell_text's form once fromisoformat has read them, anything else through
`csv_text` of its typed value."""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import repeat
from operator import setitem
from typing import Any, Protocol

from ..kusto.json_rows import JsonRows, to_datetime
from ..kusto.types import Column
from .cells import cell_text

__all__ = ["ByteSink", "RenderCapture", "csv_cells", "csv_text"]

#: Values the csv module writes exactly as `cell_text` prints them (None as empty):
#: passed through untouched. Exact types: a bool (an int) is printed `true`.
_PLAIN = frozenset({str, int, type(None)})
#: Raw JSON values the csv module writes as `cell_text` prints them: the csv module
#: writes a float's repr, as cell_text does a finite one (`JsonRows.finite_floats`).
_JSON_PLAIN = frozenset({str, int, float, type(None)})
_BOOLS = frozenset({bool, type(None)})
_BOOL_TEXT = {True: "true", False: "false"}


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


def _datetime_cells(values: list[Any]) -> list[Any]:
    """`csv_text(to_datetime(v))` of each raw value (None as None). A column all in
    Kusto's own form, `YYYY-MM-DDTHH:MM:SS.fffffff[f]Z` from year 1000 on, one
    length throughout (checked on the joined text at C speed, and read by
    fromisoformat, which refuses what to_datetime refuses), is cut to its text;
    anything else is converted and printed."""
    lengths = set(map(len, values)) if values and None not in values else set()
    if lengths in ({27}, {28}) and _kusto_datetimes("".join(values), lengths.pop()):
        try:
            deque(map(datetime.fromisoformat, values), maxlen=0)
        except ValueError:
            pass
        else:
            return list(map(_kusto_datetime_cell, values))
    return [None if v is None else csv_text(to_datetime(v)) for v in values]


def _kusto_datetimes(joined: str, width: int) -> bool:
    """Whether *joined*, texts of *width* characters end to end, are all in Kusto's
    form: the separators in place, year 1000 on, and the fraction all digits."""
    fraction = "".join(joined[i::width] for i in range(20, width - 1))
    return (all(set(joined[i::width]) == {c} for i, c in _SEPARATORS)
            and joined[width - 1::width].count("Z") * width == len(joined)
            and "0" not in joined[::width] and fraction.isdigit())


_SEPARATORS = ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."))


def _kusto_datetime_cell(text: str) -> str:
    """`2024-01-01T00:00:37.5000000Z` -> `2024-01-01T00:00:37.5Z`: cell_text's form
    (microseconds, trailing zeros dropped) of what fromisoformat reads."""
    fraction = text[20:26].rstrip("0")
    return f"{text[:19]}.{fraction}Z" if fraction else text[:19] + "Z"


def csv_cells(batch: JsonRows, index: int) -> list[Any] | None:
    """What the CSV writes for one column of a raw batch (None: its values as they
    are): the csv module's text of each is `cell_text` of the typed value."""
    convert = None if batch.is_typed else batch.convert.get(index)
    if convert is to_datetime:
        return _datetime_cells(batch.column(index))
    if convert is not None:
        return [None if v is None else csv_text(convert(v)) for v in batch.column(index)]
    found = batch.types(index)  # the typed value is the raw one
    if found <= _JSON_PLAIN and (batch.finite_floats or float not in found):
        return None
    if found <= _BOOLS:
        return list(map(_BOOL_TEXT.get, batch.column(index)))
    plain, text = _PLAIN, csv_text
    return [v if type(v) in plain else text(v) for v in batch.column(index)]


class ByteSink(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class RenderCapture:
    """*csv_out*: where the CSV goes, a batch at a time (a run file, so a large result
    is not held as text: `kusto_visualize`); without one it is kept for `csv_bytes`."""

    def __init__(self, head_rows: int, keep_rows: bool, csv_out: ByteSink | None = None
                 ) -> None:
        self.head_rows = head_rows
        self.keep_rows = keep_rows
        self.columns: list[Column] = []
        self.head: list[Sequence[Any]] = []
        self.rows: list[Sequence[Any]] = []
        self.total = 0
        self._buffer = io.BytesIO()
        self._out: ByteSink = self._buffer if csv_out is None else csv_out
        # The csv module writes a line at a time: into a list, encoded a batch at a
        # time (an io.TextIOWrapper costs a decoder reset per line).
        self._lines: list[str] = []
        self._csv = csv.writer(_Lines(self._lines))
        self._started = False

    def begin_table(self, name: str, columns: list[Column], primary: bool) -> None:
        if self._started:  # only the primary (first) table is rendered
            self._skip = True
            return
        self._started, self._skip = True, False
        self.columns = columns
        self._csv.writerow([c.name for c in columns])
        self._flush()

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
        self._flush()

    def add_json_rows(self, batch: JsonRows) -> None:
        """Rows as JSON gave them: the CSV from the raw values (see the module
        docstring); typed only the head and, for a chart, the rows. Writes its CSV
        cells over the batch's rows unless it keeps them."""
        if self._skip:
            return
        room = self.head_rows - len(self.head)
        if room > 0:
            self.head.extend(batch.typed_head(room))
        self.total += len(batch)
        cells = [(i, c) for i in range(len(batch.columns))
                 if (c := csv_cells(batch, i)) is not None]
        rows = batch.rows
        if cells and self.keep_rows:  # typed below: write from a copy
            rows = list(map(list, rows))
        for index, column in cells:
            deque(map(setitem, rows, repeat(index), column), maxlen=0)
        self._csv.writerows(rows)
        self._flush()
        if self.keep_rows:
            self.rows.extend(batch.typed())

    def _flush(self) -> None:
        self._out.write("".join(self._lines).encode("utf-8"))
        self._lines.clear()

    def csv_bytes(self) -> bytes:
        """The CSV written so far, when it is kept here (no *csv_out*)."""
        self._flush()
        data = self._buffer.getvalue()
        self._buffer = io.BytesIO()
        self._out = self._buffer
        return data


class _Lines:
    """A file for csv.writer that appends each line to a list."""

    def __init__(self, lines: list[str]) -> None:
        self.write = lines.append
