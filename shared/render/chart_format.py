"""Text on a chart: values for people (1,234 / 12.5 / 3.4M), category labels,
shortened names, and titles. Plain Python, no plotting.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

__all__ = [
    "SCALES",
    "category_label",
    "default_title",
    "format_value",
    "join_names",
    "plain",
    "shorten",
    "title_text",
]

#: Suffixes from a million up, as Power BI writes them (1.2M, 3.4bn, 5T).
SCALES = ((1e12, "T"), (1e9, "bn"), (1e6, "M"))


def plain(text: str) -> str:
    """*text* as matplotlib must be given it to print it as written: an even number of
    `$` would make it mathtext (`$x^2$` typeset, `$\\frac{$` an error), so every `$`
    is escaped. Every text the charts take from a result or a flow passes here."""
    return text.replace("$", r"\$")


def join_names(names: Sequence[str]) -> str:
    if len(names) <= 3:
        return ", ".join(names)
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def shorten(text: str, width: int, middle: bool = False) -> str:
    """At most `width` characters; `middle` keeps the end too ("eastus-…-node-12"),
    where names tend to differ."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    if middle:
        head = (width - 1) // 2 + (width - 1) % 2
        return text[:head].rstrip() + "…" + text[len(text) - (width - 1 - head):].lstrip()
    return text[: width - 1].rstrip() + "…"


def format_value(value: float) -> str:
    """A bar's or slice's value for people: 1,234 / 12.5 / 3.4M."""
    if not math.isfinite(value):
        return ""
    magnitude = abs(value)
    for scale, suffix in SCALES:
        if magnitude >= scale:
            return f"{value / scale:.3g}{suffix}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def category_label(value: object) -> str:
    """A category (x value or series value) as text."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M" if value.second == 0 else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date | timedelta):
        return str(value)
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return f"{value:,}" if isinstance(value, int) else format_value(number)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def title_text(title: str) -> str:
    """At most two lines of about 70 characters (what 13pt bold fits in 800 px)."""
    lines = textwrap.wrap(" ".join(title.split()), width=70)
    if len(lines) > 2:
        lines = [lines[0], shorten(" ".join(lines[1:]), 70)]
    return "\n".join(lines)


def default_title(kind: str, x: str, ys: tuple[str, ...], series: str | None,
                  x_kind: str) -> str:
    what = join_names(ys)
    if kind == "pie":
        return f"{what} by {x}"
    base = f"{what} over time" if x_kind == "time" else f"{what} by {x}"
    return f"{base} per {series}" if series else base
