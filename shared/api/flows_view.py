"""Each flow as the flow list shows it: schedule in words, next fire times,
webhook URL, valid or its problems, last run."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from ..loader import CONNECTIONS_FILE
from ..schedule import effective_schedule
from ..service import FlowService

__all__ = ["describe_flows"]

log = logging.getLogger(__name__)


def describe_flows(service: FlowService, now: datetime, base_url: str = "",
                   with_last_run: bool = True) -> list[dict[str, Any]]:
    from ..schedule import parse_schedule

    flows: list[dict[str, Any]] = []
    for name, loaded in sorted(service.catalog.flows.items()):
        flow = loaded.flow
        expression, note = effective_schedule(flow, service.settings)
        schedule: dict[str, Any] | None = None
        if expression:
            parsed = parse_schedule(expression, flow.trigger.timezone)
            schedule = {
                "expression": parsed.expression,
                "timezone": parsed.timezone,
                "words": parsed.describe(),
                "utc_timer": parsed.utc_timer_expression(),
                "next": [t.isoformat() for t in parsed.next_times(now, 3)],
                "note": note.strip(),
            }
        entry: dict[str, Any] = {
            "name": name,
            "description": flow.description.strip(),
            "enabled": flow.enabled,
            "valid": True,
            "problems": [],
            "schedule": schedule,
            "after": flow.trigger.after.model_dump() if flow.trigger.after else None,
            "webhook": bool(flow.trigger.webhook),
            "body_schema": flow.trigger.body_schema,
            "webhook_url": f"{base_url}/api/flows/{name}/run" if flow.trigger.webhook else None,
            "steps": len(flow.steps),
            "last_run": None,
        }
        if with_last_run and service.store is not None:
            try:
                last = service.store.last_run(name)
            except Exception as exc:  # history is optional here; the list still answers
                log.warning("cannot read the last run of %s: %s", name, exc)
                last = None
            entry["last_run"] = last.to_dict() if last else None
        flows.append(entry)
    for file, problems in sorted(service.catalog.problems.items()):
        name = "connections" if Path(file).name == CONNECTIONS_FILE else Path(file).stem
        flows.append({"name": name, "file": file, "valid": False, "enabled": False,
                      "problems": [str(p) for p in problems], "schedule": None,
                      "webhook": False, "webhook_url": None, "description": "",
                      "last_run": None})
    return flows
