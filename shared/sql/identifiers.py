"""Table and column names are identifiers, never values: a table name is checked
against a plain pattern when the flow is loaded (it is static text), and column names,
which come from the data (a Kusto result's columns, the keys of rows from a webhook),
are checked for length and control characters and always reach SQL through
SQLAlchemy's quoting for the database (double quotes on PostgreSQL and SQLite,
brackets on SQL Server, a quote inside the name doubled), never spliced in as
written."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import StepInputError

__all__ = ["TABLE_NAME", "TableName", "check_column_name", "parse_table_name"]

#: `name` or `schema.name`, each part a plain identifier of at most 63 characters
#: (PostgreSQL's limit; longer names would be cut silently).
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: PostgreSQL cuts identifiers at 63 bytes; SQL Server allows 128 characters.
_MAX_NAME = {"postgresql": 63, "mssql": 128, "sqlite": 128}


@dataclass(frozen=True)
class TableName:
    name: str
    schema: str | None = None

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


def parse_table_name(text: str) -> TableName:
    if not re.fullmatch(TABLE_NAME, text):
        raise StepInputError(f"table '{text}' is not a plain table name",
                             hint="use letters, digits and _, optionally schema.table")
    schema, _, name = text.rpartition(".")
    return TableName(name, schema or None)


def check_column_name(name: object, dialect: str, *, where: str) -> str:
    """*name* as a column name for *dialect*, or StepInputError saying where it came from."""
    if not isinstance(name, str) or not name.strip():
        raise StepInputError(f"{where}: column name {name!r} is not a non-empty text",
                             hint="give each column a name")
    if _CONTROL.search(name):
        raise StepInputError(f"{where}: column name {name!r} holds control characters",
                             hint="rename the column in the query (project-rename)")
    limit = _MAX_NAME.get(dialect, 128)
    size = len(name.encode("utf-8")) if dialect == "postgresql" else len(name)
    if size > limit:
        raise StepInputError(f"{where}: column name '{name[:40]}...' is longer than the "
                             f"{limit} the database keeps",
                             hint="rename the column in the query (project-rename)")
    return name
