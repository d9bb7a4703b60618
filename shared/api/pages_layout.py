"""Building blocks of the run-history pages: the page response (shell and security
headers), status icons and badges, links that keep the function key, and times and
durations in words.

Every value reaches the HTML through markupsafe: `Markup("<b>{}</b>").format(value)`
escapes it; only literals written in these modules are markup. The pages use no
JavaScript, so their Content-Security-Policy forbids scripts altogether.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import azure.functions as func
from markupsafe import Markup

from .pages_style import CSS, SHELL

__all__ = ["Links", "badge", "body_form", "button_form", "fmt_ago", "fmt_duration", "fmt_time",
           "html_page", "icon", "join", "redirect", "status_class", "status_label"]

#: No scripts at all, styles only inline, forms post back to this site only.
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    return Markup(sep).join(parts)


class Links:
    """URLs of the pages below the request's `/api/` prefix (as paths, so they work
    behind any host name), each carrying the request's `code` (the function key)."""

    def __init__(self, req: func.HttpRequest) -> None:
        path = urlsplit(req.url or "").path
        marker = path.find("/api/")
        self.root = path[:marker + len("/api/")] if marker >= 0 else "/api/"
        self.code = req.params.get("code") or ""

    def url(self, *segments: str, **query: str | None) -> str:
        path = self.root + "/".join(quote(s, safe="") for s in segments)
        params = [(k, v) for k, v in query.items() if v]
        if self.code:
            params.append(("code", self.code))
        return path + ("?" + urlencode(params, quote_via=quote) if params else "")

    def flows(self) -> str:
        return self.url("pages", "flows")

    def runs(self, flow: str, status: str | None = None, continuation: str | None = None,
             top: str | None = None) -> str:
        return self.url("pages", "flows", flow, "runs", status=status,
                        continuation=continuation, top=top)

    def run(self, flow: str, run_id: str) -> str:
        return self.url("pages", "runs", flow, run_id)

    def run_now(self, flow: str) -> str:
        return self.url("pages", "flows", flow, "run")

    def resubmit(self, flow: str, run_id: str) -> str:
        return self.url("pages", "runs", flow, run_id, "resubmit")

    def run_json(self, flow: str, run_id: str) -> str:
        return self.url("runs", flow, run_id)


# ------------------------------------------------------------------ statuses

_LABELS = {"TimedOut": "Timed out"}
#: The inner drawing of each status icon, on a 16x16 coloured disc.
_GLYPHS = {
    "succeeded": '<path d="M4.6 8.3l2.3 2.3 4.6-4.9" fill="none" stroke="#fff" '
                 'stroke-width="1.9" stroke-linecap="round" stroke-linejoin="round"/>',
    "failed": '<rect x="7.05" y="3.6" width="1.9" height="5.9" rx=".95" fill="#fff"/>'
              '<circle cx="8" cy="11.6" r="1.1" fill="#fff"/>',
    "timedout": '<path d="M8 4.4V8l2.5 1.6" fill="none" stroke="#fff" stroke-width="1.7" '
                'stroke-linecap="round" stroke-linejoin="round"/>',
    "running": '<path d="M6.3 5v6l4.9-3z" fill="#fff"/>',
    "abandoned": '<path d="M4.9 8h6.2" stroke="#fff" stroke-width="1.9" '
                 'stroke-linecap="round"/>',
    "skipped": '<path d="M5.6 5.4l2.8 2.6-2.8 2.6M9.3 5.4l2.8 2.6-2.8 2.6" fill="none" '
               'stroke="#fff" stroke-width="1.5" stroke-linecap="round" '
               'stroke-linejoin="round"/>',
}


def status_class(status: Any) -> str:
    """`failed`, `timedout`, ...: the CSS class suffix of a run or step status."""
    key = str(status).lower()
    return key if key in _GLYPHS else "abandoned"


def status_label(status: Any) -> str:
    return _LABELS.get(str(status), str(status))


def icon(status: Any, label: str | None = None) -> Markup:
    """A status icon: a coloured disc with a check, an exclamation mark, a clock..."""
    key = status_class(status)
    return Markup('<svg class="icon icon-{0}" viewBox="0 0 16 16" width="16" height="16" '
                  'role="img" aria-label="{1}"><title>{1}</title>'
                  '<circle class="disc" cx="8" cy="8" r="8"/>{2}</svg>').format(
        key, label or status_label(status), Markup(_GLYPHS[key]))


