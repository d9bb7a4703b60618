"""Rows into a SQL table, in one transaction: create the table when asked, empty it
for `replace`, then insert (`append`, `replace`) or insert-or-update by key
(`upsert`) in batches.

Memory: the rows are read where they are (a step's output); only one batch at a
time is converted to driver values, so writing costs a batch on top of the rows.

Upsert is `INSERT ... ON CONFLICT (keys) DO UPDATE` on PostgreSQL and SQLite (the
keys need a primary key or unique index: a table this step creates gets its keys as
primary key), and `MERGE ... WITH (HOLDLOCK)` over a VALUES list on SQL Server. Rows
with the same key in one batch are written once, the last one winning, as a
database refuses to update one row twice in one statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import StepInputError
from .engines import SqlEngine
from .identifiers import TableName, check_column_name
from .session import transaction
from .types import CONVERSION_ERRORS, bad_value, column_type, converter, infer_type

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["Column", "WriteRequest", "WriteResult", "mssql_merge_sql", "resolve_columns",
           "write_rows"]

Mode = Literal["append", "replace", "upsert"]
#: SQL Server takes at most 2,100 parameters in one statement.
_MSSQL_PARAMETERS = 2000
_MISSING = object()


@dataclass(frozen=True)
class Column:
    name: str
    #: Kusto type name (`shared.sql.types`).
    type: str


@dataclass
class WriteRequest:
    table: TableName
    rows: Sequence[Mapping[str, Any]]
    columns: list[Column]
    mode: Mode
    keys: list[str]
    create: bool
    batch_size: int
    timeout: float


@dataclass
class WriteResult:
    rows_written: int
    batches: int
    created: bool
    deleted: int | None


def resolve_columns(rows: Sequence[Any], given: list[Column] | None,
                    dialect: str) -> list[Column]:
    """The table's columns: *given* (a Kusto step's `columns`), or the first row's keys
    typed by each column's first non-null value ("string" when all are null)."""
    if given is not None:
        names = [check_column_name(c.name, dialect, where=f"columns[{i}]")
                 for i, c in enumerate(given)]
        if len(set(names)) != len(names):
            raise StepInputError("columns names a column twice",
                                 hint="give each column once")
        return given
    if not rows:
        return []
    first = rows[0]
    if not isinstance(first, Mapping):
        raise StepInputError("rows[0] is not a mapping of column: value",
                             hint="pass rows as a list of dicts, e.g. {{ steps.q.rows }}")
    names = [check_column_name(name, dialect, where="rows[0]") for name in first]
    types: dict[str, str | None] = dict.fromkeys(names)
    open_names = list(names)
    for row in rows:
        if not open_names:
            break
        if not isinstance(row, Mapping):
            continue  # reported with its index when written
        for name in list(open_names):
            kind = infer_type(row.get(name))
            if kind is not None:
                types[name] = kind
                open_names.remove(name)
    return [Column(name, types[name] or "string") for name in names]


def mssql_merge_sql(quote: Callable[[str], str], table: str, columns: Sequence[str],
                    keys: Sequence[str], row_count: int) -> str:
    """SQL Server's upsert of *row_count* rows: parameters :r<row>_<column>."""
    names = ", ".join(quote(c) for c in columns)
    values = ", ".join(
        "(" + ", ".join(f":r{r}_{c}" for c in range(len(columns))) + ")"
        for r in range(row_count))
    on = " AND ".join(f"[target].{quote(k)} = [source].{quote(k)}" for k in keys)
    updates = [c for c in columns if c not in keys]
    update = (" WHEN MATCHED THEN UPDATE SET "
              + ", ".join(f"[target].{quote(c)} = [source].{quote(c)}" for c in updates)
              if updates else "")
    inserted = ", ".join(f"[source].{quote(c)}" for c in columns)
    return (f"MERGE INTO {table} WITH (HOLDLOCK) AS [target] USING (VALUES {values}) "
            f"AS [source] ({names}) ON {on}{update} WHEN NOT MATCHED THEN INSERT "
            f"({names}) VALUES ({inserted});")


