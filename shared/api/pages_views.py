"""The bodies of the run-history pages, from the data the handlers in `pages.py` read:
"My flows", a flow's run history and one run's detail. HTML only, no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from markupsafe import Markup

from ..runs.store import RunPage, RunRecord, StepRecord
from .pages_chart import LEGEND, duration_chart
from .pages_layout import (
    Links,
    badge,
    body_form,
    button_form,
    fmt_ago,
    fmt_duration,
    fmt_time,
    icon,
    join,
    status_class,
    status_label,
)

__all__ = ["FILTERS", "FlowsPager", "error_body", "flows_body", "run_body", "runs_body"]

#: The status filter links of the run history: (query value, label).
FILTERS = (("", "All"), ("succeeded", "Succeeded"), ("failed", "Failed"),
           ("timedout", "Timed out"), ("running", "Running"), ("abandoned", "Abandoned"))


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# ---------------------------------------------------------------- my flows

def _schedule_cell(flow: dict[str, Any], now: datetime) -> Markup:
    schedule, after = flow.get("schedule"), flow.get("after")
    if schedule:
        nxt = _parse_time(schedule["next"][0]) if schedule["next"] else None
        words = schedule["words"]
        parts = [Markup('<div>{}</div>').format(words[:1].upper() + words[1:])]
        if nxt and flow["enabled"]:
            parts.append(Markup('<div class="muted small">Next: {} <span class="nowrap">({})'
                                '</span></div>').format(fmt_time(nxt, seconds=False),
                                                        fmt_ago(nxt, now)))
        if schedule.get("note"):
            parts.append(Markup('<div class="muted small">{}</div>').format(schedule["note"]))
        return join(parts)
    if after:
        statuses = " or ".join(after.get("status") or ["succeeded"])
        return Markup('<div>After <a href="#flow-{0}">{0}</a> {1}</div>').format(
            after["flow"], statuses)
    if flow.get("webhook"):
        return Markup('<span class="muted">On request only (webhook)</span>')
    return Markup('<span class="muted">Not scheduled</span>')


def _last_run_cell(flow: dict[str, Any], last: RunRecord | None, links: Links,
                   now: datetime, store_ok: bool) -> Markup:
    if not store_ok:
        return Markup('<span class="muted">unavailable</span>')
    if last is None:
        return Markup('<span class="muted">Never run</span>')
    return Markup('<a href="{}" class="last-run">{}</a><div class="muted small">{} · {}</div>'
                  ).format(links.run(flow["name"], last.run_id), badge(last.status),
                           fmt_ago(last.started_at, now), fmt_duration(last.duration_ms))


@dataclass(frozen=True)
class FlowsPager:
    """Where a page of "My flows" sits among all the valid flows."""

    #: Valid flows in the folder.
    total: int
    #: Index of the page's first flow among them.
    start: int
    #: Link to the first page (None on it) and to the next (None on the last).
    first_href: str | None = None
    next_href: str | None = None


def flows_body(flows: list[dict[str, Any]], last_runs: dict[str, RunRecord | None],
               links: Links, now: datetime, store_error: str,
               pager: FlowsPager | None = None) -> Markup:
    """*flows*: this page's valid flows, then every invalid file (listed on the first
    page only); *pager*: where the page sits (None: all the flows are here)."""
    valid = [f for f in flows if f["valid"]]
    invalid = [f for f in flows if not f["valid"]]
    total = pager.total if pager else len(valid)
    paged = pager is not None and (pager.start > 0 or pager.next_href is not None)
    failing = sum(1 for r in last_runs.values() if r and str(r.status) in
                  ("Failed", "TimedOut", "Abandoned"))
    counts = [f"{total:,} flow{'s' if total != 1 else ''}"]
    if paged and pager is not None and valid:
        counts.append(f"{pager.start + 1:,}–{pager.start + len(valid):,} shown")
    if failing:
        counts.append(f"{failing} whose last run did not succeed"
                      + (" on this page" if paged else ""))
    if invalid:
        counts.append(f"{len(invalid)} invalid file{'s' if len(invalid) != 1 else ''}")
    if pager is not None and pager.start > 0:
        invalid = []  # listed on the first page
    parts = [Markup('<div class="head"><div><h1>My flows</h1><p class="lede">{}</p></div>'
                    '</div>').format(" · ".join(counts))]
    if store_error:
        parts.append(Markup(
            '<div class="callout warn" role="status">{}<p><b>The run store cannot be read '
            'right now</b>, so last runs are not shown. {}</p></div>').format(
            icon("TimedOut", "Warning"), store_error))
    rows = []
    for flow in valid:
        name = flow["name"]
        tags = []
        if flow.get("webhook"):
            tags.append(Markup('<span class="tag tag-hook">webhook</span>'))
        if not flow["enabled"]:
            tags.append(Markup('<span class="tag tag-off">disabled</span>'))
        actions = [Markup('<a class="btn btn-quiet" href="{}">Run history</a>').format(
            links.runs(name))]
        if flow.get("body_schema") and flow["enabled"]:
            actions.insert(0, Markup('<a class="btn" href="{}#run-now">Run now…</a>').format(
                links.runs(name)))
        elif flow["enabled"] and flow.get("valid", True):
            actions.insert(0, button_form(links.run_now(name), "Run now",
                                          note="Run it now, with no trigger body"))
        rows.append(Markup(
            '<tr id="flow-{name}" class="flow"><td><a class="flow-name" href="{runs}">{name}'
            '</a>{tags}<p class="desc">{desc}</p></td><td>{schedule}</td>'
            '<td class="nowrap">{last}</td><td class="nowrap"><div class="actions">{actions}'
            '</div></td></tr>').format(
            name=name, runs=links.runs(name), tags=join(tags), desc=flow["description"],
            schedule=_schedule_cell(flow, now),
            last=_last_run_cell(flow, last_runs.get(name), links, now, not store_error),
            actions=join(actions)))
    nav = _flows_pager(pager) if paged and pager is not None else Markup("")
    if rows:
        parts.append(Markup(
            '<div class="card"><table><thead><tr><th>Flow</th><th>Schedule</th>'
            '<th>Last run</th><th><span class="sr">Actions</span></th></tr></thead>'
            '<tbody>{}</tbody></table>{}</div>').format(join(rows), nav))
    elif total:
        parts.append(Markup('<div class="card"><p class="empty">No more flows.</p>{}</div>'
                            ).format(nav))
    else:
        parts.append(Markup('<div class="card"><p class="empty">No valid flows in the '
                            'flows folder.</p></div>'))
    if invalid:
        items = [_invalid_item(f) for f in invalid]
        parts.append(Markup(
            '<div class="card" id="invalid"><div class="card-head"><h2>{} Flow files with '
            'problems</h2><span class="muted small">These flows do not run until fixed'
            '</span></div><ul class="card-body invalid-list">{}</ul></div>').format(
            icon("Failed", "Invalid"), join(items)))
    return join(parts)


def _flows_pager(pager: FlowsPager) -> Markup:
    first = (Markup('<a href="{}">« First flows</a>').format(pager.first_href)
             if pager.first_href else Markup('<span class="muted">By name</span>'))
    more = (Markup('<a class="more" rel="next" href="{}">More flows »</a>').format(
        pager.next_href) if pager.next_href else Markup(""))
    return Markup('<div class="pager">{}{}</div>').format(first, more)


def _invalid_item(flow: dict[str, Any]) -> Markup:
    """An invalid flow file and its problems, named without the server's folders."""
    file = flow.get("file", "")
    short = PurePath(file).name if file else ""
    problems = [p.replace(file, short) if file else p for p in flow["problems"]]
    return Markup('<li class="invalid-flow"><div><b>{}</b> <span class="muted small">{}</span>'
                  '</div><ul class="problems">{}</ul></li>').format(
        flow["name"], short, join(Markup("<li>{}</li>").format(p) for p in problems))


