"""Rows of an earlier step as data for a Kusto table, never as KQL text.

* `json_lines`: the rows as Kusto's `json` ingestion format (one JSON object a line),
  what streaming and queued ingestion send to a cluster. Columns are matched by
  property name, as Kusto does for JSON without a mapping.
* `embedded_append`: for the embedded engine, which has no ingestion endpoint, an
  `.set-or-append` command whose source reads the rows out of one JSON document.
  The document is ASCII-only JSON (`ensure_ascii`: no line break, no control
  character, no quote other than `"` and `'`) inside a verbatim KQL string literal
  `@'...'`, whose only escape is `''` for `'`: a value cannot end the literal, so a
  value is data whatever it holds (quotes, pipes, `;`, `.drop`, backslashes).
  Each column is read with the conversion function of its type in the table.

Values are the ones a Kusto result carries (`shared.kusto.types`) or their JSON
form from a recorded step: datetimes go as ISO 8601 in UTC, timespans as
`d.hh:mm:ss.fffffff`, decimals as text (no precision lost), NaN and infinities as
Kusto spells them, dynamic values as JSON.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..errors import StepInputError

__all__ = [
    "EMBEDDED_CONVERSIONS",
    "TABLE_NAME",
    "check_rows",
    "embedded_append",
    "json_lines",
    "kusto_value",
    "timespan_text",
]

#: A table name the step accepts: a Kusto identifier (no brackets, no quoting).
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Column names that can be written as `['name']` without any escape.
_BRACKETABLE = re.compile(r"[^'\\\r\n\x00-\x1f]+")

#: The KQL function that reads a JSON property as a column of each Kusto type.
EMBEDDED_CONVERSIONS = {
    "string": "tostring", "long": "tolong", "int": "toint", "real": "toreal",
    "bool": "tobool", "datetime": "todatetime", "timespan": "totimespan",
    "guid": "toguid", "dynamic": "todynamic",
}


def timespan_text(span: timedelta) -> str:
    """*span* as Kusto writes a timespan: `[-]d.hh:mm:ss.fffffff`."""
    sign = "-" if span < timedelta(0) else ""
    span = abs(span)
    seconds = span.seconds
    return (f"{sign}{span.days}.{seconds // 3600:02d}:{seconds // 60 % 60:02d}:"
            f"{seconds % 60:02d}.{span.microseconds * 10:07d}")


def _datetime_text(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def kusto_value(value: Any, depth: int = 0) -> Any:
    """*value* as the JSON value Kusto's ingestion reads into a column."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, date):
        return _datetime_text(datetime(value.year, value.month, value.day))
    if isinstance(value, timedelta):
        return timespan_text(value)
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if depth > 64:
        raise StepInputError("field 'rows': a value is nested more than 64 levels deep",
                             hint="flatten the dynamic values before ingesting them")
    if isinstance(value, Mapping):
        return {str(key): kusto_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [kusto_value(item, depth + 1) for item in value]
    if isinstance(value, bytes | bytearray):
        raise StepInputError("field 'rows': a value is a file or bytes, not a cell value",
                             hint="ingest the rows of a query step ({{ steps.x.rows }})")
    return str(value)


def check_rows(value: Any) -> list[Mapping[str, Any]]:
    """The step's `rows` input as a list of rows (mappings of column to value)."""
    if value is None or value == "":
        return []
    if isinstance(value, Mapping) and isinstance(value.get("rows"), list):
        value = value["rows"]  # a whole step's outputs: take its rows
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise StepInputError(
            f"field 'rows' is {type(value).__name__}, not a list of rows",
            hint="give the rows of an earlier step: rows: \"{{ steps.query.rows }}\"")
    for index, row in enumerate(value):
        if not isinstance(row, Mapping):
            raise StepInputError(
                f"field 'rows[{index}]' is {type(row).__name__}, not a row (a mapping of "
                f"column name to value)",
                hint="give the rows of an earlier step: rows: \"{{ steps.query.rows }}\"")
    return list(value)


def _records(rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield {str(key): kusto_value(item) for key, item in row.items()}


def json_lines(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """*rows* in Kusto's `json` format: one object a line, ASCII (every other character
    escaped, so no reader can take a U+2028 in a value for the end of a line)."""
    return b"".join(json.dumps(record, ensure_ascii=True, separators=(",", ":"),
                               allow_nan=False).encode("utf-8") + b"\n"
                    for record in _records(rows))


def _column_ref(name: str) -> str:
    """*name* as a KQL column name: bare when it is an identifier, else `['name']`."""
    if _IDENTIFIER.fullmatch(name):
        return name
    if _BRACKETABLE.fullmatch(name):
        return f"['{name}']"
    raise StepInputError(
        f"column {name!r} of the table has a name this step cannot write "
        f"(a quote, a backslash or a control character)",
        hint="ingest into a table whose column names are plain")


def _verbatim(text: str) -> str:
    """*text* (ASCII, no control character) as a verbatim KQL string literal."""
    return "@'" + text.replace("'", "''") + "'"


def embedded_append(table: str, columns: Sequence[tuple[str, str]],
                    rows: Sequence[Mapping[str, Any]]) -> str:
    """An `.set-or-append` of *rows* into *table* whose *columns* (name, Kusto type)
    are the table's own, in order: the command's schema is the table's, so the
    engine's schema check holds, and a property the table lacks is left out."""
    if not re.fullmatch(TABLE_NAME, table):
        raise StepInputError(f"field 'table': {table!r} is not a table name")
    document = json.dumps(list(_records(rows)), ensure_ascii=True, separators=(",", ":"),
                          allow_nan=False)
    projections = []
    for name, kind in columns:
        convert = EMBEDDED_CONVERSIONS.get(kind)
        if convert is None:
            raise StepInputError(
                f"column {name!r} of table {table!r} is {kind}, which the embedded engine "
                f"cannot ingest", hint="use a column type the engine converts to: "
                + ", ".join(sorted(EMBEDDED_CONVERSIONS)))
        projections.append(f"{_column_ref(name)} = {convert}(r[{_verbatim(name)}])")
    return (f".set-or-append {table} <| print d = parse_json({_verbatim(document)})\n"
            f"| mv-expand r = d\n| project {', '.join(projections)}")
