"""The JSON API: webhook runs, the flow list, health, run history and resubmit.

Known errors become plain HTTP answers (400 bad JSON, 403 not a webhook flow, 404
unknown flow or run, 413 body too large); a run that executed answers 200 with its
status, so a caller never retries a run that failed (and mailed) on its own.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

from ..runner import Trigger
from ..service import FlowService, RunRefused
from .flows_view import describe_flows

__all__ = ["get_run", "health", "list_flows", "list_runs", "resubmit_run", "run_webhook",
           "run_summary"]

log = logging.getLogger(__name__)


def json_response(payload: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(payload, indent=2, default=str), status_code=status,
                             mimetype="application/json", charset="utf-8")


def error_response(status: int, code: str, message: str, **extra: Any) -> func.HttpResponse:
    return json_response({"error": {"code": code, "message": message, **extra}}, status)


def base_url(req: func.HttpRequest) -> str:
    url = req.url or ""
    marker = url.find("/api/")
    return url[:marker] if marker >= 0 else url.rstrip("/")


def run_summary(run: Any) -> dict[str, Any]:
    """The webhook's answer: id, status, step summaries, the failing step's error."""
    data = run.to_dict()
    return {key: data[key] for key in ("run_id", "flow", "status", "started_at", "ended_at",
                                       "duration_ms", "failing_step", "error", "steps",
                                       "resubmitted_from")}


def refused_response(exc: RunRefused) -> func.HttpResponse:
    extra = {"problems": [str(p) for p in exc.problems]} if exc.problems else {}
    return error_response(exc.status, exc.code, exc.message, **extra)


def run_webhook(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("name", "")
    try:
        service.runnable_on_request(name)
    except RunRefused as exc:
        return refused_response(exc)
    limit = service.settings.webhook_max_body_bytes
    declared = req.headers.get("content-length")
    raw = req.get_body() or b""
    if len(raw) > limit or (declared and declared.isdigit() and int(declared) > limit):
        return error_response(413, "BodyTooLarge",
                              f"the body is larger than {limit:,} bytes (WEBHOOK_MAX_BODY_BYTES)")
    body: Any = None
    if raw.strip():
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return error_response(400, "InvalidJson", f"Invalid JSON in request body: {exc}")
    # The function key travels as ?code=: a secret, never part of the flow's context.
    query = {k: v for k, v in req.params.items() if k != "code"}
    run = service.run(name, Trigger(kind="webhook", body=body, query=query))
    return json_response(run_summary(run))


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


def _top(req: func.HttpRequest) -> int | func.HttpResponse:
    raw = req.params.get("top", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        return error_response(400, "InvalidTop", "top must be a number from 1 to 1000")
    return int(raw)


def list_runs(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("name", "")
    if service.flow(name) is None and not service.problems_for(name):
        return error_response(404, "FlowNotFound", f"no flow named '{name}'")
    top = _top(req)
    if isinstance(top, func.HttpResponse):
        return top
    status = req.params.get("status") or None
    try:
        page = service.store.list_runs(name, top=top, status=status,
                                       continuation=req.params.get("continuation") or None)
    except ValueError as exc:
        return error_response(400, "InvalidQuery", str(exc))
    return json_response({"flow": name, "runs": [r.to_dict() for r in page.items],
                          "continuation": page.continuation})


def get_run(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    flow, run_id = req.route_params.get("flow", ""), req.route_params.get("run_id", "")
    found = service.store.get_run(flow, run_id)
    if found is None:
        return error_response(404, "RunNotFound", f"no run {run_id} of flow '{flow}'")
    record, steps = found
    return json_response({**record.to_dict(), "steps": [s.to_dict() for s in steps]})


def resubmit_run(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    flow, run_id = req.route_params.get("flow", ""), req.route_params.get("run_id", "")
    try:
        run = service.resubmit(flow, run_id)
    except RunRefused as exc:
        return refused_response(exc)
    return json_response(run_summary(run))