# ------------------------------------------------------------- run history

def runs_body(name: str, description: str, page: RunPage, links: Links, now: datetime,
              status: str, top: str | None, continued: bool, run_now: str,
              body_schema: Any = None) -> Markup:
    """*run_now*: "" (none), "plain" (a button) or "body" (a form taking a JSON body)."""
    actions = [Markup('<a class="btn btn-quiet" href="{}">All flows</a>').format(links.flows())]
    if run_now == "plain":
        actions.append(button_form(links.run_now(name), "Run now"))
    head = Markup('<div class="head"><div><h1>{}</h1><p class="lede">{}</p></div>'
                  '<div class="actions">{}</div></div>').format(
        name, description or "Run history", join(actions))
    if run_now == "body":
        head += Markup('<div class="card">{}</div>').format(
            body_form(links.run_now(name), "Run now", body_schema))
    filters = join(
        Markup('<a href="{}"{}>{}</a>').format(
            links.runs(name, value or None, top=top),
            Markup(' aria-current="page"') if value == status else "", label)
        for value, label in FILTERS)
    runs = page.items
    parts = [head]
    if runs:
        which = "these" if continued else "the last"
        parts.append(Markup(
            '<div class="card chart"><div class="card-head"><h2>Duration of {} {} {}run{} '
            '<span class="muted small">· oldest to newest</span></h2>{}</div>'
            '<div class="card-body">{}</div></div>').format(
            which, len(runs), f"{status_label(_label(status)).lower()} " if status else "",
            "s" if len(runs) != 1 else "", LEGEND,
            duration_chart(runs, lambda r: links.run(name, r.run_id))))
    rows = [Markup(
        '<tr class="run s-row-{cls}"><td>{badge}</td><td class="nowrap"><a href="{href}">'
        '{start}</a><div class="muted small">{ago}</div></td><td class="num">{dur}</td>'
        '<td>{trigger}</td><td>{failing}</td><td class="hide-sm"><a class="mono '
        'muted" href="{href}">{short}</a></td></tr>').format(
        cls=status_class(r.status), badge=badge(r.status), href=links.run(name, r.run_id),
        start=fmt_time(r.started_at), ago=fmt_ago(r.started_at, now),
        dur=fmt_duration(r.duration_ms) if r.ended_at else "running…", trigger=r.trigger,
        failing=_failing_cell(r), short=r.run_id[:8]) for r in runs]
    if rows:
        table = Markup(
            '<table><thead><tr><th>Status</th><th>Start (UTC)</th><th class="num">Duration</th>'
            '<th>Trigger</th><th>Failing step</th><th class="hide-sm">Run</th></tr></thead>'
            '<tbody>{}</tbody></table>').format(join(rows))
    else:
        what = f"{status_label(_label(status)).lower()} runs" if status else "runs"
        table = Markup('<p class="empty">No {} {}.</p>').format(
            what, "on this page" if continued else "yet")
    pager = []
    if continued:
        pager.append(Markup('<a href="{}">« Newest runs</a>').format(
            links.runs(name, status or None, top=top)))
    else:
        pager.append(Markup('<span class="muted">Newest first</span>'))
    if page.continuation:
        pager.append(Markup('<a class="older" rel="next" href="{}">Older runs »</a>').format(
            links.runs(name, status or None, page.continuation, top=top)))
    parts.append(Markup(
        '<div class="card"><div class="card-head"><nav class="filters" aria-label="Status">'
        '{}</nav></div>{}<div class="pager">{}</div></div>').format(
        filters, table, join(pager)))
    return join(parts)


