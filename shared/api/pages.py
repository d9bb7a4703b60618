"""Run history in the browser: server-rendered pages over the same data as the JSON
API (`http.py`), for the people who open it to find out why a report did not arrive.

    GET  pages/flows                          my flows: schedule, next and last run
    GET  pages/flows/{name}/runs              a flow's runs, newest first, by status
    GET  pages/runs/{flow}/{run_id}           one run: its steps, the failing one's error
    POST pages/flows/{name}/run               run now (webhook flows), 303 to the new run
    POST pages/runs/{flow}/{run_id}/resubmit  run again with the same body, 303 to it

Every link and form keeps the request's `code` (the function key), so a page opened
with `?code=...` can be clicked through. Unknown flows and runs answer a 404 page, bad
query values a 400 page, a run store that cannot be read a 503 page. The HTML lives
in `pages_views.py` (bodies), `pages_layout.py` (shell, icons) and `pages_chart.py`.
"""

from __future__ import annotations

import logging

import azure.functions as func
from markupsafe import Markup

from ..runner import Trigger
from ..runs.records import parse_status
from ..runs.store import RunStoreUnavailable
from ..service import FlowService, RunRefused
from .flows_view import describe_flows
from .pages_layout import Links, button_form, html_page, redirect
from .pages_views import error_body, flows_body, run_body, runs_body

__all__ = ["flows_page", "resubmit_page", "run_now_page", "run_page", "runs_page"]

log = logging.getLogger(__name__)

DEFAULT_TOP = 25
MAX_TOP = 200
MAX_CONTINUATION_CHARS = 4096


def _error(links: Links, status: int, title: str, message: str,
           back: tuple[str, str] | None = None) -> func.HttpResponse:
    back = back or ("All flows", links.flows())
    return html_page(title, error_body(status, title, message, back), links=links,
                     status=status, crumbs=[("My flows", links.flows()), (title, None)])


def _store_down(links: Links, exc: Exception | str) -> func.HttpResponse:
    log.warning("run history page: the run store cannot be read: %s", exc)
    return _error(links, 503, "Run store unavailable",
                  "The run store cannot be read right now, so the run history cannot be shown."
                  " Runs still happen and are recorded when it is back; try again shortly.")


_REFUSED_TITLES = {"FlowNotFound": "Flow not found", "FlowInvalid": "Flow is invalid",
                   "WebhookDisabled": "Not a webhook flow", "FlowDisabled": "Flow is disabled",
                   "RunNotFound": "Run not found", "TriggerBodyUnavailable": "Cannot resubmit"}


def _refused(links: Links, exc: RunRefused, flow: str, run_id: str = "") -> func.HttpResponse:
    if exc.code == "FlowNotFound":
        back = None
    elif run_id and exc.code != "RunNotFound":
        back = ("Back to the run", links.run(flow, run_id))
    else:
        back = ("Run history", links.runs(flow))
    message = exc.message[0].upper() + exc.message[1:] + "."
    return _error(links, exc.status, _REFUSED_TITLES.get(exc.code, "Refused"), message, back)


def _cross_site(req: func.HttpRequest) -> bool:
    """A form posted from another site (the browser says so): refused, so a page
    elsewhere cannot start runs with a visitor's key."""
    return (req.headers.get("sec-fetch-site") or "").lower() == "cross-site"


# -------------------------------------------------------------------- GET

def flows_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    links, now = Links(req), service.now()
    flows = describe_flows(service, now, with_last_run=False)
    last_runs, store_error = {}, ""
    if service.store is None:
        store_error = "No run store is configured."
    else:
        try:
            for flow in flows:
                if flow["valid"]:
                    last_runs[flow["name"]] = service.store.last_run(flow["name"])
        except RunStoreUnavailable as exc:
            log.warning("flows page: the run store cannot be read: %s", exc)
            store_error, last_runs = str(exc), {}
    body = flows_body(flows, last_runs, links, now, store_error)
    return html_page("My flows", body, links=links)


