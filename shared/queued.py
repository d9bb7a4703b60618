"""Queued runs, from the queue's side: enqueueing a run, executing one message of the
`flow-runs` queue, and recording a message the host gave up on (poison).

A message names a run whose record (status `Queued`, with the trigger body) was
written before the message was sent. Executing it:

1. a message for a run that already ended is a duplicate delivery: nothing to do;
2. a message past its deadline ends the run `TimedOut`;
3. the overlap policy (`trigger.overlap`): a lease per flow, held until the run's
   deadline; a busy flow skips the run (`Skipped`) or queues it again a little later;
4. the run executes with its step journal (`shared.state`), so a message delivered a
   second time takes the outcome of steps that wrote instead of acting again;
5. a run that waits (an async command) is queued again with a visibility delay: the
   wait costs no worker between polls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .errors import RunNotFound, StepInputError
from .queue import RunMessage, RunQueue
from .results import RunResult, RunStatus, StepError
from .runner import Trigger
from .state import JournalEntry, StateStore
from .windows import Window

if TYPE_CHECKING:
    from .loader import LoadedFlow
    from .runs import RunRecord
    from .service import FlowService

__all__ = ["BUSY_RETRY_SECONDS", "RunJournal", "enqueue", "execute", "record_poisoned"]

log = logging.getLogger(__name__)

#: How soon a run queued behind a busy flow (`overlap: queue`) looks again.
BUSY_RETRY_SECONDS = 15.0


@dataclass
class RunJournal:
    """The step journal of one run, read once when the run (re)starts."""

    store: StateStore
    run_id: str
    entries: dict[str, JournalEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, store: StateStore, run_id: str) -> RunJournal:
        return cls(store, run_id, store.journal(run_id))

    def recorded(self, path: str) -> JournalEntry | None:
        return self.entries.get(path)

    def record(self, path: str, entry: JournalEntry) -> None:
        self.store.record(self.run_id, path, entry)
        self.entries[path] = entry


def _budget(service: FlowService, loaded: LoadedFlow) -> float:
    seconds = service.settings.run_deadline_seconds
    limit = loaded.flow.limits.run_timeout
    return min(seconds, limit) if limit else seconds


def enqueue(service: FlowService, queue: RunQueue, loaded: LoadedFlow, trigger: Trigger,
            resubmitted_from: str = "", next_windows: Sequence[Window] = ()) -> RunResult:
    """Record the run `Queued` (with its trigger body) and send its message."""
    from .runs.records import encode_trigger_body

    if encode_trigger_body(trigger.body)[1]:
        raise StepInputError("the trigger body is too large to queue (its run record keeps "
                             "the body, up to about 384,000 characters of JSON)",
                             hint="send a smaller body, e.g. a reference to the data")
    now = datetime.now(UTC)
    run = RunResult(run_id=_new_id(), flow=loaded.name, trigger_kind=trigger.kind,
                    started_at=now, status=RunStatus.QUEUED, trigger_body=trigger.body,
                    resubmitted_from=resubmitted_from)
    if service.store is not None:
        service.store.start_run(run)
    window = trigger.window
    message = RunMessage(loaded.name, run.run_id, trigger.kind, trigger.time,
                         now + timedelta(seconds=_budget(service, loaded)), trigger.query,
                         resubmitted_from,
                         window=(window["start"], window["end"]) if window else None,
                         timezone=loaded.flow.trigger.timezone,
                         next_windows=tuple((w.start, w.end) for w in next_windows))
    queue.send(message)
    log.info("flow %s run %s queued (%s)", loaded.name, run.run_id, trigger.kind)
    return run


def _new_id() -> str:
    from .results import new_run_id

    return new_run_id()


def execute(service: FlowService, queue: RunQueue, state: StateStore,
            message: RunMessage) -> RunResult | None:
    """Run what *message* names; None when there was nothing to run."""
    loaded = service.flow(message.flow)
    found = service.store.get_run(message.flow, message.run_id) if service.store else None
    if found is None:
        # Its record is written before the message is sent: not readable yet. Raising
        # lets the host deliver the message again after its visibility time-out.
        raise RunNotFound(f"run {message.run_id} of flow '{message.flow}' has no record yet")
    record = found[0]
    if record.status.final:
        log.info("run %s of %s already ended %s: duplicate delivery ignored",
                 message.run_id, message.flow, record.status)
        return None
    shell = RunResult(message.run_id, message.flow, message.trigger_kind, record.started_at,
                      trigger_body=record.trigger_body,
                      resubmitted_from=message.resubmitted_from)
    now = datetime.now(UTC)
    if loaded is None:
        return _end(service, shell, RunStatus.FAILED, "FlowNotFound",
                    f"flow '{message.flow}' is not a valid flow of the app any more",
                    "fix the flow file and resubmit the run")
    if now >= message.deadline:
        return _end(service, shell, RunStatus.TIMED_OUT, "RunTimedOut",
                    "the run could not start before its deadline (it waited in the queue)",
                    "see whether a run of this flow kept it busy, or raise "
                    "limits.run_timeout")
    seconds = min(_budget(service, loaded), (message.deadline - now).total_seconds())
    policy = loaded.flow.trigger.overlap or (
        "skip" if message.trigger_kind == "schedule" else "queue")
    if policy != "allow" and not state.try_lease(message.flow, message.run_id,
                                                 now + timedelta(seconds=seconds)):
        holder = state.lease_holder(message.flow, now) or "another run"
        if policy == "skip":
            return _end(service, shell, RunStatus.SKIPPED, "OverlapSkipped",
                        f"previous run still running ({holder})",
                        "set trigger.overlap: queue to run it after the previous run")
        queue.send(replace(message, reason="busy"), delay_seconds=BUSY_RETRY_SECONDS)
        return None
    return _run(service, queue, state, loaded, message, record, seconds)


def _run(service: FlowService, queue: RunQueue, state: StateStore, loaded: LoadedFlow,
         message: RunMessage, record: RunRecord, seconds: float) -> RunResult:
    trigger = Trigger(message.trigger_kind, record.trigger_body, message.trigger_query,
                      message.trigger_time, window=Window(*message.window).context(
                          message.timezone) if message.window else None)
    # A run resumed after a wait reads `Waiting` until it ends: its start time is the
    # trigger's, so `Running` would soon read as Abandoned.
    run = service.runner().run(
        loaded.flow, trigger, run_id=message.run_id, started_at=record.started_at,
        status=RunStatus.WAITING if message.reason == "resume" else RunStatus.RUNNING,
        resubmitted_from=message.resubmitted_from, deadline=time.monotonic() + seconds,
        journal=RunJournal.load(state, message.run_id))
    if run.status == RunStatus.WAITING:
        delay = run.resume_after or 5.0
        resume_at = datetime.now(UTC) + timedelta(seconds=delay)
        budget = _budget(service, loaded)
        state.try_lease(message.flow, message.run_id, resume_at + timedelta(seconds=budget))
        queue.send(replace(message, reason="resume",
                           deadline=resume_at + timedelta(seconds=budget)),
                   delay_seconds=delay)
        return run
    state.release_lease(message.flow, message.run_id)
    state.forget_run(message.run_id)
    service.chain_after(run)
    if message.next_windows:  # catch-up: the next window, as a run of its own
        following = [Window(*w) for w in message.next_windows]
        enqueue(service, queue, loaded, replace(trigger, body=None,
                                                window=following[0].context(message.timezone)),
                next_windows=following[1:])
    return run


def _end(service: FlowService, run: RunResult, status: RunStatus, code: str, message: str,
         hint: str) -> RunResult:
    """Record *run* as ended without running it (its reason as the run's error)."""
    run.status, run.ended_at = status, datetime.now(UTC)
    run.run_error = StepError(code, "", message, hint)
    if service.store is not None:
        service.store.finish_run(run)
    log.warning("flow %s run %s %s: %s", run.flow, run.run_id, status, message)
    return run


def record_poisoned(service: FlowService, state: StateStore, message: RunMessage,
                    attempts: int) -> RunResult | None:
    """The host gave up on *message* after *attempts* deliveries: its run ends
    `Failed` with `RunPoisoned`, visible in history (unless it had ended)."""
    found = service.store.get_run(message.flow, message.run_id) if service.store else None
    if found is not None and found[0].status.final:
        return None
    started = found[0].started_at if found else message.trigger_time
    body = found[0].trigger_body if found else None
    run = RunResult(message.run_id, message.flow, message.trigger_kind, started,
                    trigger_body=body, resubmitted_from=message.resubmitted_from)
    state.release_lease(message.flow, message.run_id)
    return _end(service, run, RunStatus.FAILED, "RunPoisoned",
                f"the run's queue message failed {attempts} times (each attempt crashed or "
                "timed out) and was moved to the poison queue",
                "see the function's logs for the attempts, fix the cause, then resubmit")
