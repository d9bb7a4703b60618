"""What a KQL text becomes before it runs on the embedded engine, kept between runs:
the connection's schema, and each query's translation to SQL.

A flow runs the same query text run after run with other parameter values. duckdb-kql
translates the text to SQL without the values (they are bound to `$` placeholders
afterwards, `duckdb_kql.params.bind`), so a translation is kept by text and database
and only the values are bound again: a prepared statement. `now()` is SQL's, read
when the statement runs; a translation that binds an instant of its own (the clock
slot) is not kept, nor is anything translated against a schema since replaced. The
schema is read again after any statement that is not a SELECT (a control command:
`.set-or-append` creates a table); the connection is the backend's own, so nothing
else changes its catalog.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .embedded_limits import streaming_ranges

__all__ = ["Statement", "Translations"]

#: Translations kept per backend (the least recently used goes first).
_KEPT = 256


@dataclass(frozen=True)
class Statement:
    """SQL to run (ranges read as a stream: `streaming_ranges`) and its values;
    `reads_only`: every statement in it is a SELECT (it cannot change the tables)."""

    sql: str
    values: dict[str, Any]
    reads_only: bool


@dataclass(frozen=True)
class _Prepared:
    sql: str
    declarations: tuple[Any, ...]
    slots: frozenset[str]
    reads_only: bool


def _reads_only(sql: str) -> bool:
    import duckdb

    return all(s.type == duckdb.StatementType.SELECT for s in duckdb.extract_statements(sql))


class Translations:
    """The schema and the kept translations of one embedded connection. Use it
    holding the backend's lock (one statement at a time)."""

    def __init__(self) -> None:
        self._schema: Any = None
        self._prepared: OrderedDict[tuple[str, str | None], _Prepared] = OrderedDict()

    def schema(self, con: Any) -> Any:
        """The connection's tables and columns (a few ms of catalog queries), read
        once until a statement changes them."""
        if self._schema is None:
            from duckdb_kql.engine import schema

            self._schema = schema(con)
        return self._schema

    def statement(self, con: Any, text: str, values: dict[str, Any],
                  database: str | None) -> Statement:
        """*text* as SQL with *values* bound: `duckdb_kql.to_sql`'s answer, from a
        kept translation when there is one. Raises what to_sql raises, and
        `KqlSchemaError` for a declared parameter with no value and no default."""
        import duckdb_kql
        from duckdb_kql.params import bind
        from duckdb_kql.translate import CLOCK_SLOT

        key = (text, database)
        prepared = self._prepared.get(key)
        if prepared is None:
            translated = duckdb_kql.to_sql(text, schema=self.schema(con),
                                           parameters=values or None, database=database)
            bound, unbound = dict(translated.parameters), translated.unbound
            sql = streaming_ranges(str(translated))
            reads_only = _reads_only(sql)
            if CLOCK_SLOT not in bound:
                self._keep(key, _Prepared(sql, tuple(translated.declarations),
                                          frozenset(translated.slots), reads_only))
        else:
            self._prepared.move_to_end(key)
            bound, unbound = {}, ()
            if prepared.declarations or values:
                bound, unbound = bind(list(prepared.declarations), values or None)
                bound = {slot: v for slot, v in bound.items() if slot in prepared.slots}
            sql, reads_only = prepared.sql, prepared.reads_only
        if unbound:
            raise duckdb_kql.KqlSchemaError(
                ", ".join(unbound), hint="declared query parameter with no value and no default")
        return Statement(sql, bound, reads_only)

    def ran(self, statement: Statement) -> None:
        """After *statement* ran (or failed part way): one that is not only SELECTs may
        have changed the tables, so the schema and every translation go."""
        if not statement.reads_only:
            self._schema = None
            self._prepared.clear()

    def _keep(self, key: tuple[str, str | None], prepared: _Prepared) -> None:
        self._prepared[key] = prepared
        if len(self._prepared) > _KEPT:
            self._prepared.popitem(last=False)
