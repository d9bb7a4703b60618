"""The report `kusto.visualize` and `kusto.command` hand to e-mail: an e-mail-safe
HTML *fragment* (no doctype, `<html>`, `<head>` or `<body>`, so several reports join
into one mail) with the title as its heading, the flow, step and run time in UTC,
the chart inline by `cid:` (many clients block data: URIs), the capped table (or one
"No rows." line) below it and, for Azure clusters, a link that opens the query in
Azure Data Explorer's web UI. `email.send` puts whatever body it is given in one
document (`shared.mail.document.mail_document`); a standalone file (the table
attachment) is a whole document of its own (`report_document`)."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urlparse

from markupsafe import Markup

from ..mail.document import MAIL_FONT as _FONT
from ..mail.document import mail_document

__all__ = ["deep_link", "note_html", "report_document", "report_html"]

_NOTE = f"{_FONT};font-size:13px;color:#605e5c;margin:8px 0 12px"


def deep_link(cluster: str, database: str, query: str) -> str:
    """Azure Data Explorer web UI link (the connector's kustoDeepLink): the UI takes
    the query gzip-compressed and base64-encoded in `query`. Empty for clusters the
    web UI cannot reach (embedded, loopback)."""
    url = urlparse(cluster)
    if url.scheme != "https" or not url.hostname:
        return ""
    packed = base64.b64encode(gzip.compress(query.encode("utf-8"), mtime=0)).decode("ascii")
    return (f"https://dataexplorer.azure.com/clusters/{quote(url.hostname)}/databases/"
            f"{quote(database)}?query={quote(packed, safe='')}")


def note_html(text: str) -> Markup:
    """One short line of the report in place of a chart or table ("No rows.")."""
    return Markup(f'<p style="{_NOTE}">{escape(text)}</p>')


def report_html(*, title: str, flow: str, step: str, run_at: datetime, table: Markup,
                chart_cid: str = "", chart_alt: str = "", link: str = "",
                width_px: int = 800, note: str = "") -> Markup:
    """The report as an HTML fragment: one `<div>`, its own section of a mail.
    `note` is a line shown under the chart (or where it would be)."""
    when = run_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f'<div style="margin:0 0 24px;{_FONT};color:#1b1b1b">',
        f'<h2 style="{_FONT};font-size:18px;font-weight:600;margin:0 0 4px">{escape(title)}</h2>',
        f'<p style="{_FONT};font-size:12px;color:#605e5c;margin:0 0 12px">Flow '
        f"<b>{escape(flow)}</b> · step <b>{escape(step)}</b> · run {escape(when)}</p>",
    ]
    if chart_cid:
        parts.append(f'<img src="cid:{escape(chart_cid)}" alt="{escape(chart_alt or title)}" '
                     f'width="{width_px}" style="display:block;max-width:100%;height:auto;'
                     f'border:0;margin:0 0 12px">')
    if note:
        parts.append(str(note_html(note)))
    parts.append(str(table))
    if link:
        parts.append(f'<p style="{_FONT};font-size:12px;margin:8px 0"><a href="{escape(link)}" '
                     f'style="color:#0f6cbd">Open this query in Azure Data Explorer</a></p>')
    parts.append("</div>")
    return Markup("".join(parts))


def report_document(*, title: str, flow: str, step: str, run_at: datetime, table: Markup,
                    link: str = "") -> Markup:
    """The table report as a whole HTML document: a file to attach or share."""
    return mail_document(report_html(title=title, flow=flow, step=step, run_at=run_at,
                                     table=table, link=link), title=title)
