"""The embedded engine's own (duckdb's) error text in Kusto's words: unknown names
sent to `embedded_name_errors`, failed conversions, bad regular expressions, and
whatever else with duckdb's `LINE n:` excerpts, error classes and SQL type names
scrubbed (or replaced by a plain sentence when it still reads as SQL).
"""

from __future__ import annotations

import re

from ..errors import KustoQueryError
from .embedded_kql_scan import literal_at, place_of
from .embedded_name_errors import (
    NOT_RETRIED,
    PREFIX,
    EngineView,
    candidates,
    sentence,
    unknown_column,
    unknown_database,
    unknown_function,
    unknown_table,
)

__all__ = ["SQL_LEFT", "from_duckdb", "scrub"]


_KUSTO_TYPES = {
    "BOOL": "bool", "BOOLEAN": "bool", "TINYINT": "int", "SMALLINT": "int", "INT32": "int",
    "INTEGER": "int", "INT": "int", "INT64": "long", "BIGINT": "long", "HUGEINT": "long",
    "DOUBLE": "real", "FLOAT": "real", "DECIMAL": "decimal", "VARCHAR": "string",
    "TIMESTAMP": "datetime", "TIMESTAMP WITH TIME ZONE": "datetime", "DATE": "datetime",
    "INTERVAL": "timespan", "UUID": "guid", "JSON": "dynamic",
}
SQL_LEFT = re.compile(
    r"\bSELECT\b|\bFROM clause\b|\bGROUP BY\b|\bWHERE\b|\bCTE\b|\b_s\d+\b|\"_[lr]\"|\bCAST\(|"
    r"\bBinder Error\b|\bCatalog Error\b|\bParser Error\b|\bLINE \d|\bSQL\b")


def scrub(text: str) -> str:
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
    return "" if SQL_LEFT.search(text) else text


def _conversion(kql: str, text: str) -> KustoQueryError | None:
    match = re.search(r"Could not convert string '((?:[^']|'')*)' to ([A-Z][A-Z0-9 ]*[A-Z0-9])",
                      text)
    if match is None:
        return None
    value, target = match.group(1).replace("''", "'"), match.group(2)
    kusto = _KUSTO_TYPES.get(target, target.lower())
    offset = literal_at(kql, value)
    article = "an" if kusto[:1] in "aeiou" else "a"
    head = f"The string '{value}' cannot be used as {article} {kusto} value"
    return KustoQueryError(
        PREFIX + sentence(head, place_of(kql, offset) if offset is not None else None,
                            f"Compare or combine it with a value of type {kusto}, or convert "
                            f"it first (to{kusto}() or tostring())."),
        hint="match the value's type to the column's; " + NOT_RETRIED)


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


def from_duckdb(kql: str, text: str, view: EngineView | None) -> KustoQueryError:
    for pattern in _COLUMN_MESSAGES:
        match = pattern.search(text)
        if match is not None:
            return unknown_column(kql, match.group(1).replace('""', '"'), view,
                                   duckdb_candidates=candidates(text))
    match = _JOIN_COLUMN.search(text)
    if match is not None:
        return unknown_column(kql, match.group(2), view, side=match.group(1))
    match = _MISSING_DATABASE.search(text)
    if match is not None:
        return unknown_database(kql, match.group(1), view)
    match = _MISSING_TABLE.search(text)
    if match is not None:
        suggested = _DID_YOU_MEAN.search(text)
        return unknown_table(kql, match.group(1), view,
                              suggested.group(1).rsplit(".", 1)[-1] if suggested else None)
    match = _MISSING_FUNCTION.search(text)
    if match is not None:
        return unknown_function(kql, match.group(2), match.group(1) == "Aggregate")
    converted = _conversion(kql, text)
    if converted is not None:
        return converted
    scrubbed = scrub(text) or "a name or a value's type in the query did not resolve"
    if text.startswith("Invalid Input Error: ") and _RE2.search(scrubbed):
        return KustoQueryError(
            PREFIX + f"A regular expression in the query is invalid: {scrubbed}",
            hint="fix the pattern (RE2 syntax, as Kusto uses); " + NOT_RETRIED)
    return KustoQueryError(PREFIX + f"the embedded engine could not run the query: {scrubbed}",
                           hint="fix the KQL; " + NOT_RETRIED)
