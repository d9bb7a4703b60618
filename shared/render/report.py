"""The report body `kusto.visualize` hands to e-mail: an e-mail-safe HTML document
with the chart inline by `cid:` (many clients block data: URIs), the capped table
below it, the flow and step, the run time in UTC and, for Azure clusters, a link
that opens the query in Azure Data Explorer's web UI."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urlparse

from markupsafe import Markup

__all__ = ["deep_link", "report_html"]

_FONT = "font-family:Segoe UI,Helvetica,Arial,sans-serif"


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


def report_html(*, title: str, flow: str, step: str, run_at: datetime, table: Markup,
                chart_cid: str = "", chart_alt: str = "", link: str = "",
                width_px: int = 800) -> Markup:
    when = run_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f"<title>{escape(title)}</title></head>",
        f'<body style="margin:0;padding:16px;background:#ffffff;{_FONT};color:#1b1b1b">',
        f'<h2 style="{_FONT};font-size:18px;font-weight:600;margin:0 0 4px">{escape(title)}</h2>',
        f'<p style="{_FONT};font-size:12px;color:#605e5c;margin:0 0 12px">Flow '
        f"<b>{escape(flow)}</b> · step <b>{escape(step)}</b> · run {escape(when)}</p>",
    ]
    if chart_cid:
        parts.append(f'<img src="cid:{escape(chart_cid)}" alt="{escape(chart_alt or title)}" '
                     f'width="{width_px}" style="display:block;max-width:100%;height:auto;'
                     f'border:0;margin:0 0 12px">')
    parts.append(str(table))
    if link:
        parts.append(f'<p style="{_FONT};font-size:12px;margin:8px 0"><a href="{escape(link)}" '
                     f'style="color:#0f6cbd">Open this query in Azure Data Explorer</a></p>')
    parts.append("</body></html>")
    return Markup("".join(parts))
