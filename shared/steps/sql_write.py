"""sql.write: rows from an earlier step into a SQL table, in one transaction.

`mode: append` inserts, `replace` empties the table first, `upsert` inserts or
updates by `keys`. With `create: true` a missing table is created from the Kusto
column types (`columns: "{{ steps.q.columns }}"`, or the rows' values), its `keys`
the primary key (`shared.sql.types` has the type table). The table name is static
and checked; column names come from the data and are always quoted; values are
bound, never written into the SQL. See `shared.sql.writer`."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import StepInputError
from ..model import Static
from ..sql.identifiers import TABLE_NAME, parse_table_name
from ..sql.types import kusto_type_name
from ..sql.writer import Column, WriteRequest, resolve_columns, write_rows
from .base import StepContext, StepOutcome
from .registry import Action
from .sql_common import SqlStep, sql_engine

__all__ = ["ACTION", "SqlWriteStep"]

_VERBS = {"append": "appended to", "replace": "replaced the rows of",
          "upsert": "upserted into"}


class SqlWriteStep(SqlStep):
    """Write rows into a SQL table."""

    action: Literal["sql.write"]
    table: Annotated[str, Static, Field(
        description="table or schema.table (letters, digits, _)",
        json_schema_extra={"pattern": TABLE_NAME})]
    rows: Any = Field(description='the rows, a list of dicts: "{{ steps.<id>.rows }}"')
    columns: Any = Field(None, description='names and Kusto types: "{{ steps.<id>.columns }}" '
                                           "(default: the first row's keys, typed by value)")
    mode: Annotated[Literal["append", "replace", "upsert"], Static] = "append"
    keys: Annotated[list[str], Static, Field(
        default_factory=list,
        description="upsert: the key columns; also the primary key of a created table")]
    create: Annotated[bool, Static, Field(
        description="create the table when it is missing")] = False
    batch_size: Annotated[int, Static, Field(gt=0, le=100_000,
                                             description="rows per batch")] = 5_000

    @field_validator("table")
    @classmethod
    def _plain_table_name(cls, value: str) -> str:
        if not re.fullmatch(TABLE_NAME, value):
            raise ValueError("a table name is letters, digits and _ (not starting with a "
                             "digit, at most 63), optionally schema.table")
        return value

    @field_validator("keys", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _upsert_has_keys(self) -> SqlWriteStep:
        if self.mode == "upsert" and not self.keys:
            raise ValueError("mode: upsert needs keys: the columns that identify a row")
        return self


def _columns(value: Any) -> list[Column] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):  # {name: type}
        value = [{"name": k, "type": v} for k, v in value.items()]
    if not isinstance(value, list | tuple):
        raise StepInputError(f"field 'columns' must be a list of {{name, type}}, got "
                             f"{type(value).__name__}",
                             hint='pass a Kusto step\'s columns: "{{ steps.q.columns }}"')
    columns = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or "name" not in item or "type" not in item:
            raise StepInputError(f"columns[{index}] is not a {{name, type}} mapping",
                                 hint='pass a Kusto step\'s columns: "{{ steps.q.columns }}"')
        columns.append(Column(str(item["name"]),
                              kusto_type_name(item["type"], where=f"columns[{index}]")))
    return columns


def run_sql_write(step: SqlWriteStep, inputs: Mapping[str, Any], ctx: StepContext
                  ) -> StepOutcome:
    rows = inputs.get("rows")
    if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, list | tuple):
        raise StepInputError(f"field 'rows' must give a list of rows, got "
                             f"{type(rows).__name__}",
                             hint='e.g. rows: "{{ steps.query.rows }}"')
    engine = sql_engine(step, ctx)
    columns = resolve_columns(rows, _columns(inputs.get("columns")), engine.dialect)
    request = WriteRequest(
        table=parse_table_name(step.table), rows=rows, columns=columns, mode=step.mode,
        keys=list(step.keys), create=step.create, batch_size=step.batch_size,
        timeout=min(ctx.flow.limits.request_timeout, ctx.remaining()))
    started = time.perf_counter()
    result = write_rows(engine, request)
    elapsed_ms = (time.perf_counter() - started) * 1000
    outputs: dict[str, Any] = {
        "table": step.table, "mode": step.mode, "rows_written": result.rows_written,
        "batches": result.batches, "created": result.created,
        "elapsed_ms": round(elapsed_ms, 1)}
    if result.deleted is not None:
        outputs["rows_deleted"] = result.deleted
    created = " (table created)" if result.created else ""
    return StepOutcome(outputs, f"{result.rows_written:,} rows {_VERBS[step.mode]} "
                                f"{step.table}{created}")


ACTION = Action(
    SqlWriteStep, run_sql_write, title="Write rows into a SQL table",
    fields_doc="`connection` (a SQL one), `table`, `rows`, `columns` (Kusto types; default "
               "from the values), `mode` (`append`, `replace`, `upsert` with `keys`), "
               "`create`, `batch_size`",
    outputs_doc="`rows_written`, `batches`, `created`, `rows_deleted` (replace), `table`, "
                "`mode`, `elapsed_ms`",
    writes=True,
)
