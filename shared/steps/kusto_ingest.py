"""kusto.ingest: rows from any earlier step into a Kusto table.

    - id: load
      action: kusto.ingest
      connection: prod
      table: DailyAggregates
      rows: "{{ steps.aggregate.rows }}"

The rows travel as data, never as KQL text (`shared.kusto.ingest_rows`), and are
matched to the table's columns by name. How they travel depends on the connection:

* an https cluster: `azure-kusto-ingest` (`shared.kusto.ingest_client`), streaming
  ingestion up to 4 MB of JSON (`method: auto`), queued ingestion above it, with the
  ingestion status followed until the data management service reports it: a queued
  run stops while it waits and looks again later, as for async control commands;
* a local `http://127.0.0.1` cluster (`duckdb-kql serve`, the Kusto emulator): the
  SDK's streaming ingestion REST call, whatever the size (no data management there);
* `embedded`: `.set-or-append` commands on the engine, reading the rows out of one
  JSON string literal, 10,000 rows a command.

The step writes, so a queued run records its outcome and never ingests the rows
twice across redeliveries; a streaming request whose answer was lost is not re-sent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from ..errors import KustoFlowsError, KustoQueryError, StepInputError
from ..kusto.backend import KustoBackend, KustoRequest
from ..kusto.ingest_client import STREAMING_MAX_BYTES, ClusterIngest, IngestStatus
from ..kusto.ingest_rows import TABLE_NAME, check_rows, embedded_append, json_lines
from ..kusto.reader import CollectSink
from ..model import Connection, Static, StepModel
from .base import StepContext, StepOutcome, StepWaiting
from .registry import Action

__all__ = ["ACTION", "EMBEDDED_BATCH_ROWS", "KustoIngestStep", "choose_method"]

#: Rows per `.set-or-append` command on the embedded engine.
EMBEDDED_BATCH_ROWS = 10_000
#: Polls of a queued ingestion back off from OPERATION_POLL_SECONDS up to this.
MAX_POLL_SECONDS = 60.0


class KustoIngestStep(StepModel):
    """Ingest rows into a Kusto table."""

    action: Literal["kusto.ingest"]
    connection: Annotated[str, Static, Field(description="a name from flows/connections.yaml")]
    database: Annotated[str | None, Static, Field(
        description="defaults to the connection's database")] = None
    table: Annotated[str, Static, Field(
        pattern=TABLE_NAME, description="an existing table; columns are matched by name")]
    rows: Any = Field(description="the rows of an earlier step: {{ steps.query.rows }}")
    mapping: Annotated[str | None, Static, Field(
        pattern=TABLE_NAME, description="clusters: a JSON ingestion mapping created on the "
                                        "table; default: columns by property name")] = None
    method: Annotated[Literal["auto", "streaming", "queued"], Static, Field(
        description="clusters: auto (streaming up to 4 MB, queued above), streaming or "
                    "queued")] = "auto"


def run_ingest(step: KustoIngestStep, inputs: Mapping[str, Any], ctx: StepContext
               ) -> StepOutcome:
    found: Any = ctx.resources.connection(step.connection)
    if not isinstance(found, Connection):
        raise StepInputError(f"field 'connection': '{step.connection}' is not a Kusto cluster",
                             hint="name a Kusto connection from flows/connections.yaml")
    connection: Connection = found
    database = step.database or connection.database or ""
    if ctx.resume and "source_id" in ctx.resume:  # a queued ingestion, looked at again
        return _follow(step, ctx, _cluster(ctx, connection), dict(ctx.resume))
    rows = check_rows(inputs.get("rows"))
    if not rows:
        return StepOutcome(_outputs(step, database, 0, "none"), "no rows: nothing ingested")
    if connection.kind == "embedded":
        count = _ingest_embedded(step, ctx, ctx.resources.kusto(connection), database, rows)
        return _done(step, database, count, "embedded")
    ingest = _cluster(ctx, connection)
    payload = json_lines(rows)
    if choose_method(step.method, connection.kind, len(payload)) == "streaming":
        ingest.stream(database, step.table, payload, step.mapping)
        return _done(step, database, len(rows), "streaming")
    source_id = str(uuid.uuid4())
    status_table = ingest.enqueue(database, step.table, payload, step.mapping, source_id)
    state = {"source_id": source_id, "status_table": status_table, "rows": len(rows),
             "database": database, "started_at": datetime.now(UTC).isoformat(), "polls": 0}
    return _follow(step, ctx, ingest, state)


def choose_method(method: str, kind: str, size: int) -> str:
    """How *size* bytes of rows go to a cluster of *kind* (`local` or `azure`):
    streaming or queued. `auto` streams up to 4 MB, and always to a local cluster
    (it has no data management service); streaming above 4 MB is refused."""
    if method == "auto":
        return "streaming" if kind == "local" or size <= STREAMING_MAX_BYTES else "queued"
    if method == "streaming" and size > STREAMING_MAX_BYTES and kind != "local":
        raise StepInputError(
            f"field 'rows': {size / 1024**2:,.1f} MB of data; streaming ingestion takes at "
            f"most {STREAMING_MAX_BYTES // 1024**2} MB a request",
            hint="use method: auto or queued for large batches")
    return method


def _cluster(ctx: StepContext, connection: Connection) -> ClusterIngest:
    from ..kusto.connections import _credential_factory, connection_key

    factory = (None if connection.kind == "local"
               else _credential_factory(connection, ctx.settings))
    return ctx.resources.client(("kusto.ingest", *connection_key(connection)),
                                lambda: ClusterIngest(connection.cluster, factory))


def _outputs(step: KustoIngestStep, database: str, count: int, method: str
             ) -> dict[str, Any]:
    return {"rows_ingested": count, "table": step.table, "database": database,
            "method": method}


def _done(step: KustoIngestStep, database: str, count: int, method: str,
          **extra: Any) -> StepOutcome:
    return StepOutcome({**_outputs(step, database, count, method), **extra},
                       f"{count:,} rows into {step.table} ({method})")


# ----------------------------------------------------------------- embedded


def _request(ctx: StepContext, database: str, text: str, *, is_command: bool) -> KustoRequest:
    return KustoRequest(database=database, text=text, is_command=is_command,
                        timeout=min(ctx.flow.limits.request_timeout, ctx.remaining()))


def _table_columns(backend: KustoBackend, ctx: StepContext, database: str,
                   table: str) -> list[tuple[str, str]]:
    sink = CollectSink()
    try:
        backend.execute(_request(ctx, database, f"{table} | getschema", is_command=False),
                        sink)
    except KustoQueryError as exc:
        raise KustoQueryError(
            f"table {table} cannot be read in database {database or '(default)'}: "
            f"{exc.message}",
            hint=f"create the table first, e.g. `.set-or-append {table} <| datatable(Name:"
                 f"string, Value:long)[]` on the embedded engine (`.create table` on a "
                 f"cluster)") from exc
    rows = sink.primary.rows if sink.primary else []
    return [(str(row["ColumnName"]), str(row["ColumnType"])) for row in rows]


def _ingest_embedded(step: KustoIngestStep, ctx: StepContext, backend: KustoBackend,
                     database: str, rows: Sequence[Mapping[str, Any]]) -> int:
    columns = _table_columns(backend, ctx, database, step.table)
    done = 0
    for start in range(0, len(rows), EMBEDDED_BATCH_ROWS):
        batch = rows[start:start + EMBEDDED_BATCH_ROWS]
        command = embedded_append(step.table, columns, batch)
        try:
            backend.execute(_request(ctx, database, command, is_command=True), CollectSink())
        except KustoFlowsError as exc:
            if done:
                exc.message += (f" ({done:,} of {len(rows):,} rows were ingested before this "
                                f"batch)")
            raise
        done += len(batch)
    return done


# ----------------------------------------------------------------- queued


def _follow(step: KustoIngestStep, ctx: StepContext, ingest: ClusterIngest,
            state: dict[str, Any]) -> StepOutcome:
    """Look at a queued ingestion's status until it is final (a queued run stops
    between looks; an inline run waits in process)."""
    source_id = str(state["source_id"])
    while True:
        current: IngestStatus = ingest.status(source_id, str(state["status_table"]))
        if current.final:
            break
        waited = (datetime.now(UTC) - datetime.fromisoformat(state["started_at"])
                  ).total_seconds()
        if waited >= ctx.flow.limits.operation_timeout:
            raise KustoQueryError(
                f"queued ingestion {source_id} into {step.table} still {current.state} "
                f"after {waited:,.0f} s", hint="the data management service may still ingest "
                "it: look for it with `.show ingestion failures` and count the rows before "
                "running the flow again; or raise limits.operation_timeout")
        delay = min(MAX_POLL_SECONDS,
                    ctx.settings.operation_poll_seconds * 2 ** int(state["polls"]))
        state["polls"] = int(state["polls"]) + 1
        if ctx.can_suspend:
            raise StepWaiting(f"queued ingestion {source_id} {current.state}; next look in "
                              f"{delay:g} s", state=state, after_seconds=delay)
        time.sleep(min(delay, ctx.remaining()))
    if current.state != "Succeeded":
        raise KustoQueryError(
            f"queued ingestion {source_id} into {step.table} ended {current.state}: "
            f"{current.details or 'no details'}",
            hint="see `.show ingestion failures | where IngestionSourceId == "
                 f"'{source_id}'` on the cluster")
    return _done(step, str(state.get("database") or ""), int(state["rows"]), "queued",
                 source_id=source_id, status=current.state)


ACTION = Action(
    KustoIngestStep, run_ingest, title="Ingest rows into a table", writes=True,
    fields_doc="`connection`, `database`, `table` (an existing table; columns matched by "
               "name), `rows` (rows of an earlier step), `mapping` (clusters: a JSON "
               "ingestion mapping), `method` (`auto`: streaming up to 4 MB, queued above; "
               "`streaming`; `queued`)",
    outputs_doc="`rows_ingested`, `table`, `database`, `method` (`streaming`, `queued`, "
                "`embedded`); queued: `source_id`, `status`",
)
