"""The e-mail-safe HTML table: inline CSS only (mail clients drop <style>), every
cell escaped, numbers right-aligned, at most `max_rows` rows with a line saying
how many were left out."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from markupsafe import Markup

from ..kusto.types import Column
from .cells import cell_text

__all__ = ["html_table"]

_TABLE = ("border-collapse:collapse;font-family:Segoe UI,Helvetica,Arial,sans-serif;"
          "font-size:13px;color:#1b1b1b;margin:8px 0")
_TH = ("background:#f3f2f1;border:1px solid #d2d0ce;padding:6px 10px;font-weight:600;"
       "text-align:{align};white-space:nowrap")
_TD = "border:1px solid #e1dfdd;padding:5px 10px;text-align:{align};vertical-align:top"
_NOTE = ("font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:12px;color:#605e5c;"
         "margin:4px 0 12px")


def html_table(columns: Sequence[Column], rows: Sequence[Sequence[Any]], total_rows: int,
               max_rows: int) -> Markup:
    """`rows` are the first rows (at least min(total_rows, max_rows) of them)."""
    if not columns:
        return Markup(f'<p style="{_NOTE}">The command returned no table.</p>')
    aligns = ["right" if c.is_numeric else "left" for c in columns]
    parts = [f'<table role="presentation" cellspacing="0" cellpadding="0" style="{_TABLE}">',
             "<thead><tr>"]
    parts += [f'<th style="{_TH.format(align=a)}">{escape(c.name)}</th>'
              for c, a in zip(columns, aligns, strict=True)]
    parts.append("</tr></thead><tbody>")
    shown = rows[:max_rows]
    for index, row in enumerate(shown):
        background = "background:#faf9f8;" if index % 2 else ""
        parts.append("<tr>")
        parts += [f'<td style="{background}{_TD.format(align=a)}">{escape(cell_text(v))}</td>'
                  for v, a in zip(row, aligns, strict=True)]
        parts.append("</tr>")
    if not shown:
        parts.append(f'<tr><td colspan="{len(columns)}" style="{_TD.format(align="center")};'
                     f'color:#605e5c">No rows</td></tr>')
    parts.append("</tbody></table>")
    if total_rows > len(shown):
        parts.append(f'<p style="{_NOTE}">Showing {len(shown):,} of {total_rows:,} rows; '
                     f'{total_rows - len(shown):,} more are in the attached CSV.</p>')
    return Markup("".join(parts))
