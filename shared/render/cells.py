"""One text form per Kusto value, shared by the HTML table and the CSV."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["cell_text"]


def _timespan(span: timedelta) -> str:
    sign = "-" if span < timedelta(0) else ""
    span = abs(span)
    hours, rest = divmod(span.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if span.microseconds:
        text += f".{span.microseconds:06d}".rstrip("0")
    return f"{sign}{span.days}.{text}" if span.days else sign + text


def cell_text(value: Any) -> str:
    """Datetimes in ISO 8601 UTC, timespans as Kusto prints them, dynamic as JSON,
    NaN and infinities as Kusto prints them (NaN, Infinity, -Infinity), nulls empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        if moment.microsecond:
            text += f".{moment.microsecond:06d}".rstrip("0")
        return text + "Z"
    if isinstance(value, timedelta):
        return _timespan(value)
    if isinstance(value, float):
        if not math.isfinite(value):  # as Kusto prints them (int() of these would raise)
            return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        return repr(value) if value != int(value) or abs(value) >= 1e16 else f"{value:.1f}"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    return str(value)
