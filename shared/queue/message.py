"""What a queued run's message holds: which run of which flow, how it was triggered
and by when it must end. Small by design (a Storage queue message holds 64 KB):
the trigger body is kept with the run's record, written before the message is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.errors import KustoFlowsError

__all__ = ["MessageInvalid", "RunMessage"]


def _pair(value: Any) -> tuple[datetime, datetime] | None:
    if not value:
        return None
    start, end = value
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


class MessageInvalid(KustoFlowsError, http_status=400):
    """A queue message that is not a run message (it is dropped, and logged)."""


@dataclass(frozen=True)
class RunMessage:
    flow: str
    run_id: str
    #: The trigger: kind ("webhook", "schedule", "resubmit", "after", "manual"),
    #: when it fired, its query string.
    trigger_kind: str
    trigger_time: datetime
    #: The run must end by then (UTC); a message that starts later ends TimedOut.
    deadline: datetime
    trigger_query: dict[str, str] = field(default_factory=dict)
    resubmitted_from: str = ""
    #: Why this message: "start", or "resume" (after a wait, or a busy flow).
    reason: str = "start"
    #: A scheduled run's window (UTC start, end) and the flow's time zone.
    window: tuple[datetime, datetime] | None = None
    timezone: str = "UTC"
    #: Catch-up windows to run after this one, in order, each as its own run.
    next_windows: tuple[tuple[datetime, datetime], ...] = ()

    def to_json(self) -> str:
        return json.dumps({
            "v": 1, "flow": self.flow, "run_id": self.run_id,
            "trigger": {"kind": self.trigger_kind, "time": self.trigger_time.isoformat(),
                        "query": self.trigger_query},
            "deadline": self.deadline.isoformat(), "resubmitted_from": self.resubmitted_from,
            "reason": self.reason, "timezone": self.timezone,
            "window": [t.isoformat() for t in self.window] if self.window else None,
            "next_windows": [[s.isoformat(), e.isoformat()] for s, e in self.next_windows]},
            separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> RunMessage:
        try:
            data: Any = json.loads(text)
            trigger = data["trigger"]
            return cls(flow=str(data["flow"]), run_id=str(data["run_id"]),
                       trigger_kind=str(trigger["kind"]),
                       trigger_time=datetime.fromisoformat(trigger["time"]),
                       deadline=datetime.fromisoformat(data["deadline"]),
                       trigger_query={str(k): str(v) for k, v in
                                      (trigger.get("query") or {}).items()},
                       resubmitted_from=str(data.get("resubmitted_from") or ""),
                       reason=str(data.get("reason") or "start"),
                       window=_pair(data.get("window")),
                       timezone=str(data.get("timezone") or "UTC"),
                       next_windows=tuple(p for p in map(_pair, data.get("next_windows") or [])
                                          if p is not None))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MessageInvalid(f"not a run message: {exc}") from exc
