"""A local Kusto endpoint for tests: duckdb-kql's REST server, fixed for azure-kusto-data.

The real `azure-kusto-data` client talks to this exactly as it talks to a cluster.
Two gaps between that client and duckdb-kql 1.1.2's server (`_Handler.do_POST`)
are closed here, and nothing else is changed:

1. The SDK sends `properties` as a JSON *string* (`ClientRequestProperties.to_json()`);
   the server only reads it when it is a JSON object, so `Options` (servertimeout)
   and `Parameters` were silently dropped.
2. The SDK sends each parameter value as a string in KQL literal form
   (`"123"`, `"datetime(2024-01-01T00:00:00.0000000Z)"`, `"dynamic([1,2])"`); the
   binder (`duckdb_kql.params.coerce`) wants Python values of the declared type.

The handler parses the string `properties` and hands the body to the library's
`do_POST` unchanged; the server types the values just before the library's `run`.
Errors, envelopes and policy stay the library's own.

Two behaviours are added. Kusto's streaming ingestion REST endpoint
(`POST /v1/rest/ingest/{database}/{table}`), which duckdb-kql does not serve and
the product's `kusto.ingest` calls through azure-kusto-ingest: `tests.kusto_ingest_endpoint`.
And, because duckdb-kql refuses it: Kusto's async control
commands (`.set-or-append async …`, `.export async …`, then `.show operations <id>`
and `.show operation <id> details`), in `tests.kusto_async`; its docstring has the
schemas, their sources and the knobs tests use (`--async-polls N`: the InProgress
polls before an operation's final state).

    python -m tests.kusto_server --port 0 [--bench-rows N] [--async-polls N]

binds 127.0.0.1, prints its URL as the first stdout line and serves the sample
database `Samples` (StormEvents, JobLog; plus `Bench` with --bench-rows) until
SIGTERM. Writes are allowed: example flows run `.set-or-append`.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import signal
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb_kql
from duckdb_kql.params import as_datetime, parse_timespan
from duckdb_kql.server import KustoRestServer, Result, _Handler

from tests.kusto_async import DEFAULT_POLLS, AsyncOperations
from tests.kusto_ingest_endpoint import StreamingIngest

__all__ = ["AdaptedHandler", "AdaptedServer", "build", "literal_value", "main"]

# `datetime(...)`, `dynamic(...)`, `time(...)`: a typed KQL literal and its body.
_WRAPPED = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.DOTALL)

# Which wrapper names may spell a literal of each declared (canonical) type.
_WRAPPERS = {
    "long": {"long"},
    "int": {"int"},
    "real": {"real", "double"},
    "decimal": {"decimal"},
    "bool": {"bool", "boolean"},
    "datetime": {"datetime", "date"},
    "timespan": {"timespan", "time"},
    "dynamic": {"dynamic"},
    "guid": {"guid"},
}


def literal_value(text: str, kind: str, name: str = "parameter") -> Any:
    """The Python value for a KQL literal *text* of declared *kind*.

    Anything that cannot be read is returned unchanged, so the library's binder
    reports the mismatch in its own words instead of this adapter inventing one.
    """
    if kind == "string" or not isinstance(text, str):
        return text  # a string parameter is sent raw, without quotes
    body = text.strip()
    wrapped = _WRAPPED.match(body)
    if wrapped and wrapped.group(1).lower() in _WRAPPERS.get(kind, ()):
        body = wrapped.group(2).strip()
    if body.lower() == "null":
        return None
    try:
        if kind in ("long", "int"):
            return int(body)
        if kind == "real":
            return float(body)
        if kind == "decimal":
            return Decimal(body)
        if kind == "bool":
            return {"true": True, "false": False}[body.lower()]
        if kind == "datetime":
            return as_datetime(body, name)
        if kind == "timespan":
            span = parse_timespan(body)
            return text if span is None else span
        if kind in ("dynamic", "guid"):
            return body  # the binder takes JSON text and a uuid string as they are
    except (ValueError, KeyError, InvalidOperation, duckdb_kql.KqlError):
        return text
    return text


def _typed_parameters(csl: str, values: dict[str, Any]) -> dict[str, Any]:
    """*values* (literal strings) converted per the query's declarations."""
    try:
        declared = {p.name: p.type for p in duckdb_kql.query_parameters(csl)}
    except Exception:
        return values
    return {
        name: literal_value(value, declared[name], name) if name in declared else value
        for name, value in values.items()
    }