def _label(status: str) -> str:
    return {"timedout": "TimedOut"}.get(status, status.capitalize())


def _failing_cell(run: RunRecord) -> Markup:
    if not run.failing_step:
        return Markup('<span class="muted">—</span>')
    return Markup('<code>{}</code><div class="muted small" title="{}">{}</div>').format(
        run.failing_step, run.error_message, run.error_code)


# ---------------------------------------------------------------- one run

_NESTING = re.compile(r"\.(?:then|else)\.|\]\.")


def _step_name(path: str) -> Markup:
    """`each[2].notify` as a muted `each[2].` and the step's own id."""
    parent, dot, leaf = path.rpartition(".")
    if not dot:
        return Markup("{}").format(path)
    return Markup('<span class="step-parent">{}.</span>{}').format(parent, leaf)


def _step_item(index: int, step: StepRecord, run: RunRecord, failing: bool) -> Markup:
    depth = len(_NESTING.findall(step.path))
    total = max(run.duration_ms, 1.0)
    offset = (step.started_at - run.started_at).total_seconds() * 1000
    left = min(max(offset / total * 100, 0.0), 99.5)
    width = min(step.duration_ms / total * 100, 100.0 - left)
    track = (Markup('<div class="track" title="{}"><span style="left:{:.2f}%;width:{:.2f}%">'
                    '</span></div>').format(fmt_duration(step.duration_ms), left, width)
             if str(step.status) != "Skipped" else Markup('<div class="track"></div>'))
    has_error = bool(step.error_code or step.error_message)
    summary = step.summary if not (has_error and step.summary == step.error_message) else ""
    expanded = failing or str(step.status) in ("Failed", "TimedOut")
    label = "Failing step: " + status_label(step.status) if failing else None
    error = ""
    if has_error:
        error = Markup(
            '<details class="error"{open}><summary>{code}</summary><dl>'
            '<dt>Step</dt><dd><code>{path}</code></dd><dt>Code</dt><dd><code>{code}</code></dd>'
            '<dt>Message</dt><dd><pre class="error-message">{message}</pre></dd>{hint}</dl>'
            '</details>').format(
            open=Markup(" open") if expanded else "", code=step.error_code or "Error",
            path=step.path, message=step.error_message,
            hint=Markup('<dt>Hint</dt><dd class="error-hint">{}</dd>').format(step.error_hint)
            if step.error_hint else "")
    return Markup(
        '<li class="step st-{cls}{failing}" id="step-{index}" data-path="{path}" '
        'style="padding-left:{indent}px"><div class="step-row"><div class="step-name">{icon}'
        '<div><span class="step-id" title="{path}">{name}</span>{flag} <span '
        'class="step-action">{action}</span><div class="step-summary">{summary}</div></div>'
        '</div>{track}<div class="dur">{dur}</div></div>{error}</li>').format(
        cls=status_class(step.status), failing=" is-failing" if failing else "", index=index,
        path=step.path, name=_step_name(step.path), indent=18 + 22 * depth,
        icon=icon(step.status, label),
        flag=Markup(' <span class="tag tag-fail">failing step</span>') if failing else "",
        action=step.action, summary=summary, track=track,
        dur=fmt_duration(step.duration_ms), error=error)


