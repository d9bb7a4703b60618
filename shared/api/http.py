"""The JSON API: webhook runs, the flow list, health, run history and resubmit.

Handlers raise the product's errors (`shared.errors`); `Route.call` turns them into
JSON answers (400 bad JSON or query, 403 not a webhook flow, 404 unknown flow or run,
413 body too large, 422 invalid flow, 503 run store down). A run that executed
answers 200 with its status, so a caller never retries a run that failed (and
mailed) on its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import azure.functions as func

from ..body_schema import check_body
from ..errors import InvalidQuery, KustoFlowsError
from ..history import RunQuery, result_json, run_json
from ..results import RunResult
from ..runner import Trigger
from ..service import FlowService
from .flows_view import describe_flows

#: How long a run started by an HTTP request may take, chained runs included: Azure
#: cuts an HTTP response at 230 s whatever functionTimeout says.
HTTP_RUN_SECONDS = 220.0
#: The longest `?wait=` for a queued run to end before answering 202.
MAX_WAIT_SECONDS = 200

__all__ = ["HTTP_RUN_SECONDS", "error_response", "get_run", "health", "json_response",
           "list_flows", "list_runs", "resubmit_run", "run_webhook"]


class BodyTooLarge(KustoFlowsError, http_status=413):
    """A webhook body over WEBHOOK_MAX_BODY_BYTES."""


class InvalidJson(KustoFlowsError, http_status=400):
    """A webhook body that is not JSON."""


def json_response(payload: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(payload, indent=2, default=str), status_code=status,
                             mimetype="application/json", charset="utf-8")


def error_response(exc: KustoFlowsError) -> func.HttpResponse:
    return json_response({"error": exc.to_dict()}, exc.http_status)


def base_url(req: func.HttpRequest) -> str:
    url = req.url or ""
    marker = url.find("/api/")
    return url[:marker] if marker >= 0 else url.rstrip("/")


def _json_body(service: FlowService, req: func.HttpRequest) -> Any:
    limit = service.settings.webhook_max_body_bytes
    declared = req.headers.get("content-length")
    raw = req.get_body() or b""
    if len(raw) > limit or (declared and declared.isdigit() and int(declared) > limit):
        raise BodyTooLarge(f"the body is larger than {limit:,} bytes (WEBHOOK_MAX_BODY_BYTES)")
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise InvalidJson("Invalid JSON in request body: nested too deeply") from exc
    except ValueError as exc:  # JSON syntax, bad UTF-8, an integer of over 4,300 digits
        raise InvalidJson(f"Invalid JSON in request body: {exc}") from exc


def run_webhook(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("name", "")
    loaded = service.runnable_on_request(name)
    wait = _wait_seconds(req)
    body = _json_body(service, req)
    schema = loaded.flow.trigger.body_schema
    if schema is not None:
        check_body(schema, body)
    # The function key travels as ?code=: a secret, never part of the flow's context;
    # `wait` is this API's, not the flow's.
    query = {k: v for k, v in req.params.items() if k not in ("code", "wait")}
    run = service.run(name, Trigger(kind="webhook", body=body, query=query),
                      within_seconds=HTTP_RUN_SECONDS)
    return _run_answer(service, req, run, wait)


def _wait_seconds(req: func.HttpRequest) -> float:
    raw = (req.params.get("wait") or "0").strip()
    if not raw.isdigit() or int(raw) > MAX_WAIT_SECONDS:
        raise InvalidQuery(f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS}")
    return float(raw)


def _run_answer(service: FlowService, req: func.HttpRequest, run: RunResult,
                wait: float) -> func.HttpResponse:
    """An ended run: 200 with it. A queued run: 202 with where to follow it, unless it
    ends within *wait* seconds (then 200 with it)."""
    if not run.status.final:
        found = service.wait_for_end(run.flow, run.run_id, wait) if wait else None
        if found is None:
            path = f"/api/runs/{quote(run.flow)}/{run.run_id}"
            answer = json_response({"run_id": run.run_id, "flow": run.flow,
                                    "status": str(run.status),
                                    "status_url": base_url(req) + path}, 202)
            answer.headers["Location"] = path
            return answer
        return json_response(run_json(*found))
    return json_response(result_json(run))


def list_flows(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    flows = describe_flows(service, datetime.now(UTC), base_url(req))
    return json_response({"flows": flows})


def health(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    return json_response({
        "status": "ok",
        "flows": len(service.catalog.flows),
        "invalid_files": sorted(service.catalog.problems),
        "email": "acs" if service.settings.acs_configured and not
        service.settings.email_dry_run else "outbox",
    })


def list_runs(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("name", "")
    service.known_flow(name)
    query = RunQuery.parse(name, status=req.params.get("status"), top=req.params.get("top"),
                           continuation=req.params.get("continuation"))
    page = service.runs(query)
    return json_response({"flow": name, "runs": [r.to_dict() for r in page.items],
                          "continuation": page.continuation})


def get_run(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    flow, run_id = req.route_params.get("flow", ""), req.route_params.get("run_id", "")
    return json_response(run_json(*service.get_run(flow, run_id)))


def resubmit_run(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    flow, run_id = req.route_params.get("flow", ""), req.route_params.get("run_id", "")
    wait = _wait_seconds(req)
    run = service.resubmit(flow, run_id, within_seconds=HTTP_RUN_SECONDS)
    return _run_answer(service, req, run, wait)
