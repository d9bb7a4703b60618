"""Each flow as the flow list shows it: schedule in words, next fire times,
webhook URL, valid or its problems, last run.

The last runs come from the run store's latest-run index in one query
(`RunStore.last_runs`), never one query per flow; the flow list page shows the flows
a page at a time (`FlowQuery`: `?top=&continuation=`, as the run history pages), so
a folder of 1,000 flows renders pages of bounded size.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InvalidQuery
from ..loader import CONNECTIONS_FILE, LoadedFlow
from ..runs.store import RunRecord
from ..schedule import effective_schedule
from ..service import FlowService

__all__ = ["DEFAULT_FLOWS_TOP", "MAX_FLOWS_TOP", "FlowQuery", "describe_flows", "last_runs"]

log = logging.getLogger(__name__)

#: Flows on one page of the flow list, unless `top` says otherwise (1 to MAX_FLOWS_TOP).
DEFAULT_FLOWS_TOP = 100
MAX_FLOWS_TOP = 1000
_MAX_CONTINUATION_CHARS = 4096


@dataclass(frozen=True)
class FlowQuery:
    """A page of the flow list: *top* valid flows in name order, from the flow the
    *continuation* token names (the first page when None)."""

    top: int = DEFAULT_FLOWS_TOP
    continuation: str | None = None

    @classmethod
    def parse(cls, *, top: str | int | None = None,
              continuation: str | None = None) -> FlowQuery:
        """A query from request text (either may be None or empty for the default);
        InvalidQuery saying what is wrong."""
        text = str(top).strip() if top is not None else ""
        if text and not (text.isdigit() and 1 <= int(text) <= MAX_FLOWS_TOP):
            raise InvalidQuery(f"top must be a number from 1 to {MAX_FLOWS_TOP}")
        if continuation:
            _decode_token(continuation)  # refused now, not when the page is built
        return cls(int(text) if text else DEFAULT_FLOWS_TOP, continuation or None)

    def page(self, names: Sequence[str]) -> tuple[list[str], str | None]:
        """The names of this page out of *names* (sorted), and the token of the next
        page (None on the last). A token goes on from the flow it names, or from where
        that flow would be if it has gone since."""
        start = bisect.bisect_left(names, _decode_token(self.continuation)) \
            if self.continuation else 0
        end = start + self.top
        return list(names[start:end]), _encode_token(names[end]) if end < len(names) else None


def _encode_token(name: str) -> str:
    raw = json.dumps({"from": name}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_token(token: str) -> str:
    if len(token) > _MAX_CONTINUATION_CHARS:
        raise InvalidQuery("invalid continuation token")
    try:
        data = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4))
                                                   .encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidQuery("invalid continuation token") from exc
    if not isinstance(data, dict) or not isinstance(data.get("from"), str):
        raise InvalidQuery("invalid continuation token: it does not page the flow list")
    return str(data["from"])


def last_runs(service: FlowService, names: Sequence[str]) -> dict[str, RunRecord]:
    """The last run of each of *names* that has one, in one query of the run store
    (raises what the store raises; {} without a store or names)."""
    if service.store is None or not names:
        return {}
    return service.store.last_runs(names)


def describe_flows(service: FlowService, now: datetime, base_url: str = "",
                   with_last_run: bool = True,
                   names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The valid flows *names* (default: all, by name), then every invalid file. With
    *with_last_run*, each valid flow's last run, read in one query (a store that
    cannot be read leaves them None: the list still answers)."""
    chosen = sorted(service.catalog.flows) if names is None else list(names)
    latest: dict[str, RunRecord] = {}
    if with_last_run:
        try:
            latest = last_runs(service, chosen)
        except Exception as exc:  # history is optional here; the list still answers
            log.warning("cannot read the last runs of the flows: %s", exc)
    flows: list[dict[str, Any]] = []
    for name in chosen:
        loaded = service.catalog.flows.get(name)
        if loaded is None:
            continue
        entry = _describe(service, name, loaded, now, base_url)
        last = latest.get(name)
        entry["last_run"] = last.to_dict() if last else None
        flows.append(entry)
    for file, problems in sorted(service.catalog.problems.items()):
        name = "connections" if Path(file).name == CONNECTIONS_FILE else Path(file).stem
        flows.append({"name": name, "file": file, "valid": False, "enabled": False,
                      "problems": [str(p) for p in problems], "schedule": None,
                      "webhook": False, "webhook_url": None, "description": "",
                      "last_run": None})
    return flows


def _describe(service: FlowService, name: str, loaded: LoadedFlow, now: datetime,
              base_url: str) -> dict[str, Any]:
    from ..schedule import parse_schedule

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
    return {
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
