"""sql.query: run a SQL query and list its rows, as `kusto.query` does a KQL one.

The SQL text is static; values reach it only as bound `:name` parameters. The query
runs in a transaction that is rolled back (read-only on PostgreSQL), so it changes
nothing; rows are read in batches and reading stops the moment `limits.max_records`
or `limits.max_bytes` is passed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import closing
from typing import Annotated, Any, Literal

from pydantic import Field

from ..errors import LimitExceeded, StepInputError
from ..kusto.reader import estimate_row_bytes
from ..model import Limits, Static
from ..sql.session import transaction
from ..sql.types import read_value
from .base import StepContext, StepOutcome
from .registry import Action
from .sql_common import SqlStep, bound_statement, sql_engine

__all__ = ["ACTION", "SqlQueryStep"]

_BATCH = 5_000


class SqlQueryStep(SqlStep):
    """Run a SQL query and list its rows."""

    action: Literal["sql.query"]
    query: Annotated[str, Static, Field(
        description="SQL; static text: pass values as :name parameters")]
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="values of the query's :name parameters (templated)")


def run_sql_query(step: SqlQueryStep, inputs: Mapping[str, Any], ctx: StepContext
                  ) -> StepOutcome:
    values = inputs.get("parameters") or {}
    if not isinstance(values, dict):
        raise StepInputError("parameters must be a mapping of name: value")
    statement = bound_statement(step.query, values)
    engine = sql_engine(step, ctx)
    limits = ctx.flow.limits
    timeout = min(limits.request_timeout, ctx.remaining())
    started = time.perf_counter()
    with transaction(engine, timeout, what="the query", read_only=True) as conn:
        result = conn.execution_options(yield_per=_BATCH).execute(statement)
        with closing(result):  # a server-side cursor left open when reading stops early
            rows, names, types = _read(result, limits)
    elapsed_ms = (time.perf_counter() - started) * 1000
    columns = [{"name": name, "type": kind or "string"}
               for name, kind in zip(names, types, strict=True)]
    return StepOutcome({"rows": rows, "columns": columns, "row_count": len(rows),
                        "elapsed_ms": round(elapsed_ms, 1)}, f"{len(rows):,} rows")


def _read(result: Any, limits: Limits) -> tuple[list[dict[str, Any]], list[str],
                                                list[str | None]]:
    """The result's rows (values as a Kusto result has them), names and Kusto types."""
    if not result.returns_rows:
        raise StepInputError("the statement returns no rows; sql.query changes nothing "
                             "(its transaction is rolled back)",
                             hint="select rows here; write rows with sql.write")
    names = list(result.keys())
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise StepInputError(f"the query returns column '{twice}' twice",
                             hint="give each column its own name (AS ...)")
    rows: list[dict[str, Any]] = []
    types: list[str | None] = [None] * len(names)
    size = 0
    while batch := result.fetchmany(_BATCH):
        if len(rows) + len(batch) > limits.max_records:
            raise LimitExceeded(
                f"the result has more than {limits.max_records:,} records (the limit); "
                f"reading stopped",
                hint="aggregate or filter in the query (GROUP BY, WHERE), or raise "
                     "limits.max_records in the flow file")
        for record in batch:
            row = []
            for index, raw in enumerate(record):
                value, kind = read_value(raw)
                if types[index] is None:
                    types[index] = kind
                row.append(value)
            size += estimate_row_bytes(row)
            rows.append(dict(zip(names, row, strict=True)))
        if size > limits.max_bytes:
            raise LimitExceeded(
                f"the result is larger than {limits.max_bytes / 1024**2:,.0f} MB (the "
                f"limit); reading stopped after {len(rows):,} records",
                hint="select fewer columns, aggregate or filter in the query, or raise "
                     "limits.max_bytes in the flow file")
    return rows, names, types


ACTION = Action(
    SqlQueryStep, run_sql_query, title="Run a SQL query and list its rows",
    fields_doc="`connection` (a SQL one), `query` (static SQL, values as `:name`), "
               "`parameters`",
    outputs_doc="`rows` (list of dicts), `columns` (name, Kusto type), `row_count`, "
                "`elapsed_ms`",
)
