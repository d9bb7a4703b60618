"""The query's own `render` operator, read from its text.

Kusto returns it as the Visualization property; the embedded engine returns none
and duckdb-kql serve always reports null, so the text is the fallback (`chart:
auto`)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["render_hint"]

_RENDER = re.compile(r"\|\s*render\s+(\w+)(?:\s+with\s*\((?P<props>[^)]*)\))?\s*;?\s*$")
_PROPERTY = re.compile(r"(\w+)\s*=\s*(?:'([^']*)'|\"([^\"]*)\"|([\w,() ]+))")
_KEYS = {"title": "Title", "xcolumn": "XColumn", "ycolumns": "YColumns", "series": "Series",
         "xtitle": "XTitle", "ytitle": "YTitle"}


def render_hint(text: str) -> dict[str, Any] | None:
    """`{"Visualization": "piechart", "Title": ...}` as Kusto reports it, or None."""
    match = _RENDER.search(text.strip())
    if not match:
        return None
    hint: dict[str, Any] = {"Visualization": match.group(1)}
    for prop in _PROPERTY.finditer(match.group("props") or ""):
        key = _KEYS.get(prop.group(1).lower())
        if key:
            hint[key] = prop.group(2) or prop.group(3) or prop.group(4).strip()
    return hint
