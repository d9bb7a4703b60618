"""What an action gets from the runner, and what it gives back."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import FlowInvalid, RunTimedOut
from ..mail.message import Attachment
from ..model import Connection, Flow
from ..settings import Settings

__all__ = ["StepContext", "StepOutcome"]


@dataclass
class StepOutcome:
    outputs: dict[str, Any]
    summary: str = ""


@dataclass
class StepContext:
    settings: Settings
    flow: Flow
    connections: dict[str, Connection]
    run_id: str
    run_started_at: datetime
    #: time.monotonic() by which the whole run must end.
    deadline: float
    step_path: str = ""
    #: Inline parts (charts) by content id, so an e-mail can embed what a step drew.
    inline_parts: dict[str, Attachment] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RunTimedOut("the run passed its whole-run deadline",
                              hint="make the flow's queries faster, or raise "
                                   "limits.run_timeout (capped by RUN_DEADLINE_SECONDS)")
        return left

    def connection(self, name: str) -> Connection:
        try:
            return self.connections[name]
        except KeyError:
            raise FlowInvalid(f"unknown connection '{name}'",
                              hint="add it to flows/connections.yaml") from None

    def for_step(self, path: str) -> StepContext:
        clone = StepContext(self.settings, self.flow, self.connections, self.run_id,
                            self.run_started_at, self.deadline, path, self.inline_parts,
                            self.lock)
        return clone
