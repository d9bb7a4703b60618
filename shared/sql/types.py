"""Kusto column types in SQL databases, and values both ways.

Writing (`sql.write`): each Kusto type has a column type per database (used when the
step creates the table) and a converter from the values a Kusto result carries
(`shared.kusto.types`: aware UTC datetimes, timedeltas, parsed JSON, Decimals, guid
text), or their JSON forms from a chained run (ISO text, numbers), to what the
driver binds:

| Kusto     | PostgreSQL         | SQL Server          | SQLite                        |
|-----------|--------------------|---------------------|-------------------------------|
| datetime  | `timestamptz`      | `datetime2(7)` UTC  | `TEXT` `YYYY-MM-DD HH:MM:SS.ffffff` UTC |
| timespan  | `interval`         | `bigint` ticks      | `INTEGER` ticks (100 ns)      |
| dynamic   | `jsonb`            | `nvarchar(max)` JSON| `TEXT` JSON                   |
| decimal   | `numeric`          | `decimal(38,18)`    | `NUMERIC`                     |
| bool      | `boolean`          | `bit`               | `INTEGER` 0/1                 |
| long      | `bigint`           | `bigint`            | `INTEGER`                     |
| int       | `integer`          | `int`               | `INTEGER`                     |
| real      | `double precision` | `float`             | `REAL`                        |
| string    | `text`             | `nvarchar(max)` (a key: `nvarchar(450)`) | `TEXT`   |
| guid      | `uuid`             | `uniqueidentifier`  | `TEXT`                        |

Reading (`sql.query`): values come back as the Kusto side has them (datetimes aware
in UTC, a naive one taken as UTC; uuids as text; bytes as base64 text), and each
column's Kusto type is that of its first non-null value ("string" when all are null).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import StepInputError

__all__ = ["KUSTO_TYPES", "SQL_TYPES", "column_type", "converter", "infer_type",
           "kusto_type_name", "read_value"]

KUSTO_TYPES = ("datetime", "timespan", "dynamic", "decimal", "bool", "long", "int", "real",
               "string", "guid")
#: Kusto type -> column type by SQLAlchemy dialect name.
SQL_TYPES: dict[str, dict[str, str]] = {
    "datetime": {"postgresql": "timestamptz", "mssql": "datetime2(7)", "sqlite": "TEXT"},
    "timespan": {"postgresql": "interval", "mssql": "bigint", "sqlite": "INTEGER"},
    "dynamic": {"postgresql": "jsonb", "mssql": "nvarchar(max)", "sqlite": "TEXT"},
    "decimal": {"postgresql": "numeric", "mssql": "decimal(38,18)", "sqlite": "NUMERIC"},
    "bool": {"postgresql": "boolean", "mssql": "bit", "sqlite": "INTEGER"},
    "long": {"postgresql": "bigint", "mssql": "bigint", "sqlite": "INTEGER"},
    "int": {"postgresql": "integer", "mssql": "int", "sqlite": "INTEGER"},
    "real": {"postgresql": "double precision", "mssql": "float", "sqlite": "REAL"},
    "string": {"postgresql": "text", "mssql": "nvarchar(max)", "sqlite": "TEXT"},
    "guid": {"postgresql": "uuid", "mssql": "uniqueidentifier", "sqlite": "TEXT"},
}
#: SQL Server cannot index nvarchar(max): a string key column gets this.
_MSSQL_KEY_STRING = "nvarchar(450)"
_ALIASES = {"boolean": "bool", "int64": "long", "int32": "int", "double": "real",
            "float": "real", "date": "datetime", "time": "timespan", "uuid": "guid",
            "uniqueid": "guid"}
_TICKS_PER_MICROSECOND = 10
_KUSTO_SPAN = re.compile(r"^\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?\s*$")
_PYTHON_SPAN = re.compile(r"^\s*(-?\d+) days?, (\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\s*$")


def kusto_type_name(name: object, *, where: str) -> str:
    """A Kusto type name as used here (`int64` -> long, `boolean` -> bool ...)."""
    text = str(name).strip().lower()
    text = _ALIASES.get(text, text)
    if text not in SQL_TYPES:
        raise StepInputError(f"{where}: type {name!r} is not a Kusto type",
                             hint=f"use one of {', '.join(KUSTO_TYPES)}")
    return text


def column_type(kusto_type: str, dialect: str, *, key: bool = False) -> str:
    """The column type of a new table's column (literal SQL from the table above)."""
    if dialect == "mssql" and key and kusto_type == "string":
        return _MSSQL_KEY_STRING
    return SQL_TYPES[kusto_type][dialect]