def runs_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    links = Links(req)
    name = req.route_params.get("name", "")
    loaded = service.flow(name)
    if loaded is None and not service.problems_for(name):
        return _error(links, 404, "Flow not found", f"There is no flow named '{name}'.")
    back = ("Newest runs", links.runs(name))
    raw_status = req.params.get("status", "")
    try:
        wanted = parse_status(raw_status)
    except ValueError:
        return _error(links, 400, "Unknown status filter",
                      f"'{raw_status[:100]}' is not a run status; use succeeded, failed, "
                      "timedout, running or abandoned.", back)
    status = wanted.name.replace("_", "").lower() if wanted else ""
    raw_top = req.params.get("top", "")
    if raw_top and not (raw_top.isdigit() and 1 <= int(raw_top) <= MAX_TOP):
        return _error(links, 400, "Bad page size",
                      f"top must be a number from 1 to {MAX_TOP}.", back)
    continuation = req.params.get("continuation") or None
    if continuation and len(continuation) > MAX_CONTINUATION_CHARS:
        return _error(links, 400, "Bad page link", "This 'older runs' link is not valid.", back)
    if service.store is None:
        return _store_down(links, "no run store")
    try:
        page = service.store.list_runs(name, top=int(raw_top or DEFAULT_TOP),
                                       status=status or None, continuation=continuation)
    except ValueError:
        return _error(links, 400, "Bad page link",
                      "This 'older runs' link is not valid for this flow and filter "
                      "(it may be from another filter); start again from the newest runs.",
                      back)
    except RunStoreUnavailable as exc:
        return _store_down(links, exc)
    description = loaded.flow.description.strip() if loaded else "This flow file is invalid."
    can_run_now = bool(loaded and loaded.flow.trigger.webhook and loaded.flow.enabled)
    body = runs_body(name, description, page, links, service.now(), status,
                     raw_top or None, continuation is not None, can_run_now)
    return html_page(f"{name} runs", body, links=links,
                     crumbs=[("My flows", links.flows()), (name, None)])


def run_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    links = Links(req)
    flow, run_id = req.route_params.get("flow", ""), req.route_params.get("run_id", "")
    if service.store is None:
        return _store_down(links, "no run store")
    try:
        found = service.store.get_run(flow, run_id)
    except RunStoreUnavailable as exc:
        return _store_down(links, exc)
    if found is None:
        back = (("Run history", links.runs(flow)) if service.flow(flow) else None)
        return _error(links, 404, "Run not found", f"There is no run {run_id} of flow "
                      f"'{flow}'. It may be older than the history keeps.", back)
    record, steps = found
    if service.flow(flow) is None:
        resubmit = Markup('<span class="muted small">The flow is not valid now: it '
                          'cannot be resubmitted.</span>')
    elif record.trigger_body_truncated:
        resubmit = Markup('<button class="btn" disabled title="Its trigger body was too large '
                          'to keep">Resubmit</button>')
    else:
        resubmit = button_form(links.resubmit(flow, run_id), "Resubmit",
                               note="Run the flow again with this run's trigger body")
    body = run_body(record, steps, links, service.now(), resubmit)
    running = str(record.status) == "Running"
    return html_page(f"Run {run_id[:8]} of {flow}", body, links=links,
                     refresh_seconds=5 if running else None,
                     crumbs=[("My flows", links.flows()), (flow, links.runs(flow)),
                             (f"Run {run_id[:8]}", None)])


# ------------------------------------------------------------------- POST

def run_now_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    links = Links(req)
    name = req.route_params.get("name", "")
    if _cross_site(req):
        return _error(links, 403, "Refused", "Runs cannot be started from another site.")
    try:
        service.runnable_on_request(name)
    except RunRefused as exc:
        return _refused(links, exc, name)
    run = service.run(name, Trigger(kind="webhook", body=None))
    return redirect(links.run(name, run.run_id))


def resubmit_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    links = Links(req)
    flow, run_id = req.route_params.get("flow", ""), req.route_params.get("run_id", "")
    if _cross_site(req):
        return _error(links, 403, "Refused", "Runs cannot be resubmitted from another site.")
    if service.store is None:
        return _store_down(links, "no run store")
    try:
        run = service.resubmit(flow, run_id)
    except RunRefused as exc:
        return _refused(links, exc, flow, run_id)
    except RunStoreUnavailable as exc:
        return _store_down(links, exc)
    return redirect(links.run(flow, run.run_id))
