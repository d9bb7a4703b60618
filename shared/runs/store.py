"""The run store's interface: what a run history holds and how it is read.

Every run is written three ways while it happens: `start_run` (status Running),
`record_step` for each step as it ends, and `finish_run` with the final status.
Readers (the API's run history, `last_run` for the CLI, resubmit) only see the
records below, never the stores' rows. The writes also keep a latest-run index (one
entry per flow), so `last_runs` answers "the last run of every flow" (the flow
list) in one query however many flows there are, and the history of every flow
is merged from it and a few flows' pages (`merged.py`).

A record still `Running` whose start is older than the whole-run deadline is read
back as `Abandoned` (the host killed the run, or the process died): that status is
computed on read and never written.

No I/O here; implementations live in `table_store.py` and `local_store.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from shared.errors import KustoFlowsError
from shared.results import RunResult, RunStatus, StepResult, StepStatus, step_dict

__all__ = [
    "RunPage",
    "RunRecord",
    "RunStore",
    "RunStoreUnavailable",
    "StepRecord",
    "TriggerBodyUnavailable",
]


class RunStoreUnavailable(KustoFlowsError, http_status=503, title="Run store unavailable"):
    """The run store could not be read (it is down or unreachable)."""


class TriggerBodyUnavailable(KustoFlowsError, http_status=409, title="Cannot resubmit"):
    """A run's trigger body was too large to keep, so the run cannot be resubmitted."""


def _error_dict(code: str, message: str, hint: str) -> dict[str, str] | None:
    """A stored error in the API's JSON form; None when the record has none."""
    return {"code": code, "message": message, "hint": hint} if code or message else None


@dataclass(frozen=True)
class RunRecord:
    """One run as the history shows it (one row in the Power Automate run list)."""

    run_id: str
    flow: str
    status: RunStatus
    trigger: str
    started_at: datetime
    ended_at: datetime | None = None
    duration_ms: float = 0.0
    failing_step: str = ""
    error_code: str = ""
    error_message: str = ""
    error_hint: str = ""
    #: The body the run was triggered with (JSON-able), needed to resubmit it.
    #: Only `get_run` fills it: lists leave it None to stay small and fast.
    trigger_body: Any = None
    resubmitted_from: str = ""
    step_count: int = 0
    #: True when the trigger body was too large to keep (see `records.py`): the
    #: run cannot be resubmitted, and `resubmit_body()` says so.
    trigger_body_truncated: bool = False

    def resubmit_body(self) -> Any:
        """The trigger body to resubmit this run with, or a clear refusal."""
        if self.trigger_body_truncated:
            raise TriggerBodyUnavailable(
                f"run {self.run_id} of flow {self.flow!r} cannot be resubmitted: its "
                "trigger body was too large to keep in the run history")
        return self.trigger_body

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for the API (without the trigger body)."""
        return {
            "run_id": self.run_id,
            "flow": self.flow,
            "status": str(self.status),
            "trigger": self.trigger,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_ms": round(self.duration_ms, 3),
            "failing_step": self.failing_step,
            "error": _error_dict(self.error_code, self.error_message, self.error_hint),
            "resubmitted_from": self.resubmitted_from,
            "step_count": self.step_count,
            "trigger_body_truncated": self.trigger_body_truncated,
        }


@dataclass(frozen=True)
class StepRecord:
    """One step of a run, as recorded when it ended."""

    path: str
    action: str
    status: StepStatus
    started_at: datetime
    duration_ms: float = 0.0
    summary: str = ""
    error_code: str = ""
    error_message: str = ""
    error_hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return step_dict(self, _error_dict(self.error_code, self.error_message,
                                           self.error_hint))


@dataclass(frozen=True)
class RunPage:
    """One page of a flow's runs, newest first. Pass `continuation` back for the next
    page; it is None on the last page (a page may rarely be empty when the service
    could not tell that the previous page was the last)."""

    items: list[RunRecord]
    continuation: str | None = None


@runtime_checkable
class RunStore(Protocol):
    """Where runs are recorded. Writes are idempotent (a replayed write changes
    nothing), so a caller may retry or replay them."""

    def start_run(self, run: RunResult) -> None:
        """Record *run* as Running."""

    def record_step(self, run: RunResult, step: StepResult) -> None:
        """Record *step* of *run* when it ends. Its place in execution order is its
        position in `run.steps` (the end of the list if it is not there yet)."""

    def finish_run(self, run: RunResult) -> None:
        """Record *run*'s final status (it may also be the first write of the run)."""

    def list_runs(self, flow: str, *, top: int = 50, status: str | None = None,
                  continuation: str | None = None,
                  not_after: datetime | None = None) -> RunPage:
        """A page of *flow*'s runs, newest first; *status* is a RunStatus name or value,
        any case ("failed", "timed_out", "TimedOut", "abandoned"). *not_after*: only
        runs started then or earlier (to go on from a moment rather than a token: the
        history of every flow merged, `merged.py`); a token from a call with it is
        used with the same *not_after*."""
        ...

    def find_run_ids(self, prefix: str) -> list[tuple[str, str]]:
        """(flow, run id) of every run whose id starts with *prefix* (a whole id is a
        prefix too), by run id then flow: one range query of the run id index,
        however many flows and runs the store holds."""
        ...

    def get_run(self, flow: str, run_id: str) -> tuple[RunRecord, list[StepRecord]] | None:
        """One run and its steps in execution order, or None."""
        ...

    def last_run(self, flow: str) -> RunRecord | None:
        """The newest run of *flow*, or None."""
        ...

    def last_runs(self, flows: Sequence[str] | None = None) -> dict[str, RunRecord]:
        """The newest run of each of *flows* by flow name (of every flow that has runs
        when None), read from the latest-run index in one query; flows without runs
        are left out. Each record is what `last_run` answers for its flow."""
        ...

    def delete_older_than(self, cutoff: datetime, *, page_size: int = 100) -> int:
        """Delete runs started before *cutoff* and their steps; returns runs deleted."""
        ...

    def close(self) -> None:
        """Release connections and files; the store is not used after."""
