"""Finding names in KQL text, for the embedded engine's error messages
(`shared.kusto.embedded_errors`): KQL's tokens (strings and comments skipped), where a
name occurs (used, assigned, called), the operator and pipeline around an offset, and
offsets as "line n, column m".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "OPERATOR",
    "Scope",
    "Token",
    "kql_tokens",
    "literal_at",
    "occurrences",
    "offset_of",
    "place_of",
    "right_side",
    "scope_at",
]


@dataclass(frozen=True)
class Token:
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


def kql_tokens(kql: str) -> Iterator[Token]:
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
            yield Token("string", literal[1], i, literal[0])
            i = literal[0]
            continue
        match = _NAME.match(kql, i) or _NUMBER.match(kql, i)
        if match is not None:
            kind = "number" if char.isdigit() else "name"
            yield Token(kind, match.group(), i, match.end())
            i = match.end()
            continue
        yield Token("punct", char, i, i + 1)
        i += 1


def place_of(kql: str, offset: int) -> str:
    line = kql.count("\n", 0, offset) + 1
    column = offset - (kql.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _is_assignment(kql: str, end: int) -> bool:
    """Whether the name ending at *end* is followed by `=` (not `==`, `=~`)."""
    rest = kql[end:].lstrip(" \t")
    return rest.startswith("=") and not rest.startswith(("==", "=~"))


def occurrences(kql: str, name: str, *, call: bool | None = None,
                 assignment: bool | None = None) -> list[int]:
    """Offsets of *name* as a name token (or a `['name']` quoted one). `call`: only
    (True) or never (False) followed by `(`; `assignment`: likewise for `=`."""
    found: list[int] = []
    tokens = list(kql_tokens(kql))
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


def literal_at(kql: str, value: str) -> int | None:
    for token in kql_tokens(kql):
        if token.kind == "string" and token.text == value:
            return token.start
    return None


OPERATOR = re.compile(r"\s*([A-Za-z][\w]*(?:-[A-Za-z]\w*)*)")
_LET = re.compile(r"\s*let\s+[A-Za-z_$][\w$]*\s*=\s*")
_SOURCE_OPERATORS = frozenset({"print", "range", "union", "evaluate", "find", "search",
                               "datatable"})


@dataclass(frozen=True)
class Scope:
    """Where an offset sits in the KQL: its operator and the pipeline before it."""

    operator: str | None = None
    #: KQL producing the operator's input (lets and declarations kept), or None.
    before: str | None = None
    #: The statements before the one holding the offset (lets, declarations).
    head: str = ""
    #: Where the operator's name ends (for reading its arguments), or None.
    operator_end: int | None = None


def scope_at(kql: str, offset: int) -> Scope:
    """The operator around *offset*: the one after the last `|` before it, in the
    innermost parenthesis that has one (a function call's parentheses have none, a
    sub-query's do)."""
    statement = 0
    frames: list[list[int | None]] = [[0, None]]     # [start, last pipe] per nesting
    for token in kql_tokens(kql):
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
            word = OPERATOR.match(kql, start)
            if word is not None and word.group(1) in _SOURCE_OPERATORS:
                return Scope(word.group(1), None, head, word.end())
            continue
        word = OPERATOR.match(kql, pipe + 1)
        return Scope(word.group(1) if word else None, head + kql[start:pipe], head,
                      word.end() if word else None)
    return Scope(head=head)


def right_side(kql: str, after: int) -> str | None:
    """The KQL of a join's or lookup's right side, its operator's name ending at *after*:
    `(sub-query)` or a table's name, past options such as `kind=inner`."""
    tokens = [t for t in kql_tokens(kql) if t.start >= after]
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

def offset_of(kql: str, line: int, column: int) -> int | None:
    """The offset of a 1-based line and 0-based column (duckdb-kql's spans)."""
    start = 0
    for _ in range(max(line, 1) - 1):
        start = kql.find("\n", start)
        if start == -1:
            return None
        start += 1
    return min(start + max(column, 0), len(kql))
