"""Kusto column types and the Python values a result carries.

Values are normalised once, while the result is read, so every later consumer
(templates, HTML table, CSV, charts) sees the same thing: `datetime` aware in UTC,
`timedelta` for timespan, `int`/`float`/`Decimal`/`bool`, `str`, parsed JSON for
dynamic, `None` for null.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NUMERIC_TYPES", "Column"]

#: Kusto scalar types that count as numbers (for alignment and charts).
NUMERIC_TYPES = frozenset({"int", "long", "real", "decimal"})


@dataclass(frozen=True)
class Column:
    name: str
    #: Kusto type name: string, int, long, real, decimal, bool, datetime, timespan,
    #: dynamic, guid.
    type: str

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}
