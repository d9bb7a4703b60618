"""The embedded engine's errors in Kusto's words.

duckdb-kql translates KQL to SQL and duckdb runs it, so a mistake in the query
(a misspelled column or table) surfaces as duckdb's complaint about the *SQL*:
`Binder Error: Referenced column "DamageProprety" not found in FROM clause! ...
LINE 2: _s1 AS (SELECT * FROM _s0 WHERE ...`, or for `project Stat` even
"cannot be referenced before it is defined". A Kusto user wrote no SQL; this
module answers what a cluster would say, in one line:

    query failed: Semantic error: SEM0100: 'where' operator: Failed to resolve
    scalar expression named 'DamageProprety' (line 2, column 9). Did you mean
    'DamageProperty'? Columns here: StartTime, EndTime, ...

* the name as written in the KQL, and where it first appears there as a token
  (line and column, both from 1; strings and comments are skipped);
* the names that exist: the columns the pipeline has just before the operator
  that failed (the KQL up to that `|`, described by the engine without running
  it), or the tables / databases; with a "did you mean" when one is close;
* Kusto's wording and code where Kusto has one (SEM0100 "Failed to resolve scalar
  expression named", "Failed to resolve table or column expression named";
  SYN0002 for syntax), our own words otherwise (an unknown function: the engine
  cannot tell a misspelling from a Kusto built-in it lacks, so it says both);
* never SQL: duckdb's `LINE n:` excerpts, `SELECT`, the CTE names (`_s1`) and
  SQL type names do not reach the message; whatever still looks like SQL after
  the rewrites is replaced by a plain sentence.

Everything here is best effort on top of the engine's own error: a lookup that
fails only leaves a part out of the message, never hides the error.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import KustoQueryError
from .embedded_kql_scan import OPERATOR, occurrences, offset_of, place_of
from .embedded_name_errors import (
    NOT_RETRIED,
    PREFIX,
    EngineView,
    sentence,
    unknown_column,
    unknown_database,
    unknown_function,
    unknown_table,
)
from .embedded_sql_errors import SQL_LEFT, from_duckdb, scrub

__all__ = ["ConnectionView", "EngineView", "query_error"]


_DUCKDB_CATALOGS = frozenset({"memory", "system", "temp"})


class ConnectionView:
    """`EngineView` over the duckdb connection the query failed on (its lock held)."""

    def __init__(self, con: Any, parameters: dict[str, Any], database: str | None) -> None:
        self._con, self._parameters, self._database = con, parameters, database

    def columns_at(self, kql: str) -> list[str] | None:
        import duckdb_kql
        from duckdb_kql.engine import schema

        try:
            translated = duckdb_kql.to_sql(kql, schema=schema(self._con),
                                           parameters=self._parameters or None,
                                           database=self._database)
            if translated.unbound:
                return None
            # DESCRIBE binds the query without running it: no rows are read.
            sql = f"DESCRIBE {translated}"
            bound = translated.parameters
            cursor = self._con.execute(sql, bound) if bound else self._con.execute(sql)
            return [str(row[0]) for row in cursor.fetchall()]
        except Exception:  # the prefix has an error of its own: leave the list out
            return None

    def tables(self) -> list[str]:
        from duckdb_kql.engine import schema

        try:
            return sorted(name for name in schema(self._con) if "." not in name)
        except Exception:
            return []

    def databases(self) -> list[str]:
        from duckdb_kql.engine import databases

        try:
            # duckdb's own catalogs are no databases of the user's.
            return sorted(d for d in databases(self._con) if d not in _DUCKDB_CATALOGS)
        except Exception:
            return []


_INTERNAL = re.compile(r"duckdb|translate/|\.py\b|this wave|\bnear '", re.IGNORECASE)


def _unsupported(kql: str, exc: Any, view: EngineView | None) -> KustoQueryError:
    construct = str(getattr(exc, "construct", "") or "")
    span = getattr(exc, "span", None)
    library_hint = str(getattr(exc, "hint", "") or "")
    kind, _, name = construct.partition(":")
    if kind in ("function", "aggregate") and name:
        return unknown_function(kql, name, kind == "aggregate")
    if "assigned by this same clause" in library_hint and name:
        return unknown_column(kql, name, view, same_clause=kind)
    offset = offset_of(kql, span.line, span.column) if span is not None else None
    what = construct
    if offset is not None:
        word = OPERATOR.match(kql, offset)
        if word is not None:
            what = word.group(1)
            if what == "evaluate":  # name the plugin too
                plugin = re.match(r"\s*([A-Za-z_]\w*)", kql[word.end():])
                what += f" {plugin.group(1)}" if plugin else ""
    elif name:
        what = name
        spots = occurrences(kql, name)
        offset = spots[0] if spots else None
    else:
        spots = occurrences(kql, kind)
        offset = spots[0] if spots else None
    detail = library_hint if not (_INTERNAL.search(library_hint)
                                  or SQL_LEFT.search(library_hint)) else ""
    text = f"The embedded engine does not support '{what}'"
    if offset is not None:
        text += f" ({place_of(kql, offset)})"
    return KustoQueryError(
        PREFIX + text + (f": {detail}" if detail else ""),
        hint="rewrite the query without it, or run it on a cluster; " + NOT_RETRIED)

def _syntax(kql: str, exc: Any) -> KustoQueryError:
    diagnostics = list(getattr(exc, "diagnostics", []) or [])
    if not diagnostics:
        return KustoQueryError(PREFIX + "Syntax error: SYN0002: "
                               + (scrub(str(exc)) or "could not parse KQL"),
                               hint="fix the KQL; " + NOT_RETRIED)
    first = diagnostics[0]
    text = str(first.message)
    expecting = re.search(r"expecting \{(.*)\}$", text)
    if expecting is not None:
        options = [o.strip() for o in expecting.group(1).split(",")]
        if len(options) > 6:
            text = text[:expecting.start()].rstrip()
        else:
            words = ["end of query" if o == "<EOF>" else o for o in options]
            text = text[:expecting.start()] + "expecting " + " or ".join(words)
    text = text.replace("<EOF>", "end of query")
    offset = offset_of(kql, first.span.line, first.span.column)
    place = f" at {place_of(kql, offset)}" if offset is not None else ""
    more = len(diagnostics) - 1
    tail = f" ({more} more syntax error{'s' if more > 1 else ''} after it)" if more else ""
    # The parser's own words ("could not parse KQL"), its place counted from 1.
    return KustoQueryError(
        PREFIX + f"Syntax error: SYN0002: could not parse KQL{place}: {text}{tail}",
        hint="fix the KQL; " + NOT_RETRIED)

def _schema_error(kql: str, exc: Any, view: EngineView | None) -> KustoQueryError:
    name = str(getattr(exc, "name", "") or "")
    hint = str(getattr(exc, "hint", "") or "")
    hint = "" if SQL_LEFT.search(hint) else hint
    if hint.startswith("unknown table"):
        return unknown_table(kql, name, view)
    if hint.startswith("database not attached"):
        return unknown_database(kql, name, view)
    if "query parameter" in hint:
        return KustoQueryError(
            PREFIX + f"query parameter {name}: {hint}",
            hint="give the parameter a value in the step's parameters, or a default in "
                 "declare query_parameters; " + NOT_RETRIED)
    spots = occurrences(kql, name) if name else []
    return KustoQueryError(
        PREFIX + sentence(f"'{name}': {hint or 'schema error'}",
                            place_of(kql, spots[0]) if spots else None),
        hint="fix the KQL; " + NOT_RETRIED)


def query_error(exc: BaseException, kql: str,
                view: EngineView | None = None) -> KustoQueryError:
    """The `KustoQueryError` for *exc* (a duckdb or duckdb-kql error raised running the
    KQL *kql*), worded as Kusto would, with no SQL in it."""
    try:
        return _translate(exc, kql, view)
    except Exception:  # a rewrite that trips on an odd query still answers, in words
        return KustoQueryError(
            PREFIX + (scrub(str(exc)) or "the embedded engine could not run the query"),
            hint="fix the KQL; " + NOT_RETRIED)


def _translate(exc: BaseException, kql: str, view: EngineView | None) -> KustoQueryError:
    import duckdb_kql

    if isinstance(exc, duckdb_kql.KqlSyntaxError):
        error = _syntax(kql, exc)
    elif isinstance(exc, duckdb_kql.KqlUnsupportedError):
        error = _unsupported(kql, exc, view)
    elif isinstance(exc, duckdb_kql.KqlSchemaError):
        error = _schema_error(kql, exc, view)
    elif isinstance(exc, duckdb_kql.KqlError):
        error = KustoQueryError(PREFIX + (scrub(str(exc)) or "the query was refused"),
                                hint="fix the KQL; " + NOT_RETRIED)
    else:
        error = from_duckdb(kql, str(exc), view)
    return error