class _Batches:
    """The rows as converted batches of parameter dicts (p0, p1, ... by column)."""

    def __init__(self, request: WriteRequest, dialect: str) -> None:
        self.request = request
        self.names = [c.name for c in request.columns]
        self.converters = [converter(c.type, dialect) for c in request.columns]
        self.key_positions = [self.names.index(k) for k in request.keys]

    def row_values(self, index: int, row: Any) -> list[Any]:
        if not isinstance(row, Mapping):
            raise StepInputError(f"rows[{index}] is not a mapping of column: value",
                                 hint="pass rows as a list of dicts")
        values: list[Any] = []
        found = 0
        for name, convert in zip(self.names, self.converters, strict=True):
            value = row.get(name, _MISSING)
            if value is _MISSING:
                values.append(None)
                continue
            found += 1
            if value is None:
                values.append(None)
                continue
            try:
                values.append(convert(value))
            except CONVERSION_ERRORS:
                kind = self.request.columns[len(values)].type
                raise bad_value(f"rows[{index}].{name}", kind, value) from None
        if len(row) > found:
            extra = next(str(k) for k in row if k not in self.names)
            raise StepInputError(f"rows[{index}] has column '{extra}', which is not among "
                                 f"the table's columns ({', '.join(self.names)})",
                                 hint="project the same columns in every row, or give "
                                      "columns")
        for position in self.key_positions:
            if values[position] is None:
                raise StepInputError(f"rows[{index}].{self.names[position]} is a key and "
                                     f"is empty", hint="every row needs a value for each key")
        return values

    def __iter__(self) -> Any:
        rows = self.request.rows
        size = self.request.batch_size
        dedupe = self.request.mode == "upsert"
        for start in range(0, len(rows), size):
            batch = [self.row_values(start + i, row)
                     for i, row in enumerate(rows[start:start + size])]
            if dedupe:
                by_key = {tuple(v[p] for p in self.key_positions): v for v in batch}
                batch = list(by_key.values())
            yield batch


def _create_table(conn: Connection, request: WriteRequest, quote: Callable[[str], str],
                  qualified: str, dialect: str) -> None:
    from sqlalchemy import text

    keys = set(request.keys)
    parts = [f"{quote(c.name)} {column_type(c.type, dialect, key=c.name in keys)}"
             + (" NOT NULL" if c.name in keys else "") for c in request.columns]
    if request.keys:
        parts.append(f"PRIMARY KEY ({', '.join(quote(k) for k in request.keys)})")
    conn.execute(text(f"CREATE TABLE {qualified} ({', '.join(parts)})"))


def write_rows(engine: SqlEngine, request: WriteRequest) -> WriteResult:
    import sqlalchemy as sa

    dialect = engine.dialect
    preparer = engine.engine.dialect.identifier_preparer
    quote: Callable[[str], str] = preparer.quote
    table = request.table
    qualified = (f"{preparer.quote_schema(table.schema)}.{quote(table.name)}"
                 if table.schema else quote(table.name))
    names = [c.name for c in request.columns]
    for key in request.keys:
        if key not in names:
            raise StepInputError(f"key '{key}' is not a column ({', '.join(names) or 'none'})",
                                 hint="name key columns the rows have")
    target = sa.table(table.name, *(sa.column(n) for n in names), schema=table.schema)
    binds: dict[str, Any] = {name: sa.bindparam(f"p{i}") for i, name in enumerate(names)}
    # SQL Server's upsert is a MERGE per batch (`_merge`); the rest one statement.
    statement: Any = None
    if not (dialect == "mssql" and request.mode == "upsert"):
        statement = _insert(dialect, target, binds, request)
    created = False
    deleted = None
    written = batches = 0
    with transaction(engine, request.timeout, what=f"writing to {table}") as conn:
        if not sa.inspect(conn).has_table(table.name, schema=table.schema):
            if not request.create:
                raise StepInputError(f"table {table} does not exist in the database",
                                     hint="create it, or set create: true on the step")
            if not names:
                raise StepInputError(f"table {table} does not exist and there are no rows "
                                     f"or columns to create it from",
                                     hint="pass the Kusto step's columns: "
                                          "{{ steps.<id>.columns }}")
            _create_table(conn, request, quote, qualified, dialect)
            created = True
        if request.mode == "replace":
            deleted = conn.execute(sa.delete(target)).rowcount
        for batch in _Batches(request, dialect):
            if not batch:
                continue
            if statement is None:  # SQL Server upsert: MERGE, a VALUES list per statement
                _merge(conn, quote, qualified, names, request.keys, batch)
            else:
                conn.execute(statement, [{f"p{i}": v for i, v in enumerate(values)}
                                         for values in batch])
            written += len(batch)
            batches += 1
    return WriteResult(written, batches, created, deleted)


def _insert(dialect: str, target: Any, binds: dict[str, Any], request: WriteRequest) -> Any:
    import sqlalchemy as sa

    if request.mode != "upsert":
        return sa.insert(target).values(binds)
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement: Any = insert(target).values(binds)
    updates = {name: statement.excluded[name] for name in binds if name not in request.keys}
    if not updates:
        return statement.on_conflict_do_nothing(index_elements=request.keys)
    return statement.on_conflict_do_update(index_elements=request.keys, set_=updates)


def _merge(conn: Connection, quote: Callable[[str], str], qualified: str, names: list[str],
           keys: list[str], batch: list[list[Any]]) -> None:
    from sqlalchemy import text

    per_statement = max(1, _MSSQL_PARAMETERS // max(len(names), 1))
    for start in range(0, len(batch), per_statement):
        chunk = batch[start:start + per_statement]
        sql = mssql_merge_sql(quote, qualified, names, keys, len(chunk))
        conn.execute(text(sql), {f"r{r}_{c}": value for r, values in enumerate(chunk)
                                 for c, value in enumerate(values)})