def badge(status: Any) -> Markup:
    return Markup('<span class="badge s-{}">{}<span>{}</span></span>').format(
        status_class(status), icon(status), status_label(status))


def body_form(action: str, label: str, schema: Any = None) -> Markup:
    """A form posting a JSON body (the `body` field) to *action*: the Run-now form of a
    webhook flow; the flow's declared body schema, if any, is shown beside it."""
    shown = (Markup('<details class="schema"><summary>The body this flow takes</summary>'
                    '<pre>{}</pre></details>').format(json.dumps(schema, indent=2))
             if schema else "")
    return Markup('<form id="run-now" class="run-now" method="post" action="{}">'
                  '<label for="run-now-body">JSON body (trigger.body)</label>'
                  '<textarea id="run-now-body" name="body" rows="4" spellcheck="false" '
                  'placeholder="{}"></textarea>{}<button type="submit" class="btn">{}</button>'
                  '</form>').format(action, '{"state": "TEXAS"}' if schema else "(none)",
                                    shown, label)


def button_form(action: str, label: str, *, primary: bool = True, note: str = "") -> Markup:
    """A button posting an empty form to *action* (works without JavaScript)."""
    return Markup('<form class="inline" method="post" action="{}"><button type="submit" '
                  'class="btn{}"{}>{}</button></form>').format(
        action, "" if primary else " btn-quiet",
        Markup(' title="{}"').format(note) if note else "", label)


# --------------------------------------------------------------- formatting

def fmt_duration(ms: float | None) -> str:
    if ms is None or ms <= 0:
        return "—"
    if ms < 1:
        return "<1 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def fmt_time(moment: datetime | None, *, seconds: bool = True) -> Markup:
    """A UTC time as `2026-05-04 07:00:12`, machine-readable in `datetime`."""
    if moment is None:
        return Markup('<span class="muted">—</span>')
    text = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return Markup('<time datetime="{}">{}</time>').format(moment.isoformat(), text)


def fmt_ago(moment: datetime, now: datetime) -> str:
    """`3 min ago`, `in 2 h`, `just now`."""
    delta = (now - moment).total_seconds()
    future, delta = delta < 0, abs(delta)
    if delta < 45:
        return "in a moment" if future else "just now"
    if delta < 3570:
        text = f"{max(1, round(delta / 60))} min"
    elif delta < 84600:
        text = f"{round(delta / 3600)} h"
    else:
        text = f"{round(delta / 86400)} d"
    return f"in {text}" if future else f"{text} ago"


# ---------------------------------------------------------------- responses

def html_page(title: str, body: Markup, *, crumbs: Iterable[tuple[str, str | None]] = (),
              links: Links | None = None, status: int = 200,
              refresh_seconds: int | None = None) -> func.HttpResponse:
    """The whole page: top bar, breadcrumbs (label, url or None), *body*."""
    home = links.flows() if links else "flows"
    trail = join(
        (Markup('<a href="{}">{}</a>').format(url, label) if url else
         Markup('<span aria-current="page">{}</span>').format(label)) for label, url in crumbs)
    refresh = (Markup('<meta http-equiv="refresh" content="{}">').format(refresh_seconds)
               if refresh_seconds else "")
    nav = (Markup('<nav class="crumbs" aria-label="Breadcrumb">{}</nav>').format(trail)
           if crumbs else "")
    document = Markup(SHELL).format(title=title, css=Markup(CSS), home=home,
                                     refresh=refresh, crumbs=nav, body=body)
    return func.HttpResponse(str(document), status_code=status, mimetype="text/html",
                             charset="utf-8", headers=dict(_SECURITY_HEADERS))


def redirect(location: str) -> func.HttpResponse:
    """303 See Other: the browser GETs *location* (the new run's page)."""
    body = Markup('<!doctype html><title>See other</title><p>Go to <a href="{0}">{0}</a>')
    return func.HttpResponse(str(body.format(location)), status_code=303, mimetype="text/html",
                             charset="utf-8", headers={**_SECURITY_HEADERS,
                                                       "Location": location})


_SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # The URLs carry the function key: never send them to another site.
    "Referrer-Policy": "no-referrer",
}
