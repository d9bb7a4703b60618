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

import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import KustoQueryError

__all__ = ["ConnectionView", "EngineView", "query_error"]

_PREFIX = "query failed: "
_NOT_RETRIED = "it was not retried"
#: At most this many names are listed (a wide table would drown the message).
_MAX_LISTED = 40


class EngineView(Protocol):
    """What the translator may ask of the engine about the query's names."""

    def columns_at(self, kql: str) -> list[str] | None:
        """The columns the KQL *kql* produces, without running it; None if unknown."""
        ...

    def tables(self) -> list[str]: ...

    def databases(self) -> list[str]: ...


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


# --- finding names in the KQL text ------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: str    # "name" | "string" | "number" | "punct"
    text: str    # a name's or string's value; the character for punct
    start: int
    end: int


_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_NUMBER = re.compile(r"\d[\w.]*")
_SPACE = re.compile(r"\s+")


def _string_end(kql: str, i: int) -> tuple[int, str] | None:
    """If a string literal starts at *i*: (index after it, its value)."""
    if kql.startswith("```", i):
        end = kql.find("```", i + 3)
        end = len(kql) if end == -1 else end
        return min(end + 3, len(kql)), kql[i + 3:end]
    verbatim = False
    j = i
    if kql[j] in "hH" and kql[j + 1:j + 2] in ("'", '"', "@"):
        j += 1  # h'...': an obfuscated string literal
    if kql[j] == "@" and kql[j + 1:j + 2] in ("'", '"'):
        verbatim, j = True, j + 1
    if kql[j:j + 1] not in ("'", '"') or j == i and kql[i] in "hH@":
        return None
    quote, k, value = kql[j], j + 1, []
    while k < len(kql):
        char = kql[k]
        if char == "\\" and not verbatim and k + 1 < len(kql):
            value.append(kql[k + 1])
            k += 2
            continue
        if char == quote:
            if verbatim and kql[k + 1:k + 2] == quote:
                value.append(quote)
                k += 2
                continue
            return k + 1, "".join(value)
        if char == "\n" and not verbatim:
            break
        value.append(char)
        k += 1
    return k, "".join(value)


def _tokens(kql: str) -> Iterator[_Token]:
    i = 0
    while i < len(kql):
        char = kql[i]
        if char.isspace():
            i = _SPACE.match(kql, i).end()  # type: ignore[union-attr]
            continue
        if kql.startswith("//", i):
            end = kql.find("\n", i)
            i = len(kql) if end == -1 else end
            continue
        literal = _string_end(kql, i) if char in "'\"@hH`" else None
        if literal is not None:
            yield _Token("string", literal[1], i, literal[0])
            i = literal[0]
            continue
        match = _NAME.match(kql, i) or _NUMBER.match(kql, i)
        if match is not None:
            kind = "number" if char.isdigit() else "name"
            yield _Token(kind, match.group(), i, match.end())
            i = match.end()
            continue
        yield _Token("punct", char, i, i + 1)
        i += 1