# ------------------------------------------------------------------ writing

def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    else:
        raise ValueError
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _as_timespan(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        kusto = _KUSTO_SPAN.match(value)
        if kusto:
            sign, days, hours, minutes, seconds, fraction = kusto.groups()
            span = timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes),
                             seconds=int(seconds),
                             microseconds=int((fraction or "0").ljust(7, "0")) // 10)
            return -span if sign else span
        python = _PYTHON_SPAN.match(value)  # str(timedelta), as a chained run keeps it
        if python:
            days, hours, minutes, seconds, fraction = python.groups()
            return timedelta(days=int(days), hours=int(hours), minutes=int(minutes),
                             seconds=int(seconds),
                             microseconds=int((fraction or "0").ljust(6, "0")))
    raise ValueError


def _ticks(span: timedelta) -> int:
    return (span // timedelta(microseconds=1)) * _TICKS_PER_MICROSECOND


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _as_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError
    return Decimal(str(value).strip())


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError


def _as_real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError
    return float(value)


def _as_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return _as_json(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _as_guid(value: Any) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip()))


def converter(kusto_type: str, dialect: str) -> Callable[[Any], Any]:
    """Value of a *kusto_type* column -> what the *dialect*'s driver binds; None stays
    None. Raises ValueError or TypeError for a value that is not of the type."""
    if kusto_type == "datetime":
        if dialect == "postgresql":
            return _as_datetime
        if dialect == "mssql":
            return lambda v: _as_datetime(v).replace(tzinfo=None)
        return lambda v: _as_datetime(v).strftime("%Y-%m-%d %H:%M:%S.%f")
    if kusto_type == "timespan":
        return _as_timespan if dialect == "postgresql" else lambda v: _ticks(_as_timespan(v))
    if kusto_type == "dynamic":
        return _as_json
    if kusto_type == "decimal":
        return _as_decimal if dialect != "sqlite" else lambda v: str(_as_decimal(v))
    if kusto_type == "bool":
        return _as_bool if dialect != "sqlite" else lambda v: int(_as_bool(v))
    if kusto_type in ("long", "int"):
        return _as_int
    if kusto_type == "real":
        return _as_real
    if kusto_type == "guid":
        return _as_guid
    return _as_string


def infer_type(value: Any) -> str | None:
    """The Kusto type of a Python value as a step output holds it (None for null)."""
    return read_value(value)[1]


# ------------------------------------------------------------------ reading

def read_value(value: Any) -> tuple[Any, str | None]:
    """A value a driver returned, as a Kusto result would carry it, and its type."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return value, "bool"
    if isinstance(value, int):
        return value, "long"
    if isinstance(value, float):
        return value, "real"
    if isinstance(value, Decimal):
        return value, "decimal"
    if isinstance(value, str):
        return value, "string"
    if isinstance(value, datetime):
        return _as_datetime(value), "datetime"
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC), "datetime"
    if isinstance(value, time):
        return timedelta(hours=value.hour, minutes=value.minute, seconds=value.second,
                         microseconds=value.microsecond), "timespan"
    if isinstance(value, timedelta):
        return value, "timespan"
    if isinstance(value, uuid.UUID):
        return str(value), "guid"
    if isinstance(value, dict | list):
        return value, "dynamic"
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii"), "string"
    return str(value), "string"


def bad_value(where: str, kusto_type: str, value: Any) -> StepInputError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return StepInputError(f"{where}: {shown} is not a {kusto_type}",
                          hint="fix the value or the column's type in `columns`")


#: What a converter raises for a value of the wrong type.
CONVERSION_ERRORS = (ValueError, TypeError, InvalidOperation, OverflowError)
