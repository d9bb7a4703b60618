"""Alert state over HTTP: `GET /api/flows/{name}/alerts` (JSON), and the alerts
section of a flow's run-history page (`alerts_section`, HTML: every value escaped)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func
from markupsafe import Markup

from ..alerts.machine import AlertState
from ..loader import walk_steps
from ..service import FlowService
from ..state import StateStoreUnavailable
from ..steps.alert import ACTION as ALERT
from .http import json_response
from .pages_layout import fmt_ago, fmt_time, join

__all__ = ["alerts_section", "flow_alerts"]

log = logging.getLogger(__name__)


def flow_alerts(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    """Every firing or pending key of the flow's alert steps: 404 unknown flow, 503
    state store down."""
    name = req.route_params.get("name", "")
    found = service.alert_states(name)
    return json_response({"flow": name, "alerts": [{"step": step, **state.to_dict()}
                                                   for _, step, state in found]})


def _last_value(state: AlertState) -> Markup:
    row = state.row if isinstance(state.row, dict) else {}
    cells = [Markup("<span>{}</span>&nbsp;<b>{}</b>").format(name, value)
             for name, value in row.items() if name not in state.key]
    return join(cells, Markup('<span class="muted"> · </span>')) if cells else \
        Markup('<span class="muted">—</span>')


def alerts_section(service: FlowService, name: str, now: datetime | None = None) -> Markup:
    """The alerts card of flow *name*'s page: key, state, since, evaluations, last value;
    nothing for a flow without alert steps."""
    loaded = service.flow(name)
    if loaded is None or not any(step.action == ALERT.name
                                 for _, step, _ in walk_steps(loaded.flow.steps)):
        return Markup()
    now = now or datetime.now(UTC)
    head = Markup('<div class="card-head"><h2>Alerts <span class="muted small">· keys '
                  'firing or pending now; the others are fine</span></h2></div>')
    try:
        found = service.alert_states(name)
    except StateStoreUnavailable as exc:
        log.warning("alerts of %s cannot be read: %s", name, exc)
        return Markup('<div class="card">{}<p class="empty">The alert state cannot be read '
                      'now: {}</p></div>').format(head, exc.message)
    if not found:
        return Markup('<div class="card">{}<p class="empty">No alert is firing or pending.'
                      '</p></div>').format(head)
    rows = [Markup(
        '<tr><td><code>{step}</code></td><td><b>{key}</b></td><td><span class="tag {cls}">'
        '{status}</span></td><td class="nowrap">{since}<div class="muted small">{ago}</div>'
        '</td><td class="num">{evaluations}</td><td>{value}</td></tr>').format(
        step=step, key=state.label, cls="tag-fail" if state.status == "firing" else "tag-off",
        status=state.status, since=fmt_time(state.since.astimezone(UTC), seconds=False),
        ago=fmt_ago(state.since, now), evaluations=state.evaluations,
        value=_last_value(state)) for _, step, state in found]
    return Markup(
        '<div class="card">{}<table><thead><tr><th>Step</th><th>Key</th><th>State</th>'
        '<th>Since (UTC)</th><th class="num">Evaluations</th><th>Last value</th></tr>'
        '</thead><tbody>{}</tbody></table></div>').format(head, join(rows))