def _place(kql: str, offset: int) -> str:
    line = kql.count("\n", 0, offset) + 1
    column = offset - (kql.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _is_assignment(kql: str, end: int) -> bool:
    """Whether the name ending at *end* is followed by `=` (not `==`, `=~`)."""
    rest = kql[end:].lstrip(" \t")
    return rest.startswith("=") and not rest.startswith(("==", "=~"))


def _occurrences(kql: str, name: str, *, call: bool | None = None,
                 assignment: bool | None = None) -> list[int]:
    """Offsets of *name* as a name token (or a `['name']` quoted one). `call`: only
    (True) or never (False) followed by `(`; `assignment`: likewise for `=`."""
    found: list[int] = []
    tokens = list(_tokens(kql))
    for index, token in enumerate(tokens):
        if token.text != name:
            continue
        before = tokens[index - 1] if index else None
        if token.kind == "string":
            if before is None or before.text != "[" or before.kind != "punct":
                continue
        elif token.kind not in ("name", "number"):
            continue
        if before is not None and before.kind == "punct" and before.text == "." and (
                index < 2 or tokens[index - 2].text not in ("$left", "$right")):
            continue  # a property of a dynamic value, not a column
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.kind == "string":  # ['name']: what follows is past the `]`
            after = tokens[index + 2] if index + 2 < len(tokens) else None
            end = tokens[index + 1].end if index + 1 < len(tokens) else token.end
        else:
            end = token.end
        is_call = after is not None and after.kind == "punct" and after.text == "("
        if call is not None and is_call != call:
            continue
        if assignment is not None and _is_assignment(kql, end) != assignment:
            continue
        found.append(token.start)
    return found


def _literal_at(kql: str, value: str) -> int | None:
    for token in _tokens(kql):
        if token.kind == "string" and token.text == value:
            return token.start
    return None


_OPERATOR = re.compile(r"\s*([A-Za-z][\w]*(?:-[A-Za-z]\w*)*)")
_LET = re.compile(r"\s*let\s+[A-Za-z_$][\w$]*\s*=\s*")
_SOURCE_OPERATORS = frozenset({"print", "range", "union", "evaluate", "find", "search",
                               "datatable"})


@dataclass(frozen=True)
class _Scope:
    """Where an offset sits in the KQL: its operator and the pipeline before it."""

    operator: str | None = None
    #: KQL producing the operator's input (lets and declarations kept), or None.
    before: str | None = None
    #: The statements before the one holding the offset (lets, declarations).
    head: str = ""
    #: Where the operator's name ends (for reading its arguments), or None.
    operator_end: int | None = None


def _scope(kql: str, offset: int) -> _Scope:
    """The operator around *offset*: the one after the last `|` before it, in the
    innermost parenthesis that has one (a function call's parentheses have none, a
    sub-query's do)."""
    statement = 0
    frames: list[list[int | None]] = [[0, None]]     # [start, last pipe] per nesting
    for token in _tokens(kql):
        if token.start >= offset:
            break
        if token.kind != "punct":
            continue
        if token.text in "([{":
            frames.append([token.end, None])
        elif token.text in ")]}" and len(frames) > 1:
            frames.pop()
        elif token.text == "|":
            frames[-1][1] = token.start
        elif token.text == ";":
            frames[-1] = [token.end, None]
            if len(frames) == 1:
                statement = token.end
    head = kql[:statement]
    for start, pipe in reversed(frames):
        assert start is not None
        let = _LET.match(kql, start)
        if let is not None:
            start = let.end()
        if pipe is None:
            word = _OPERATOR.match(kql, start)
            if word is not None and word.group(1) in _SOURCE_OPERATORS:
                return _Scope(word.group(1), None, head, word.end())
            continue
        word = _OPERATOR.match(kql, pipe + 1)
        return _Scope(word.group(1) if word else None, head + kql[start:pipe], head,
                      word.end() if word else None)
    return _Scope(head=head)


def _right_side(kql: str, after: int) -> str | None:
    """The KQL of a join's or lookup's right side, its operator's name ending at *after*:
    `(sub-query)` or a table's name, past options such as `kind=inner`."""
    tokens = [t for t in _tokens(kql) if t.start >= after]
    i = 0
    while i < len(tokens) and tokens[i].kind == "name":
        j = i + 1
        while j + 1 < len(tokens) and tokens[j].text == "." and tokens[j + 1].kind == "name":
            j += 2
        if j < len(tokens) and tokens[j].text == "=" and _is_assignment(kql, tokens[j - 1].end):
            i = j + 2
            continue
        return tokens[i].text if j == i + 1 else None
    if i >= len(tokens) or tokens[i].text != "(" or tokens[i].kind != "punct":
        return None
    depth = 0
    for token in tokens[i:]:
        if token.kind == "punct" and token.text in "([{":
            depth += 1
        elif token.kind == "punct" and token.text in ")]}":
            depth -= 1
            if depth == 0:
                return kql[tokens[i].end:token.start]
    return None


# --- the messages -----------------------------------------------------------------

def _quoted_list(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f", … ({more} more)" if more > 0 else "")


def _closest(name: str, names: Iterable[str]) -> str | None:
    names = [n for n in names if n != name]
    for candidate in names:
        if candidate.casefold() == name.casefold():
            return candidate
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return close[0] if close else None


def _candidates(text: str) -> list[str]:
    """duckdb's `Candidate bindings: "a", "b"` names (its guesses from the scope)."""
    match = re.search(r"Candidate bindings:(.*)", text)
    if match is None:
        return []
    return [n.rsplit(".", 1)[-1] for n in re.findall(r'"((?:[^"]|"")*)"', match.group(1))]


def _sentence(head: str, place: str | None, *tails: str) -> str:
    text = head + (f" ({place})" if place else "")
    rest = [t for t in tails if t]
    return text + (". " + " ".join(rest) if rest else "")


def _operator_part(operator: str | None) -> str:
    return f"'{operator}' operator: " if operator else ""


_COLUMN_HINT = ("check the name's spelling and case (Kusto names are case-sensitive) and that "
                "no earlier operator (project, summarize) left it out; " + _NOT_RETRIED)


def _unknown_column(kql: str, name: str, view: EngineView | None, *,
                    duckdb_candidates: Sequence[str] = (), same_clause: str | None = None,
                    side: str | None = None) -> KustoQueryError:
    uses = _occurrences(kql, name, call=False, assignment=False)
    offset = uses[0] if uses else None
    scope = _scope(kql, offset) if offset is not None else _Scope()
    operator = same_clause or scope.operator
    source = scope.before
    if side == "_r":
        right = (_right_side(kql, scope.operator_end) if scope.operator_end is not None
                 else None)
        source = scope.head + right if right is not None else None
    columns = view.columns_at(source) if view is not None and source is not None else None
    notes: list[str] = []
    if same_clause:
        notes.append(f"'{name}' is assigned by this same '{same_clause}', which sees only "
                     f"its input columns; split it in two ('| {same_clause} {name} = …' "
                     f"first, then the operator that uses it).")
    elif offset is not None:
        later = [o for o in _occurrences(kql, name, call=False, assignment=True) if o > offset]
        if later:
            defined_by = _scope(kql, later[0]).operator
            notes.append(f"'{name}' is only defined later, by "
                         f"{f'the {defined_by!r} ' if defined_by else ''}at "
                         f"{_place(kql, later[0])}; move that before this use.")
    elif side:
        notes.append(f"It is not a column of the {'right' if side == '_r' else 'left'} side "
                     f"of the join.")
    pool = columns if columns is not None else list(duckdb_candidates)
    guess = _closest(name, pool)
    if guess:
        notes.append(f"Did you mean '{guess}'?")
    if columns is not None:
        where = {"_l": "Columns of the left side", "_r": "Columns of the right side"}.get(
            side or "", "Columns here")
        notes.append(f"{where}: {_quoted_list(columns) or '(none)'}")
    elif duckdb_candidates and not guess:
        notes.append(f"Close names here: {_quoted_list(duckdb_candidates)}")
    head = (f"Semantic error: SEM0100: {_operator_part(operator)}Failed to resolve scalar "
            f"expression named '{name}'")
    place = _place(kql, offset) if offset is not None else None
    return KustoQueryError(_PREFIX + _sentence(head, place, *notes), hint=_COLUMN_HINT)


def _unknown_table(kql: str, name: str, view: EngineView | None,
                   suggested: str | None = None) -> KustoQueryError:
    spots = _occurrences(kql, name, call=False)
    offset = spots[0] if spots else None
    operator = _scope(kql, offset).operator if offset is not None else None
    tables = view.tables() if view is not None else []
    guess = _closest(name, tables) or suggested
    notes = [f"Did you mean '{guess}'?" if guess else "",
             f"Tables: {_quoted_list(tables)}" if tables else ""]
    head = (f"Semantic error: SEM0100: {_operator_part(operator)}Failed to resolve table or "
            f"column expression named '{name}'")
    return KustoQueryError(
        _PREFIX + _sentence(head, _place(kql, offset) if offset is not None else None, *notes),
        hint="check the table's spelling and case (Kusto names are case-sensitive); "
             + _NOT_RETRIED)


def _unknown_database(kql: str, name: str, view: EngineView | None) -> KustoQueryError:
    spots = [t.start for t in _tokens(kql) if t.kind == "string" and t.text == name]
    known = view.databases() if view is not None else []
    guess = _closest(name, known)
    notes = [f"Did you mean '{guess}'?" if guess else "",
             f"Databases: {_quoted_list(known)}" if known else ""]
    return KustoQueryError(
        _PREFIX + _sentence(f"Unknown database '{name}'",
                            _place(kql, spots[0]) if spots else None, *notes),
        hint="database names are case-sensitive; " + _NOT_RETRIED)


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


def _unknown_function(kql: str, name: str, aggregate: bool) -> KustoQueryError:
    spots = _occurrences(kql, name, call=True)
    offset = spots[0] if spots else None
    operator = _scope(kql, offset).operator if offset is not None else None
    guess = _closest(name, _known_functions(aggregate))
    what = "aggregation function" if aggregate else "function"
    head = f"{_operator_part(operator)}Unknown {what}: '{name}'"
    notes = [f"Did you mean '{guess}()'?" if guess else "",
             "The embedded engine has no function of that name: a misspelling (names are "
             "case-sensitive) or a Kusto function it does not support (a cluster runs those)."]
    return KustoQueryError(
        _PREFIX + _sentence(head, _place(kql, offset) if offset is not None else None, *notes),
        hint="check the function's name, or run the query on a cluster; " + _NOT_RETRIED)


_INTERNAL = re.compile(r"duckdb|translate/|\.py\b|this wave|\bnear '", re.IGNORECASE)


def _unsupported(kql: str, exc: Any, view: EngineView | None) -> KustoQueryError:
    construct = str(getattr(exc, "construct", "") or "")
    span = getattr(exc, "span", None)
    library_hint = str(getattr(exc, "hint", "") or "")
    kind, _, name = construct.partition(":")
    if kind in ("function", "aggregate") and name:
        return _unknown_function(kql, name, kind == "aggregate")
    if "assigned by this same clause" in library_hint and name:
        return _unknown_column(kql, name, view, same_clause=kind)
    offset = _offset(kql, span.line, span.column) if span is not None else None
    what = construct
    if offset is not None:
        word = _OPERATOR.match(kql, offset)
        if word is not None:
            what = word.group(1)
            if what == "evaluate":  # name the plugin too
                plugin = re.match(r"\s*([A-Za-z_]\w*)", kql[word.end():])
                what += f" {plugin.group(1)}" if plugin else ""
    elif name:
        what = name
        spots = _occurrences(kql, name)
        offset = spots[0] if spots else None
    else:
        spots = _occurrences(kql, kind)
        offset = spots[0] if spots else None
    detail = library_hint if not (_INTERNAL.search(library_hint)
                                  or _SQL_LEFT.search(library_hint)) else ""
    text = f"The embedded engine does not support '{what}'"
    if offset is not None:
        text += f" ({_place(kql, offset)})"
    return KustoQueryError(
        _PREFIX + text + (f": {detail}" if detail else ""),
        hint="rewrite the query without it, or run it on a cluster; " + _NOT_RETRIED)


def _offset(kql: str, line: int, column: int) -> int | None:
    """The offset of a 1-based line and 0-based column (duckdb-kql's spans)."""
    start = 0
    for _ in range(max(line, 1) - 1):
        start = kql.find("\n", start)
        if start == -1:
            return None
        start += 1
    return min(start + max(column, 0), len(kql))


def _syntax(kql: str, exc: Any) -> KustoQueryError:
    diagnostics = list(getattr(exc, "diagnostics", []) or [])
    if not diagnostics:
        return KustoQueryError(_PREFIX + "Syntax error: SYN0002: "
                               + (_scrub(str(exc)) or "could not parse KQL"),
                               hint="fix the KQL; " + _NOT_RETRIED)
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
    offset = _offset(kql, first.span.line, first.span.column)
    place = f" at {_place(kql, offset)}" if offset is not None else ""
    more = len(diagnostics) - 1
    tail = f" ({more} more syntax error{'s' if more > 1 else ''} after it)" if more else ""
    # The parser's own words ("could not parse KQL"), its place counted from 1.
    return KustoQueryError(
        _PREFIX + f"Syntax error: SYN0002: could not parse KQL{place}: {text}{tail}",
        hint="fix the KQL; " + _NOT_RETRIED)


_KUSTO_TYPES = {
    "BOOL": "bool", "BOOLEAN": "bool", "TINYINT": "int", "SMALLINT": "int", "INT32": "int",
    "INTEGER": "int", "INT": "int", "INT64": "long", "BIGINT": "long", "HUGEINT": "long",
    "DOUBLE": "real", "FLOAT": "real", "DECIMAL": "decimal", "VARCHAR": "string",
    "TIMESTAMP": "datetime", "TIMESTAMP WITH TIME ZONE": "datetime", "DATE": "datetime",
    "INTERVAL": "timespan", "UUID": "guid", "JSON": "dynamic",
}
_SQL_LEFT = re.compile(
    r"\bSELECT\b|\bFROM clause\b|\bGROUP BY\b|\bWHERE\b|\bCTE\b|\b_s\d+\b|\"_[lr]\"|\bCAST\(|"
    r"\bBinder Error\b|\bCatalog Error\b|\bParser Error\b|\bLINE \d|\bSQL\b")


def _scrub(text: str) -> str:
    """duckdb's text in Kusto's terms (no `LINE n:` excerpt, error class or candidate
    lists; Kusto's type names), or "" when what is left still reads as SQL."""
    text = re.split(r"\n\s*LINE \d+:", text, maxsplit=1)[0]
    text = re.sub(r"^[A-Za-z ]*Error: ", "", text.strip())
    text = re.sub(r"\s*Candidate (?:bindings|functions):.*", "", text, flags=re.DOTALL)
    text = re.sub(r"\s*You might need to add explicit type casts\.", "", text)
    text = " ".join(text.split())
    for sql, kusto in sorted(_KUSTO_TYPES.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"\b{sql}\b", kusto, text)
    text = text.replace(" - an explicit cast is required",
                        "; convert one of them first (tolong(), todatetime(), tostring(), …)")
    text = text.replace("in BETWEEN clause", "in 'between'")
    text = text.replace("when casting from source column", "when converting column")
    text = re.sub(r"No function matches the given name and argument types '([^\w\s(]+)\((.*)\)'",
                  r"The operator '\1' cannot take values of types \2", text)
    text = re.sub(r"No function matches the given name and argument types '\w+\((.*)\)'",
                  r"A function in the query cannot take arguments of types \1", text)
    return "" if _SQL_LEFT.search(text) else text


def _conversion(kql: str, text: str) -> KustoQueryError | None:
    match = re.search(r"Could not convert string '((?:[^']|'')*)' to ([A-Z][A-Z0-9 ]*[A-Z0-9])",
                      text)
    if match is None:
        return None
    value, target = match.group(1).replace("''", "'"), match.group(2)
    kusto = _KUSTO_TYPES.get(target, target.lower())
    offset = _literal_at(kql, value)
    article = "an" if kusto[:1] in "aeiou" else "a"
    head = f"The string '{value}' cannot be used as {article} {kusto} value"
    return KustoQueryError(
        _PREFIX + _sentence(head, _place(kql, offset) if offset is not None else None,
                            f"Compare or combine it with a value of type {kusto}, or convert "
                            f"it first (to{kusto}() or tostring())."),
        hint="match the value's type to the column's; " + _NOT_RETRIED)


_COLUMN_MESSAGES = (
    re.compile(r'Referenced column "((?:[^"]|"")+)" not found'),
    re.compile(r'Column "((?:[^"]|"")+)" referenced that exists in the SELECT clause'),
    re.compile(r'Alias with name "((?:[^"]|"")+)" exists, but aliases cannot be used'),
    re.compile(r'Column "((?:[^"]|"")+)" in EXCLUDE list not found'),
)
_JOIN_COLUMN = re.compile(r'Values list "(_[lr])" does not have a column named "((?:[^"]|"")+)"')
_MISSING_DATABASE = re.compile(
    r'Table with name "?([^".!]+)\.([^"!]+)"? does not exist because schema "([^"]+)"')
_MISSING_TABLE = re.compile(r'Table with name "?([^"!]+?)"? does not exist!')
_DID_YOU_MEAN = re.compile(r'Did you mean "([^"]+)"')
_MISSING_FUNCTION = re.compile(
    r'(Scalar|Aggregate|Table) Function with name "?([^"!\s]+)"? does not exist')


#: What RE2 (duckdb's and Kusto's regular expressions) says of a bad pattern.
_RE2 = re.compile(r"^(?:missing [)\]]|missing argument|trailing \\|invalid (?:escape|character "
                  r"class|repetition|named capture|perl operator|UTF-8|nested)|bad repetition|"
                  r"no argument for repetition)")


def _from_duckdb(kql: str, text: str, view: EngineView | None) -> KustoQueryError:
    for pattern in _COLUMN_MESSAGES:
        match = pattern.search(text)
        if match is not None:
            return _unknown_column(kql, match.group(1).replace('""', '"'), view,
                                   duckdb_candidates=_candidates(text))
    match = _JOIN_COLUMN.search(text)
    if match is not None:
        return _unknown_column(kql, match.group(2), view, side=match.group(1))
    match = _MISSING_DATABASE.search(text)
    if match is not None:
        return _unknown_database(kql, match.group(1), view)
    match = _MISSING_TABLE.search(text)
    if match is not None:
        suggested = _DID_YOU_MEAN.search(text)
        return _unknown_table(kql, match.group(1), view,
                              suggested.group(1).rsplit(".", 1)[-1] if suggested else None)
    match = _MISSING_FUNCTION.search(text)
    if match is not None:
        return _unknown_function(kql, match.group(2), match.group(1) == "Aggregate")
    converted = _conversion(kql, text)
    if converted is not None:
        return converted
    scrubbed = _scrub(text) or "a name or a value's type in the query did not resolve"
    if text.startswith("Invalid Input Error: ") and _RE2.search(scrubbed):
        return KustoQueryError(
            _PREFIX + f"A regular expression in the query is invalid: {scrubbed}",
            hint="fix the pattern (RE2 syntax, as Kusto uses); " + _NOT_RETRIED)
    return KustoQueryError(_PREFIX + f"the embedded engine could not run the query: {scrubbed}",
                           hint="fix the KQL; " + _NOT_RETRIED)


def _schema_error(kql: str, exc: Any, view: EngineView | None) -> KustoQueryError:
    name = str(getattr(exc, "name", "") or "")
    hint = str(getattr(exc, "hint", "") or "")
    hint = "" if _SQL_LEFT.search(hint) else hint
    if hint.startswith("unknown table"):
        return _unknown_table(kql, name, view)
    if hint.startswith("database not attached"):
        return _unknown_database(kql, name, view)
    if "query parameter" in hint:
        return KustoQueryError(
            _PREFIX + f"query parameter {name}: {hint}",
            hint="give the parameter a value in the step's parameters, or a default in "
                 "declare query_parameters; " + _NOT_RETRIED)
    spots = _occurrences(kql, name) if name else []
    return KustoQueryError(
        _PREFIX + _sentence(f"'{name}': {hint or 'schema error'}",
                            _place(kql, spots[0]) if spots else None),
        hint="fix the KQL; " + _NOT_RETRIED)


def query_error(exc: BaseException, kql: str,
                view: EngineView | None = None) -> KustoQueryError:
    """The `KustoQueryError` for *exc* (a duckdb or duckdb-kql error raised running the
    KQL *kql*), worded as Kusto would, with no SQL in it."""
    try:
        return _translate(exc, kql, view)
    except Exception:  # a rewrite that trips on an odd query still answers, in words
        return KustoQueryError(
            _PREFIX + (_scrub(str(exc)) or "the embedded engine could not run the query"),
            hint="fix the KQL; " + _NOT_RETRIED)


def _translate(exc: BaseException, kql: str, view: EngineView | None) -> KustoQueryError:
    import duckdb_kql

    if isinstance(exc, duckdb_kql.KqlSyntaxError):
        error = _syntax(kql, exc)
    elif isinstance(exc, duckdb_kql.KqlUnsupportedError):
        error = _unsupported(kql, exc, view)
    elif isinstance(exc, duckdb_kql.KqlSchemaError):
        error = _schema_error(kql, exc, view)
    elif isinstance(exc, duckdb_kql.KqlError):
        error = KustoQueryError(_PREFIX + (_scrub(str(exc)) or "the query was refused"),
                                hint="fix the KQL; " + _NOT_RETRIED)
    else:
        error = _from_duckdb(kql, str(exc), view)
    return error
