"""The embedded engine's errors about names, in Kusto's words: an unknown column
(SEM0100 "Failed to resolve scalar expression named", with the columns there and a
"did you mean"), table, database or function; and the wording every family shares.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from ..errors import KustoQueryError
from .embedded_kql_scan import Scope, kql_tokens, occurrences, place_of, right_side, scope_at

__all__ = [
    "MAX_LISTED",
    "NOT_RETRIED",
    "PREFIX",
    "EngineView",
    "candidates",
    "closest",
    "operator_part",
    "quoted_list",
    "sentence",
    "unknown_column",
    "unknown_database",
    "unknown_function",
    "unknown_table",
]

PREFIX = "query failed: "
NOT_RETRIED = "it was not retried"
#: At most this many names are listed (a wide table would drown the message).
MAX_LISTED = 40


class EngineView(Protocol):
    """What the translator may ask of the engine about the query's names."""

    def columns_at(self, kql: str) -> list[str] | None:
        """The columns the KQL *kql* produces, without running it; None if unknown."""
        ...

    def tables(self) -> list[str]: ...

    def databases(self) -> list[str]: ...


def quoted_list(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return shown + (f", … ({more} more)" if more > 0 else "")


def closest(name: str, names: Iterable[str]) -> str | None:
    names = [n for n in names if n != name]
    for candidate in names:
        if candidate.casefold() == name.casefold():
            return candidate
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return close[0] if close else None


def candidates(text: str) -> list[str]:
    """duckdb's `Candidate bindings: "a", "b"` names (its guesses from the scope)."""
    match = re.search(r"Candidate bindings:(.*)", text)
    if match is None:
        return []
    return [n.rsplit(".", 1)[-1] for n in re.findall(r'"((?:[^"]|"")*)"', match.group(1))]


def sentence(head: str, place: str | None, *tails: str) -> str:
    text = head + (f" ({place})" if place else "")
    rest = [t for t in tails if t]
    return text + (". " + " ".join(rest) if rest else "")


def operator_part(operator: str | None) -> str:
    return f"'{operator}' operator: " if operator else ""


_COLUMN_HINT = ("check the name's spelling and case (Kusto names are case-sensitive) and that "
                "no earlier operator (project, summarize) left it out; " + NOT_RETRIED)


def unknown_column(kql: str, name: str, view: EngineView | None, *,
                    duckdb_candidates: Sequence[str] = (), same_clause: str | None = None,
                    side: str | None = None) -> KustoQueryError:
    uses = occurrences(kql, name, call=False, assignment=False)
    offset = uses[0] if uses else None
    scope = scope_at(kql, offset) if offset is not None else Scope()
    operator = same_clause or scope.operator
    source = scope.before
    if side == "_r":
        right = (right_side(kql, scope.operator_end) if scope.operator_end is not None
                 else None)
        source = scope.head + right if right is not None else None
    columns = view.columns_at(source) if view is not None and source is not None else None
    notes: list[str] = []
    if same_clause:
        notes.append(f"'{name}' is assigned by this same '{same_clause}', which sees only "
                     f"its input columns; split it in two ('| {same_clause} {name} = …' "
                     f"first, then the operator that uses it).")
    elif offset is not None:
        later = [o for o in occurrences(kql, name, call=False, assignment=True) if o > offset]
        if later:
            defined_by = scope_at(kql, later[0]).operator
            notes.append(f"'{name}' is only defined later, by "
                         f"{f'the {defined_by!r} ' if defined_by else ''}at "
                         f"{place_of(kql, later[0])}; move that before this use.")
    elif side:
        notes.append(f"It is not a column of the {'right' if side == '_r' else 'left'} side "
                     f"of the join.")
    pool = columns if columns is not None else list(duckdb_candidates)
    guess = closest(name, pool)
    if guess:
        notes.append(f"Did you mean '{guess}'?")
    if columns is not None:
        where = {"_l": "Columns of the left side", "_r": "Columns of the right side"}.get(
            side or "", "Columns here")
        notes.append(f"{where}: {quoted_list(columns) or '(none)'}")
    elif duckdb_candidates and not guess:
        notes.append(f"Close names here: {quoted_list(duckdb_candidates)}")
    head = (f"Semantic error: SEM0100: {operator_part(operator)}Failed to resolve scalar "
            f"expression named '{name}'")
    place = place_of(kql, offset) if offset is not None else None
    return KustoQueryError(PREFIX + sentence(head, place, *notes), hint=_COLUMN_HINT)


def unknown_table(kql: str, name: str, view: EngineView | None,
                   suggested: str | None = None) -> KustoQueryError:
    spots = occurrences(kql, name, call=False)
    offset = spots[0] if spots else None
    operator = scope_at(kql, offset).operator if offset is not None else None
    tables = view.tables() if view is not None else []
    guess = closest(name, tables) or suggested
    notes = [f"Did you mean '{guess}'?" if guess else "",
             f"Tables: {quoted_list(tables)}" if tables else ""]
    head = (f"Semantic error: SEM0100: {operator_part(operator)}Failed to resolve table or "
            f"column expression named '{name}'")
    return KustoQueryError(
        PREFIX + sentence(head, place_of(kql, offset) if offset is not None else None, *notes),
        hint="check the table's spelling and case (Kusto names are case-sensitive); "
             + NOT_RETRIED)


def unknown_database(kql: str, name: str, view: EngineView | None) -> KustoQueryError:
    spots = [t.start for t in kql_tokens(kql) if t.kind == "string" and t.text == name]
    known = view.databases() if view is not None else []
    guess = closest(name, known)
    notes = [f"Did you mean '{guess}'?" if guess else "",
             f"Databases: {quoted_list(known)}" if known else ""]
    return KustoQueryError(
        PREFIX + sentence(f"Unknown database '{name}'",
                            place_of(kql, spots[0]) if spots else None, *notes),
        hint="database names are case-sensitive; " + NOT_RETRIED)


def _known_functions(aggregate: bool) -> list[str]:
    """The functions the engine maps, for "did you mean" (best effort: internals)."""
    names: set[str] = set()
    try:
        from duckdb_kql.translate import functions

        names.update(getattr(functions, "AGGREGATE_FUNCTIONS", {}))
        if not aggregate:
            names.update(getattr(functions, "SCALAR_FUNCTIONS", {}))
    except ImportError:
        pass
    if not aggregate:
        try:
            import duckdb_kql.translate as translate

            names.update(getattr(translate, "_SPECIAL_FORMS", {}))
        except ImportError:
            pass
    return sorted(n for n in names if isinstance(n, str) and n.isidentifier())


def unknown_function(kql: str, name: str, aggregate: bool) -> KustoQueryError:
    spots = occurrences(kql, name, call=True)
    offset = spots[0] if spots else None
    operator = scope_at(kql, offset).operator if offset is not None else None
    guess = closest(name, _known_functions(aggregate))
    what = "aggregation function" if aggregate else "function"
    head = f"{operator_part(operator)}Unknown {what}: '{name}'"
    notes = [f"Did you mean '{guess}()'?" if guess else "",
             "The embedded engine has no function of that name: a misspelling (names are "
             "case-sensitive) or a Kusto function it does not support (a cluster runs those)."]
    return KustoQueryError(
        PREFIX + sentence(head, place_of(kql, offset) if offset is not None else None, *notes),
        hint="check the function's name, or run the query on a cluster; " + NOT_RETRIED)
