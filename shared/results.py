"""What a run produced: the run result the CLI prints, the store persists and the
API serves. Plain dataclasses with a JSON-safe `to_dict()`; no I/O here."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = [
    "RunResult",
    "RunStatus",
    "StepError",
    "StepFields",
    "StepResult",
    "StepStatus",
    "new_run_id",
    "step_dict",
]


class StepStatus(enum.StrEnum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    TIMED_OUT = "TimedOut"
    #: Waits for something outside the run (an async control command); the run goes
    #: on from this step later.
    WAITING = "Waiting"


class RunStatus(enum.StrEnum):
    #: Enqueued, not started yet (queued runs).
    QUEUED = "Queued"
    RUNNING = "Running"
    #: Between two polls of an async operation: no invocation holds it.
    WAITING = "Waiting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"
    #: Not run: the overlap policy skipped it (a run of the flow was still running).
    SKIPPED = "Skipped"
    #: Shown (never written) for a run still `Running` past the whole-run deadline.
    ABANDONED = "Abandoned"

    @property
    def final(self) -> bool:
        """True when the run will not change any more."""
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


def new_run_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class StepError:
    code: str
    step: str
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "step": self.step, "message": self.message,
                "hint": self.hint}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepError:
        return cls(code=str(data.get("code", "")), step=str(data.get("step", "")),
                   message=str(data.get("message", "")), hint=str(data.get("hint", "")))


class StepFields(Protocol):
    """What a step's JSON form is made of: a `StepResult`, or the `StepRecord` the run
    store keeps of it."""

    @property
    def path(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def status(self) -> StepStatus: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def summary(self) -> str: ...


def step_dict(step: StepFields, error: dict[str, str] | None) -> dict[str, Any]:
    """The JSON-safe form of *step* with its *error* (already a dict, or None): the
    same keys whether the step comes from a run in hand or from the run store."""
    return {
        "path": step.path,
        "action": step.action,
        "status": str(step.status),
        "started_at": step.started_at.isoformat(),
        "duration_ms": round(step.duration_ms, 3),
        "summary": step.summary,
        "error": error,
    }


@dataclass
class StepResult:
    #: Path of the step: `mail`, or `each_row[2].mail` inside a foreach.
    path: str
    action: str
    status: StepStatus
    started_at: datetime
    duration_ms: float = 0.0
    #: One line for people: "42 rows", "sent to a@x, b@y".
    summary: str = ""
    error: StepError | None = None
    #: The step's outputs, as later steps see them (not persisted whole).
    outputs: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return step_dict(self, self.error.to_dict() if self.error else None)


@dataclass
class RunResult:
    run_id: str
    flow: str
    trigger_kind: str
    started_at: datetime
    status: RunStatus = RunStatus.RUNNING
    ended_at: datetime | None = None
    steps: list[StepResult] = field(default_factory=list)
    trigger_body: Any = None
    #: The run this one resubmits, if any.
    resubmitted_from: str = ""
    #: A run that ended `Waiting` goes on after this many seconds.
    resume_after: float | None = None
    #: What decided a run that no step failed: skipped, poisoned, too late to start.
    run_error: StepError | None = None

    @property
    def duration_ms(self) -> float:
        if self.ended_at is None:
            return 0.0
        return (self.ended_at - self.started_at).total_seconds() * 1000

    @property
    def error(self) -> StepError | None:
        """The error that decided the run's outcome: the first failed step's."""
        if self.run_error is not None:
            return self.run_error
        for step in self.steps:
            if step.error is not None and step.status in (StepStatus.FAILED,
                                                          StepStatus.TIMED_OUT):
                return step.error
        return None

    @property
    def failing_step(self) -> str:
        error = self.error
        return error.step if error else ""

    def outputs(self) -> dict[str, Any]:
        """Top-level steps' outputs by step id (what a chained flow receives)."""
        return {s.path: s.outputs for s in self.steps if "." not in s.path and "[" not in s.path}

    def to_dict(self) -> dict[str, Any]:
        error = self.error
        return {
            "run_id": self.run_id,
            "flow": self.flow,
            "trigger": self.trigger_kind,
            "status": str(self.status),
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_ms": round(self.duration_ms, 3),
            "failing_step": self.failing_step,
            "error": error.to_dict() if error else None,
            "resubmitted_from": self.resubmitted_from,
            "steps": [s.to_dict() for s in self.steps],
        }