def _normalize(body: bytes) -> bytes:
    """The request body with a JSON-string `properties` parsed into an object (fix 1)."""
    try:
        request = json.loads(body or b"{}")
        if isinstance(request, dict) and isinstance(request.get("properties"), str):
            text = request["properties"]
            request["properties"] = json.loads(text) if text.strip() else {}
            return json.dumps(request).encode("utf-8")
    except ValueError:
        pass  # malformed: the library refuses it in its own words
    return body


class AdaptedHandler(_Handler):
    """`_Handler` whose `do_POST` first rewrites the body (fix 1)."""

    def do_POST(self) -> None:  # BaseHTTPRequestHandler's interface
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return super().do_POST()  # the library answers a bad length itself
        server = self.server
        if isinstance(server, AdaptedServer) and server.ingest.handles(self.path):
            status, payload = server.ingest.answer(server, self.path, self.headers,
                                                   self.rfile.read(length))
            return self._send(status, payload)
        body = _normalize(self.rfile.read(length))
        # Feed the rewritten body to the library's own do_POST, then put the
        # socket stream back for the next keep-alive request on this connection.
        socket_stream = self.rfile
        self.rfile = io.BytesIO(body)
        del self.headers["Content-Length"]
        self.headers["Content-Length"] = str(len(body))
        try:
            super().do_POST()
        finally:
            self.rfile = socket_stream


class AdaptedServer(KustoRestServer):
    """`KustoRestServer` that serves through `AdaptedHandler` and types parameters.

    Fix 2 lives in `run` rather than in the body rewrite because a datetime or a
    timedelta does not survive a trip through JSON.

    `run` also answers Kusto's async commands (`tests.kusto_async`) before the
    library sees them; the command an async one wraps runs through the library's
    own `run`, with the request's parameters, database and options.
    *async_polls*: the InProgress polls before an operation's final state.
    """

    def __init__(self, *args: Any, async_polls: int = DEFAULT_POLLS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.RequestHandlerClass = AdaptedHandler
        #: The async operations accepted so far; its knobs are for tests.
        self.operations = AsyncOperations(async_polls)
        #: Streaming ingestion (`POST /v1/rest/ingest/{db}/{table}`), `tests.kusto_ingest_endpoint`.
        self.ingest = StreamingIngest()

    def run(
        self,
        csl: str,
        parameters: dict[str, Any] | None = None,
        database: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> Result:
        def execute(text: str) -> Result:
            typed = _typed_parameters(text, parameters) if parameters else parameters
            return KustoRestServer.run(self, text, typed, database, options)

        current = database if database and database != "default" else self.database
        answer = self.operations.answer(csl, execute, current)
        return answer if answer is not None else execute(csl)


#: `Bench`: N deterministic rows x 8 mixed columns, generated in SQL.
_BENCH_SQL = """
CREATE OR REPLACE TABLE Bench AS
SELECT
    TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i * 37)           AS Timestamp,
    'host-' || lpad(CAST(i % 97 AS VARCHAR), 3, '0')                AS Host,
    ['alpha', 'beta', 'gamma', 'delta', 'epsilon'][(i % 5) + 1]     AS Category,
    i                                                               AS Id,
    (i * 7919) % 10007                                              AS Count,
    round(((i * 104729) % 100000) / 100.0, 2)                       AS Latency,
    ((i * 31) % 1000) / 1000.0                                      AS Ratio,
    i % 3 = 0                                                       AS Flag
FROM range(?) AS r(i)
"""


def build(port: int = 0, bench_rows: int = 0, async_polls: int = DEFAULT_POLLS) -> AdaptedServer:
    """A server on 127.0.0.1:*port* over an in-memory database named `Samples`."""
    from shared.kusto.sample_data import load_into

    con = duckdb_kql.connect()
    con.execute("ATTACH ':memory:' AS Samples")
    con.execute("USE Samples")
    load_into(con)
    if bench_rows > 0:
        con.execute(_BENCH_SQL, [bench_rows])
    return AdaptedServer(
        con, port=port, host="127.0.0.1", quiet=True, allow_write=True, async_polls=async_polls
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--bench-rows", type=int, default=0, help="rows in table Bench")
    parser.add_argument(
        "--async-polls",
        type=int,
        default=DEFAULT_POLLS,
        help=f"InProgress polls of an async operation before its final state "
        f"(default {DEFAULT_POLLS})",
    )
    args = parser.parse_args(argv)
    if args.async_polls < 0:
        parser.error("--async-polls must be >= 0")

    server = build(args.port, args.bench_rows, args.async_polls)

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds serve_forever in the main thread

    signal.signal(signal.SIGTERM, _stop)
    print(server.url, flush=True)  # the first stdout line: what the fixture reads
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