def run_body(run: RunRecord, steps: Sequence[StepRecord], links: Links, now: datetime,
             resubmit: Markup) -> Markup:
    flow = run.flow
    head = Markup(
        '<div class="head"><div><h1>Run of <a href="{runs}">{flow}</a> {badge}</h1>'
        '<p class="lede mono">{run_id}</p></div><div class="actions">{resubmit}'
        '<a class="btn btn-quiet" href="{json}">JSON</a></div></div>').format(
        runs=links.runs(flow), flow=flow, badge=badge(run.status), run_id=run.run_id,
        resubmit=resubmit, json=links.run_json(flow, run.run_id))
    parts = [head]
    if run.resubmitted_from:
        parts.append(Markup(
            '<div class="callout info resubmitted">{}<p>This run resubmits run <a href="{}" '
            'class="mono">{}</a> with the same trigger body.</p></div>').format(
            icon("Running", "Resubmitted"), links.run(flow, run.resubmitted_from),
            run.resubmitted_from))
    failing_index = next((i for i, s in enumerate(steps) if s.path == run.failing_step), None)
    if run.failing_step:
        where = (Markup('<a href="#step-{}"><code>{}</code></a>').format(
            failing_index, run.failing_step) if failing_index is not None else
            Markup("<code>{}</code>").format(run.failing_step))
        parts.append(Markup(
            '<div class="callout run-error" role="alert">{}<p><b>{} at step {}</b>: {} — {}'
            '</p></div>').format(icon(run.status), status_label(run.status), where,
                                 run.error_code, _first_line(run.error_message)))
    ended = fmt_time(run.ended_at) if run.ended_at else Markup('<span class="muted">—</span>')
    resubmitted = (Markup('<a class="mono" href="{}">{}</a>').format(
        links.run(flow, run.resubmitted_from), run.resubmitted_from[:12])
        if run.resubmitted_from else Markup('<span class="muted">—</span>'))
    meta = [("Status", badge(run.status)), ("Trigger", run.trigger),
            ("Started (UTC)", Markup("{}<div class='muted small'>{}</div>").format(
                fmt_time(run.started_at), fmt_ago(run.started_at, now))),
            ("Ended (UTC)", ended),
            ("Duration", fmt_duration(run.duration_ms) if run.ended_at else "running…"),
            ("Steps", str(len(steps))), ("Resubmitted from", resubmitted)]
    if run.trigger_body is not None:
        body = json.dumps(run.trigger_body, indent=2, ensure_ascii=False, default=str)
        meta.append(("Trigger body", Markup('<pre class="trigger-body">{}</pre>').format(
            body if len(body) <= 4000 else body[:3999] + "…")))
    parts.append(Markup('<div class="card"><dl class="meta">{}</dl></div>').format(
        join(Markup('<div><dt>{}</dt><dd>{}</dd></div>').format(k, v) for k, v in meta)))
    items = [_step_item(i, s, run, i == failing_index) for i, s in enumerate(steps)]
    parts.append(Markup(
        '<div class="card"><div class="card-head"><h2>Steps</h2><span class="muted small">'
        'bars show when each step ran within the run</span></div>{}</div>').format(
        Markup('<ol class="steps">{}</ol>').format(join(items)) if items else
        Markup('<p class="empty">No steps were recorded.</p>')))
    return join(parts)


def _first_line(text: str, limit: int = 220) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit and line == text.strip() else line[:limit] + " …"


# ----------------------------------------------------------------- errors

def error_body(status: int, title: str, message: str, back: tuple[str, str]) -> Markup:
    return Markup(
        '<div class="card error-page"><div class="card-body"><p class="code">{}</p>'
        '<h1 style="justify-content:center">{}</h1><p class="lede" style="margin:8px auto 18px">'
        '{}</p><a class="btn btn-quiet" href="{}">{}</a></div></div>').format(
        status, title, message, back[1], back[0])
