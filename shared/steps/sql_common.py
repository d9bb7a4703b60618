"""What the SQL actions share: the connection field, the engine of a connection (one
per connection per process, through `Resources.client`), and binding parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field

from ..errors import StepInputError
from ..model import Static, StepModel
from ..sql.engines import SqlEngine
from .base import StepContext

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import TextClause

__all__ = ["SqlStep", "bound_statement", "sql_engine"]


class SqlStep(StepModel):
    #: The connections it takes (a Kusto one is refused at load and at run time).
    connection_family: ClassVar[str] = "sql"
    connection: Annotated[str, Static, Field(
        description="a SQL connection from flows/connections.yaml (kind: postgresql, "
                    "sqlserver or sqlite)")]


def sql_engine(step: SqlStep, ctx: StepContext) -> SqlEngine:
    from ..sql.engines import engine_key, make_engine

    connection = ctx.resources.connection(step.connection, "sql")
    settings = ctx.settings
    return ctx.resources.client(engine_key(connection, settings),
                                lambda: make_engine(connection, settings))


def bound_statement(sql: str, values: Mapping[str, Any]) -> TextClause:
    """*sql* with its `:name` parameters bound to *values* (a list becomes an expanding
    parameter, for `IN :names`; a mapping its JSON text); every parameter the text
    uses needs a value, and every value a parameter."""
    import json

    from sqlalchemy import bindparam, text

    statement = text(sql)
    used = set(statement.compile().params)
    unknown = sorted(set(values) - used)
    if unknown:
        raise StepInputError(
            f"parameter '{unknown[0]}' is not used by the query (it uses: "
            f"{', '.join(sorted(used)) or 'none'})",
            hint=f"write :{unknown[0]} where the value goes, or remove it from parameters")
    missing = sorted(used - set(values))
    if missing:
        raise StepInputError(
            f"the query uses :{missing[0]} and the step gives no value for it",
            hint=f"add parameters: {{{missing[0]}: ...}} to the step (a literal ':' in the "
                 f"SQL text is written '\\:')")
    binds: list[Any] = []
    for name, value in values.items():
        if isinstance(value, list | tuple):
            binds.append(bindparam(name, list(value), expanding=True))
        elif isinstance(value, dict):
            binds.append(bindparam(name, json.dumps(value, default=str)))
        else:
            binds.append(bindparam(name, value))
    return statement.bindparams(*binds)
