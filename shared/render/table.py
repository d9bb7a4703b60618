"""The e-mail-safe HTML table: inline CSS only (mail clients drop <style>), every
cell escaped, numbers right-aligned with thousands separators, datetimes as
`2007-06-01 04:00:00` under a header marked UTC, at most `max_rows` rows with a
line saying how many were left out. (The CSV keeps the exact Kusto text.)"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from markupsafe import Markup

from ..kusto.types import Column
from .cells import cell_text

__all__ = ["display_text", "html_table"]

_TABLE = ("border-collapse:collapse;font-family:Segoe UI,Helvetica,Arial,sans-serif;"
          "font-size:13px;color:#1b1b1b;margin:8px 0")
_TH = ("background:#f3f2f1;border:1px solid #d2d0ce;padding:6px 10px;font-weight:600;"
       "text-align:{align};white-space:nowrap")
_TD = "border:1px solid #e1dfdd;padding:5px 10px;text-align:{align};vertical-align:top"
_NUMBER_TD = ";white-space:nowrap;font-variant-numeric:tabular-nums"
_NOTE = ("font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:12px;color:#605e5c;"
         "margin:4px 0 12px")
_UNIT = '<span style="font-weight:400;color:#605e5c"> (UTC)</span>'

#: Plain digits with an optional sign and fraction: what gets thousands separators
#: (not 1e+16, inf, NaN).
_PLAIN_NUMBER = re.compile(r"^(-?)(\d+)(\.\d+)?$")


def _is_identifier(name: str) -> bool:
    """EventId, ID, user_id, Year: numbers people read digit by digit, not 10,452."""
    return name.endswith(("Id", "ID", "_id")) or name.lower() in ("id", "year")


def _grouped(text: str) -> str:
    match = _PLAIN_NUMBER.match(text)
    if not match:
        return text
    sign, whole, fraction = match.groups()
    return f"{sign}{int(whole):,}{fraction or ''}"


def display_text(value: Any, column: Column) -> str:
    """A cell as a person reads it in the mail (the CSV keeps `cell_text`)."""
    text = cell_text(value)
    if isinstance(value, datetime):
        return text.replace("T", " ").removesuffix("Z")
    if column.is_numeric and not isinstance(value, bool) and not _is_identifier(column.name):
        return _grouped(text)
    return text


def _header(column: Column, align: str) -> str:
    unit = _UNIT if column.type == "datetime" else ""
    return f'<th style="{_TH.format(align=align)}">{escape(column.name)}{unit}</th>'


def html_table(columns: Sequence[Column], rows: Sequence[Sequence[Any]], total_rows: int,
               max_rows: int) -> Markup:
    """`rows` are the first rows (at least min(total_rows, max_rows) of them). No rows
    give one short "No rows." line, not an empty table."""
    if not columns:
        return Markup(f'<p style="{_NOTE}">The command returned no table.</p>')
    if not rows and not total_rows:
        return Markup(f'<p style="{_NOTE}">No rows.</p>')
    aligns = ["right" if c.is_numeric else "left" for c in columns]
    styles = [_TD.format(align=a) + (_NUMBER_TD if c.is_numeric else "")
              for c, a in zip(columns, aligns, strict=True)]
    parts = [f'<table role="presentation" cellspacing="0" cellpadding="0" style="{_TABLE}">',
             "<thead><tr>"]
    parts += [_header(c, a) for c, a in zip(columns, aligns, strict=True)]
    parts.append("</tr></thead><tbody>")
    shown = rows[:max_rows]
    for index, row in enumerate(shown):
        background = "background:#faf9f8;" if index % 2 else ""
        parts.append("<tr>")
        parts += [f'<td style="{background}{style}">{escape(display_text(v, c))}</td>'
                  for v, c, style in zip(row, columns, styles, strict=True)]
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if total_rows > len(shown):
        parts.append(f'<p style="{_NOTE}">Showing {len(shown):,} of {total_rows:,} rows; '
                     f'{total_rows - len(shown):,} more are in the attached CSV.</p>')
    return Markup("".join(parts))
