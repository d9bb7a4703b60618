"""Run history in the browser: server-rendered pages over the same data as the JSON
API (`http.py`), for the people who open it to find out why a report did not arrive.

    GET  pages/flows                          my flows: schedule, next and last run (paged)
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

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from markupsafe import Markup

from ..body_schema import check_body
from ..errors import FlowNotFound, InvalidQuery, KustoFlowsError, RunNotFound
from ..history import RunQuery
from ..runner import Trigger
from ..runs.store import RunRecord, RunStoreUnavailable
from ..service import FlowService
from .flows_view import FlowQuery, describe_flows
from .http import HTTP_RUN_SECONDS, InvalidJson
from .pages_layout import Links, button_form, html_page, join, redirect
from .pages_views import FlowsPager, error_body, flows_body, run_body, runs_body

__all__ = ["error_page", "flows_page", "resubmit_page", "run_now_page", "run_page",
           "runs_page"]

log = logging.getLogger(__name__)


class CrossSiteRequest(KustoFlowsError, http_status=403, title="Refused"):
    """A form posted from another site."""


def error_page(req: func.HttpRequest, exc: KustoFlowsError) -> func.HttpResponse:
    """The page for an error a page handler raised (see `Route.call`): its title, its
    message and hint, and a way back that fits where the visitor was."""
    links = Links(req)
    flow = req.route_params.get("flow") or req.route_params.get("name") or ""
    run_id = req.route_params.get("run_id", "")
    back = ("All flows", links.flows())
    if flow and not isinstance(exc, FlowNotFound):
        back = ("Run history", links.runs(flow))
        if run_id and not isinstance(exc, RunNotFound | RunStoreUnavailable):
            back = ("Back to the run", links.run(flow, run_id))
    message = exc.message[:1].upper() + exc.message[1:] + "."
    if exc.hint:
        message += f" {exc.hint[:1].upper()}{exc.hint[1:]}."
    return html_page(exc.title, error_body(exc.http_status, exc.title, message, back),
                     links=links, status=exc.http_status,
                     crumbs=[("My flows", links.flows()), (exc.title, None)])


def _refuse_cross_site(req: func.HttpRequest, what: str) -> None:
    """A form posted from another site is refused, so a page elsewhere cannot start runs
    with a visitor's key. Browsers say where a form comes from in `Sec-Fetch-Site`;
    without it (older browsers, or a proxy that strips it) `Origin` must be this site.
    A client that sends neither is not a browser form."""
    site = (req.headers.get("sec-fetch-site") or "").lower()
    origin = (req.headers.get("origin") or "").strip().lower()
    if site == "cross-site" or (not site and origin and origin != _own_origin(req)):
        raise CrossSiteRequest(f"runs cannot be {what} from another site")


def _own_origin(req: func.HttpRequest) -> str:
    url = urlsplit(req.url or "")
    return f"{url.scheme}://{url.netloc}".lower()


# -------------------------------------------------------------------- GET

def flows_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    """A page of the flows (`?top=`, default 100, and `?continuation=` from "More
    flows"): their last runs are one query of the run store, whatever the page size."""
    links, now = Links(req), service.now()
    raw_top = req.params.get("top") or None
    try:
        query = FlowQuery.parse(top=raw_top, continuation=req.params.get("continuation"))
    except InvalidQuery as exc:
        raise InvalidQuery(exc.message, hint="start again from the first flows") from exc
    every = sorted(service.catalog.flows)
    names, following = query.page(every)
    flows = describe_flows(service, now, with_last_run=False, names=names)
    last_runs: dict[str, RunRecord | None] = {}
    store_error = ""
    if service.store is None:
        store_error = "No run store is configured."
    else:
        try:
            last_runs.update(service.store.last_runs(names))
        except RunStoreUnavailable as exc:
            log.warning("flows page: the run store cannot be read: %s", exc)
            store_error = str(exc)
    start = every.index(names[0]) if names else len(every)
    pager = FlowsPager(
        total=len(every), start=start,
        first_href=links.url("pages", "flows", top=raw_top) if query.continuation else None,
        next_href=links.url("pages", "flows", top=raw_top, continuation=following)
        if following else None)
    body = flows_body(flows, last_runs, links, now, store_error, pager)
    return html_page("My flows", body, links=links)


def runs_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    links = Links(req)
    name = req.route_params.get("name", "")
    service.known_flow(name)
    try:
        query = RunQuery.parse(name, status=req.params.get("status"),
                               top=req.params.get("top"),
                               continuation=req.params.get("continuation"))
    except InvalidQuery as exc:
        raise InvalidQuery(exc.message, hint="start again from the newest runs") from exc
    page = service.runs(query)
    loaded = service.flow(name)
    description = loaded.flow.description.strip() if loaded else "This flow file is invalid."
    run_now = ""
    if loaded is not None and loaded.flow.enabled:
        run_now = "body" if loaded.flow.trigger.webhook else "plain"
    status = query.status.lower() if query.status else ""
    raw_top = req.params.get("top") or None
    body = runs_body(name, description, page, links, service.now(), status, raw_top,
                     query.continuation is not None, run_now,
                     loaded.flow.trigger.body_schema if loaded else None)
    if query.continuation is None and not status:  # the alerts card, on the first page
        from .alerts import alerts_section

        body = join([body, alerts_section(service, name, service.now())])
    return html_page(f"{name} runs", body, links=links,
                     crumbs=[("My flows", links.flows()), (name, None)])


def run_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    links = Links(req)
    flow, run_id = req.route_params.get("flow", ""), req.route_params.get("run_id", "")
    record, steps = service.get_run(flow, run_id)
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
    running = not record.status.final
    return html_page(f"Run {run_id[:8]} of {flow}", body, links=links,
                     refresh_seconds=5 if running else None,
                     crumbs=[("My flows", links.flows()), (flow, links.runs(flow)),
                             (f"Run {run_id[:8]}", None)])


# ------------------------------------------------------------------- POST

def run_now_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    links = Links(req)
    name = req.route_params.get("name", "")
    _refuse_cross_site(req, "started")
    loaded = service.runnable_from_page(name)
    body = _form_body(req)
    schema = loaded.flow.trigger.body_schema
    if schema is not None:
        check_body(schema, body)
    kind = "webhook" if loaded.flow.trigger.webhook else "manual"
    run = service.run(name, Trigger(kind=kind, body=body), within_seconds=HTTP_RUN_SECONDS)
    return redirect(links.run(name, run.run_id))


def _form_body(req: func.HttpRequest) -> Any:
    """The Run-now form's `body` field as JSON (None when empty)."""
    text = (req.form.get("body") or "").strip() if req.form else ""
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidJson(f"the body is not JSON: {exc}",
                          hint="write a JSON object such as {\"state\": \"TEXAS\"}") from exc


def resubmit_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    links = Links(req)
    flow, run_id = req.route_params.get("flow", ""), req.route_params.get("run_id", "")
    _refuse_cross_site(req, "resubmitted")
    run = service.resubmit(flow, run_id, within_seconds=HTTP_RUN_SECONDS)
    return redirect(links.run(flow, run.run_id))
