"""Rows as a v2 answer's JSON gives them, typed only where a consumer asks.

A cluster sends datetimes, timespans and decimals as strings; every other Kusto type
arrives as the Python value it is read as (`int`, `float`, `bool`, `str`, parsed
JSON for dynamic; real's NaN and infinities stay the strings `"NaN"`, `"Infinity"`,
`"-Infinity"`, as the SDK leaves them). `JsonRows` is one batch of such rows: a sink
that only counts them or writes them as text (`GuardedSink`, `RenderCapture`'s CSV)
reads the values as they came, and `typed()` converts them, as the SDK's
`KustoResultRow` would, for the consumers that need Python values (the rows
`kusto.query` outputs, the table's first rows, a chart's data).

The conversions are the SDK's (`KustoResultRow.conversion_funcs`), but datetime's:
`to_datetime` gives the same value in about a tenth of the time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import repeat
from operator import itemgetter, methodcaller, setitem
from typing import Any, Protocol

from .types import Column

__all__ = ["JsonRows", "converters", "deliver", "to_datetime"]

Convert = Callable[[Any], Any]

_ENDS_Z = methodcaller("endswith", "Z")
_NONE = type(None)


def to_datetime(value: Any) -> Any:
    """What the SDK's converter gives (dateutil's isoparse, ~11 us a value), in about
    a tenth of the time: Kusto's `2007-01-01T00:00:00.1234567Z` through
    `datetime.fromisoformat` (Python 3.11 reads the `Z` as UTC and truncates a 7th
    fractional digit as isoparse does), aware in UTC. Anything else, or what
    fromisoformat refuses, goes to the SDK's converter."""
    if type(value) is str and value.endswith("Z"):
        if len(value) > 27 and value[19] == ".":  # more than 6 fractional digits
            value = value[:26] + "Z" if value[20:-1].isdigit() else value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return _sdk_converter("datetime")(value)


def _sdk_converter(kind: str) -> Convert:
    from azure.kusto.data._models import KustoResultRow

    return KustoResultRow.conversion_funcs[kind]


def converters() -> dict[str, Convert]:
    """Per Kusto type, the function a non-null value goes through (the SDK's, but
    datetime's own); types not in it are kept as JSON gave them, as the SDK does."""
    from azure.kusto.data._models import KustoResultRow

    funcs: dict[str, Convert] = dict(KustoResultRow.conversion_funcs)
    if "datetime" in funcs:
        funcs["datetime"] = to_datetime
    return funcs


class JsonRows:
    """One batch of a table's rows (lists, one value per column) as JSON gave them.

    `typed()` converts the batch in place, once; read `rows` as raw values only
    before that (the sinks write their CSV first). The last sink to read a batch
    may write over its rows (`RenderCapture` writes its CSV cells into them)."""

    __slots__ = ("_columns", "_types", "_typed", "columns", "convert", "finite_floats", "rows")

    def __init__(self, columns: list[Column], rows: list[list[Any]],
                 convert: dict[int, Convert], *, finite_floats: bool = True) -> None:
        self.columns = columns
        self.rows = rows
        #: column index -> conversion of a non-null value (datetime, timespan, decimal)
        self.convert = convert
        #: No float is NaN or infinite: true of what orjson and ijson read (they refuse
        #: bare NaN), not of what the json module reads.
        self.finite_floats = finite_floats
        self._typed = not convert
        self._columns: dict[int, list[Any]] = {}
        self._types: dict[int, set[type]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def is_typed(self) -> bool:
        """`typed()` has run (or there was nothing to convert)."""
        return self._typed

    @staticmethod
    def datetimes(values: list[Any]) -> list[Any]:
        """`to_datetime` of each value (None kept): at C speed when every one is a
        string ending in Z that fromisoformat reads, which is then exactly what
        to_datetime gives; value by value otherwise."""
        if None not in values:
            try:
                if all(map(_ENDS_Z, values)):
                    return list(map(datetime.fromisoformat, values))
            except (AttributeError, TypeError, ValueError):  # not all text, or one refused
                pass
        return [None if v is None else to_datetime(v) for v in values]

    def column(self, index: int) -> list[Any]:
        """The raw values of one column (cached)."""
        values = self._columns.get(index)
        if values is None:
            values = self._columns[index] = list(map(itemgetter(index), self.rows))
        return values

    def types(self, index: int) -> set[type]:
        """The Python types of one column's raw values (cached)."""
        found = self._types.get(index)
        if found is None:
            found = self._types[index] = set(map(type, self.column(index)))
        return found

    def typed_column(self, index: int) -> list[Any]:
        """One column's values as `typed()` gives them, without converting the batch."""
        values = self.column(index)
        convert = self.convert.get(index)
        if convert is None or self._typed:
            return values
        if convert is to_datetime:
            return self.datetimes(values)
        return [None if v is None else convert(v) for v in values]

    def typed(self) -> list[list[Any]]:
        """The rows with Python values, as `KustoResultRow` gives them (converted in
        place, once)."""
        if not self._typed:
            rows = self.rows
            for index in self.convert:
                deque(map(setitem, rows, repeat(index), self.typed_column(index)), maxlen=0)
            self._typed = True
            self._columns.clear()
            self._types.clear()
        return self.rows

    def typed_head(self, count: int) -> list[list[Any]]:
        """Typed copies of the first *count* rows; the batch stays as it is."""
        head = [list(row) for row in self.rows[:count]]
        if not self._typed:
            for row in head:
                for index, convert in self.convert.items():
                    if row[index] is not None:
                        row[index] = convert(row[index])
        return head

    def estimate_bytes(self) -> int:
        """`reader.estimate_row_bytes` summed over the typed rows, from the raw ones:
        text by length, any other non-null value 8 (a converted value is never text)."""
        total = 0
        count = len(self.rows)
        for index in range(len(self.columns)):
            found = self.types(index)
            present = count - self.column(index).count(None) if _NONE in found else count
            if index in self.convert and not self._typed or str not in found:
                total += 8 * present
            elif found <= {str, _NONE}:
                total += sum(map(len, filter(None, self.column(index))))
            else:
                total += sum(len(v) if type(v) is str else 8
                             for v in self.column(index) if v is not None)
        return total

    def check_width(self) -> None:
        """Raises unless every row has one value per column."""
        widths = set(map(len, self.rows))
        if widths and widths != {len(self.columns)}:
            raise ValueError(f"rows of {sorted(widths)} values for {len(self.columns)} "
                             f"columns")


class _RowsSink(Protocol):
    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None: ...


def deliver(sink: _RowsSink, batch: JsonRows) -> None:
    """The batch to *sink*: raw to its `add_json_rows` when it has one, else typed
    rows to its `add_rows`."""
    add_json_rows: Callable[[JsonRows], None] | None = getattr(sink, "add_json_rows", None)
    if add_json_rows is not None:
        add_json_rows(batch)
    else:
        sink.add_rows(batch.typed())
