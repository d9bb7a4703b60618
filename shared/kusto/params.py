"""Query parameters: what a query declares, and the values a step supplies.

Values from outside (webhook bodies, earlier rows) reach Kusto only this way:
`declare query_parameters(...)` in the static query text, values sent beside it as
request parameters. Kusto reads each value as a literal of the declared type, so
values are checked against the declaration here and spelled as KQL literals.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import StepInputError

__all__ = ["Declaration", "declared_parameters", "prepare_parameters", "to_literal"]

_TYPES = {
    "string": "string", "bool": "bool", "boolean": "bool", "int": "int", "long": "long",
    "int64": "long", "real": "real", "double": "real", "decimal": "decimal",
    "datetime": "datetime", "date": "datetime", "timespan": "timespan", "time": "timespan",
    "dynamic": "dynamic", "guid": "guid", "uuid": "guid", "uniqueid": "guid",
}
_DECLARE = re.compile(r"declare\s+query_parameters\s*\(", re.IGNORECASE)
_ENTRY = re.compile(r"\s*([A-Za-z_][\w]*)\s*:\s*([A-Za-z0-9_]+)\s*(=)?", re.DOTALL)


@dataclass(frozen=True)
class Declaration:
    name: str
    type: str
    has_default: bool


def declared_parameters(text: str) -> dict[str, Declaration]:
    """Parse every `declare query_parameters(name:type [= default], ...)`."""
    found: dict[str, Declaration] = {}
    for match in _DECLARE.finditer(text):
        body = _balanced(text, match.end())
        for entry in _split_top_level(body):
            parsed = _ENTRY.match(entry)
            if not parsed:
                continue
            kind = _TYPES.get(parsed.group(2).lower(), parsed.group(2).lower())
            found[parsed.group(1)] = Declaration(parsed.group(1), kind, bool(parsed.group(3)))
    return found


def _balanced(text: str, start: int) -> str:
    depth, quote, i = 1, "", start
    while i < len(text) and depth:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        i += 1
    return text[start:i - 1]


def _split_top_level(body: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in body:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def prepare_parameters(text: str, values: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Check supplied values against the declaration: {name: (type, python value)}."""
    declared = declared_parameters(text)
    for name in values:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise StepInputError(
                f"parameter '{name}' is not declared by the query (declared: {known})",
                hint=f"add it to the query: declare query_parameters({name}:string);",
            )
    prepared: dict[str, tuple[str, Any]] = {}
    for name, declaration in declared.items():
        if name not in values or values[name] is None:
            if not declaration.has_default:
                raise StepInputError(
                    f"the query declares parameter '{name}' without a default and the step "
                    f"gives no value for it", hint=f"add parameters: {{{name}: ...}} to the step")
            continue
        prepared[name] = (declaration.type, _coerce(name, declaration.type, values[name]))
    return prepared


def _mismatch(name: str, kind: str, value: Any) -> StepInputError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return StepInputError(f"parameter '{name}' is declared {kind}, but the value is {shown}",
                          hint="fix the value, or the declared type in the query")


def _coerce(name: str, kind: str, value: Any) -> Any:
    """A Python value of the declared type; strings are parsed where that is lossless."""
    try:
        if kind == "string":
            return value if isinstance(value, str) else _mismatch_raise(name, kind, value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
        elif kind in ("int", "long"):
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
                return int(value)
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind == "real":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):
                return float(value)
        elif kind == "decimal":
            if not isinstance(value, bool) and isinstance(value, int | float | str | Decimal):
                return Decimal(str(value))
        elif kind == "datetime":
            return _datetime(value)
        elif kind == "timespan":
            return _timespan(value)
        elif kind == "guid":
            return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        elif kind == "dynamic":
            json.dumps(value, default=str)
            return value
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise _mismatch(name, kind, value) from exc
    raise _mismatch(name, kind, value)


def _mismatch_raise(name: str, kind: str, value: Any) -> Any:
    raise _mismatch(name, kind, value)


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError


_SPAN = re.compile(r"^\s*(-)?(\d+(?:\.\d+)?)\s*(d|h|m|s|ms|microsecond|tick)s?\s*$")
_CLOCK = re.compile(r"^\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?\s*$")


def _timespan(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _SPAN.match(value)
        if match:
            unit = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds",
                    "ms": "milliseconds", "microsecond": "microseconds"}.get(match.group(3))
            amount = float(match.group(2))
            span = (timedelta(microseconds=amount / 10) if unit is None
                    else timedelta(**{unit: amount}))
            return -span if match.group(1) else span
        clock = _CLOCK.match(value)
        if clock:
            span = timedelta(days=int(clock.group(2) or 0), hours=int(clock.group(3)),
                             minutes=int(clock.group(4)), seconds=float(clock.group(5) or 0))
            return -span if clock.group(1) else span
    raise ValueError


def _timespan_literal(span: timedelta) -> str:
    sign = "-" if span < timedelta(0) else ""
    span = abs(span)
    seconds = span.seconds
    ticks = span.microseconds * 10
    return (f"timespan({sign}{span.days}.{seconds // 3600:02d}:{seconds // 60 % 60:02d}:"
            f"{seconds % 60:02d}.{ticks:07d})")


def to_literal(kind: str, value: Any) -> str:
    """How Kusto reads a request parameter value of `kind`: as a KQL literal."""
    if kind == "string":
        return str(value)
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("int", "long"):
        return str(int(value))
    if kind == "real":
        return repr(float(value))
    if kind == "decimal":
        return f"decimal({value})"
    if kind == "datetime":
        moment = value.astimezone(UTC)
        return f"datetime({moment.strftime('%Y-%m-%dT%H:%M:%S')}.{moment.microsecond:06d}0Z)"
    if kind == "timespan":
        return _timespan_literal(value)
    if kind == "guid":
        return f"guid({value})"
    if kind == "dynamic":
        return f"dynamic({json.dumps(value, default=str)})"
    return str(value)
