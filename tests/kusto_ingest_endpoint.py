"""Kusto's streaming ingestion REST endpoint, for the local test endpoint
(`tests.kusto_server`).

duckdb-kql 1.1.2 serves queries and control commands but not ingestion. The
product's `kusto.ingest` step sends rows to a local cluster through the real
`azure-kusto-ingest` SDK (`KustoStreamingIngestClient`), which calls
`KustoClient.execute_streaming_ingest`; that posts

    POST /v1/rest/ingest/{database}/{table}?streamFormat={format}[&mappingName={name}]
    Content-Encoding: gzip          (the SDK compresses JSON and CSV streams)
    body: the data

(azure-kusto-data `client.py` `execute_streaming_ingest`, `client_base.py`
`_streaming_ingest_endpoint` = `<cluster>/v1/rest/ingest/` and
`ExecuteRequestParams._from_stream`). This module answers that request and nothing
else, and writes the rows into the server's DuckDB database with bound parameters,
independently of the product's own row encoding, so a test that reads the rows
back checks the product against a second implementation.

What it does, modelled on Kusto's JSON ingestion without a mapping:

* formats `json` (one object a line) and `multijson` (objects, possibly spread over
  lines or in an array); anything else, or a `mappingName`, is a 400 (no mappings
  here);
* each object's properties are matched to the table's columns by name; a column
  with no property is null (an empty string for `string`, as in Kusto), a property
  with no column is ignored;
* values are read per column type: numbers from numbers or numeric text, `real`
  also from `NaN`/`Infinity`/`-Infinity`, `bool` from true/false or their text,
  `datetime` from ISO 8601 text, `timespan` from `d.hh:mm:ss.fffffff`, `guid` from
  its text, `dynamic` as the JSON value itself, `string` from text (other JSON values
  as their JSON text). A value that does not read as its column's type is null, as
  Kusto leaves it;
* the table must exist (a 400 `BadRequest_EntityNotFound` otherwise, as Kusto
  answers); all rows of a request are written in one transaction, or none.

The answer is a v1 result with Kusto's streaming-ingestion columns
(`ConsumedRecordsCount`, `UpdatePolicyStatus`, `UpdatePolicyFailureCode`,
`UpdatePolicyFailureReason`); the SDK does not read it.

`StreamingIngest.requests` counts the requests and rows taken (for tests of an
in-process server: "rows arrive once").
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from duckdb_kql.params import parse_timespan
from duckdb_kql.server import RestColumn, Result, error_response, v1_response

__all__ = ["INGEST_PREFIX", "RESPONSE_COLUMNS", "StreamingIngest", "read_value"]

INGEST_PREFIX = "/v1/rest/ingest/"

RESPONSE_COLUMNS = [
    RestColumn("ConsumedRecordsCount", "long", "Int64", "long"),
    RestColumn("UpdatePolicyStatus", "string", "String", "string"),
    RestColumn("UpdatePolicyFailureCode", "string", "String", "string"),
    RestColumn("UpdatePolicyFailureReason", "string", "String", "string"),
]

#: DuckDB column type -> Kusto type (as duckdb-kql stores each).
_KUSTO_TYPES = {
    "BIGINT": "long", "INTEGER": "int", "DOUBLE": "real", "FLOAT": "real",
    "VARCHAR": "string", "BOOLEAN": "bool", "TIMESTAMP": "datetime",
    "TIMESTAMP WITH TIME ZONE": "datetime", "INTERVAL": "timespan", "UUID": "guid",
    "JSON": "dynamic",
}


class IngestRefused(Exception):
    def __init__(self, status: int, message: str, code: str = "General_BadRequest") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _kusto_type(duck_type: str) -> str:
    upper = duck_type.upper()
    if upper.startswith("DECIMAL"):
        return "decimal"
    return _KUSTO_TYPES.get(upper, "string")


def read_value(value: Any, kind: str) -> Any:
    """A JSON value as the Python value DuckDB stores for a column of Kusto *kind*;
    None when it does not read as that type."""
    if kind == "string":
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if value is None:
        return None
    if kind == "dynamic":
        return json.dumps(value, separators=(",", ":"))
    try:
        if kind in ("long", "int"):
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, int):
                return value
            if isinstance(value, float):
                return int(value) if math.isfinite(value) else None
            return int(str(value).strip())
        if kind == "real":
            if isinstance(value, bool):
                return float(value)
            return float(value)  # NaN, Infinity and -Infinity read from text too
        if kind == "decimal":
            return Decimal(str(value))
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float):
                return value != 0
            return {"true": True, "false": False}.get(str(value).strip().lower())
        if kind == "datetime":
            moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
            return (moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo
                    else moment)
        if kind == "timespan":
            return parse_timespan(str(value))
        if kind == "guid":
            return uuid.UUID(str(value))
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        return None
    return None


def _objects(text: str, stream_format: str) -> list[dict[str, Any]]:
    records: list[Any] = []
    if stream_format == "json":
        # Lines end at "\n" only: str.splitlines would also cut at U+2028 and others,
        # which JSON allows unescaped inside a string.
        records = [json.loads(line) for line in text.split("\n") if line.strip()]
    else:  # multijson: objects one after the other, or arrays of them
        decoder = json.JSONDecoder()
        at = 0
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            if at >= len(text):
                break
            value, at = decoder.raw_decode(text, at)
            records += value if isinstance(value, list) else [value]
    for record in records:
        if not isinstance(record, dict):
            raise IngestRefused(400, f"a record is {type(record).__name__}, not a JSON object")
    return records


@dataclass
class StreamingIngest:
    """The endpoint over one duckdb-kql server's connection and lock."""

    #: (database, table, rows) of each request taken, in order.
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handles(self, path: str) -> bool:
        return urlsplit(path).path.startswith(INGEST_PREFIX)

    def answer(self, server: Any, path: str, headers: Any, body: bytes
               ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON payload) for one streaming-ingest request."""
        try:
            count = self._ingest(server, path, headers, body)
        except IngestRefused as exc:
            return exc.status, error_response(str(exc), code=exc.code)
        return 200, v1_response(Result(RESPONSE_COLUMNS, [[count, "Inactive", "Unknown", ""]]))

    def _ingest(self, server: Any, path: str, headers: Any, body: bytes) -> int:
        parts = urlsplit(path)
        names = [unquote(p) for p in parts.path[len(INGEST_PREFIX):].split("/") if p]
        if len(names) != 2:
            raise IngestRefused(404, f"no route for {parts.path}")
        database, table = names
        query = parse_qs(parts.query)
        stream_format = (query.get("streamFormat") or [""])[0].lower()
        if stream_format not in ("json", "multijson"):
            raise IngestRefused(400, f"streamFormat {stream_format!r} is not supported by this "
                                     f"test endpoint (json, multijson)")
        if query.get("mappingName"):
            raise IngestRefused(400, "ingestion mappings are not supported by this test "
                                     "endpoint: columns are matched by property name")
        if (headers.get("Content-Encoding") or "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                raise IngestRefused(400, f"the body is not gzip data: {exc}") from exc
        try:
            records = _objects(body.decode("utf-8"), stream_format)
        except (UnicodeDecodeError, ValueError) as exc:
            raise IngestRefused(400, f"the body is not {stream_format} data: {exc}") from exc
        with server._lock:  # the library's connection lock: one statement at a time
            con = server._con
            if database not in _databases(con):
                raise IngestRefused(404, f"database {database!r} is not attached",
                                    code="General_DatabaseNotFound")
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_catalog = ? AND table_name = ? ORDER BY ordinal_position",
                [database, table]).fetchall()
            if not columns:
                raise IngestRefused(400, f"Table '{table}' could not be found in database "
                                         f"'{database}'", code="BadRequest_EntityNotFound")
            kinds = [(str(name), _kusto_type(str(kind))) for name, kind in columns]
            rows = [[read_value(record.get(name), kind) for name, kind in kinds]
                    for record in records]
            # Both names matched a table above; quoted as DuckDB identifiers all the same.
            target = ".".join('"' + name.replace('"', '""') + '"' for name in (database, table))
            placeholders = ", ".join("?" for _ in kinds)
            con.execute("BEGIN TRANSACTION")
            try:
                if rows:
                    con.executemany(f"INSERT INTO {target} VALUES ({placeholders})", rows)
                con.execute("COMMIT")
            except Exception as exc:
                con.execute("ROLLBACK")
                raise IngestRefused(400, f"ingestion failed: {exc}") from exc
        with self._lock:
            self.requests.append((database, table, len(rows)))
        return len(rows)


def _databases(con: Any) -> set[str]:
    rows = con.execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal")
    return {str(row[0]) for row in rows.fetchall()}
