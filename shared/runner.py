"""Runs a flow's steps in order and returns the run result.

- Each step ends `Succeeded`, `Failed`, `Skipped` or `TimedOut`, with its start,
  duration, outputs and a structured error (code, step path, message, hint).
- After a failure the later steps at that level are skipped, unless a step says
  `run_after: [failed]` (or `[succeeded, failed]`), like Power Automate's
  "configure run after". The run still ends `Failed`: history shows what broke.
- A whole-run deadline stops the flow cleanly: the step that passes it ends
  `TimedOut`, the rest `Skipped`, the run `TimedOut`.
- Observers (the run store, the CLI's progress lines) are told of every change;
  an observer that fails is logged and never changes the run's outcome.
- With a journal (queued runs), a step whose action writes (mail, commands) records
  that it started and then its outcome before the run moves on; a run delivered again
  takes recorded outcomes instead of acting again, and a step that started but never
  recorded its outcome fails `SideEffectUncertain` rather than repeat blindly.
- A step may wait for something outside the run (`StepWaiting`): the run stops as
  `Waiting` and is resumed later with the same journal.
- Files a step writes while the run runs (a large result's CSV, `shared.run_files`)
  are removed when the run ends, however it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import ChainMap
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from .errors import KustoFlowsError, RequestTimeout, RunTimedOut, SideEffectUncertain
from .outputs import json_safe
from .results import RunResult, RunStatus, StepError, StepResult, StepStatus, new_run_id
from .run_files import RunFiles
from .state import JournalEntry, StateStoreUnavailable
from .steps import REGISTRY, ActionRegistry, BlockOutcome, StepContext, StepWaiting

if TYPE_CHECKING:
    from . import expressions
    from .model import Flow, StepModel
    from .resources import Resources
else:  # Jinja2 is imported when a run renders its first template, not at start-up
    from .lazy import lazy_module

    expressions = lazy_module("shared.expressions")

__all__ = ["Journal", "RunObserver", "Runner", "Trigger"]

log = logging.getLogger(__name__)

#: How long a failure notice (`on_failure`) may take, past the run's own deadline.
_NOTICE_SECONDS = 120.0


@dataclass
class Trigger:
    kind: str = "manual"
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The time a scheduled run covers, `{start, end}` (previous tick -> this tick);
    #: None for runs that are not windowed.
    window: dict[str, Any] | None = None

    def context(self) -> dict[str, Any]:
        return {"kind": self.kind, "time": self.time, "body": self.body, "query": self.query,
                "window": self.window}


class RunObserver(Protocol):
    def run_started(self, run: RunResult) -> None: ...

    def step_started(self, run: RunResult, path: str, action: str) -> None: ...

    def step_finished(self, run: RunResult, step: StepResult) -> None: ...

    def run_finished(self, run: RunResult) -> None: ...


class Journal(Protocol):
    """The step journal of one run (see `shared.state`)."""

    def recorded(self, path: str) -> JournalEntry | None: ...

    def record(self, path: str, entry: JournalEntry) -> None: ...


@dataclass
class _RunState:
    run: RunResult
    ctx: StepContext
    base_context: dict[str, Any]
    journal: Journal | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    deadline_passed: bool = False
    #: Seconds after which a run that waits goes on (None: not waiting).
    resume_after: float | None = None


class Runner:
    def __init__(self, resources: Resources, observers: Iterable[RunObserver] = (), *,
                 registry: ActionRegistry = REGISTRY) -> None:
        self.resources = resources
        self.settings = resources.settings
        self.observers = list(observers)
        self.registry = registry

    def run(self, flow: Flow, trigger: Trigger | None = None, *, run_id: str | None = None,
            resubmitted_from: str = "", deadline: float | None = None,
            journal: Journal | None = None, started_at: datetime | None = None,
            status: RunStatus = RunStatus.RUNNING) -> RunResult:
        """Run *flow* to its end. The whole-run deadline is RUN_DEADLINE_SECONDS, or the
        flow's `limits.run_timeout` if shorter, or *deadline* (a `time.monotonic()`
        instant, e.g. the end of an HTTP request) if earlier."""
        trigger = trigger or Trigger()
        started = started_at or datetime.now(UTC)
        run = RunResult(run_id=run_id or new_run_id(), flow=flow.name,
                        trigger_kind=trigger.kind, started_at=started, status=status,
                        trigger_body=trigger.body, resubmitted_from=resubmitted_from)
        budget = self.settings.run_deadline_seconds
        if flow.limits.run_timeout:
            budget = min(budget, flow.limits.run_timeout)
        ends = time.monotonic() + budget
        ctx = StepContext(self.resources, flow, run.run_id, started,
                          ends if deadline is None else min(ends, deadline),
                          can_suspend=journal is not None, files=RunFiles(run.run_id))
        context = {
            "trigger": trigger.context(),
            "run": {"id": run.run_id, "flow": flow.name, "started_at": started,
                    "url": self.settings.run_page_url(flow.name, run.run_id)},
            "vars": flow.vars,
        }
        state = _RunState(run, ctx, context, journal)
        self._notify("run_started", run)
        try:
            scope: dict[str, Any] = {}
            self._run_block(flow.steps, state, scope, {}, "")
        finally:
            try:
                run.status = self._final_status(state)
                run.resume_after = state.resume_after
                if flow.on_failure is not None and run.status.final:
                    self._failure_notice(flow, state, scope)
                if run.status != RunStatus.WAITING:
                    run.ended_at = datetime.now(UTC)
                self._notify("run_finished", run)
            finally:
                ctx.files.remove()  # a waiting run reads its results again when resumed
        return run

    def _failure_notice(self, flow: Flow, state: _RunState, scope: dict[str, Any]) -> None:
        """Run `on_failure` if a notice is due (see `shared.notices`), with `run.status`,
        `run.error` and `run.recovered`; the run's own status stays as it was."""
        from .notices import notice_due

        assert flow.on_failure is not None
        failed = state.run.status in (RunStatus.FAILED, RunStatus.TIMED_OUT)
        recovered = notice_due(self.resources.state(), flow.name, failed=failed,
                               grace_seconds=flow.on_failure.grace, now=datetime.now(UTC))
        if recovered is None:
            return
        error = state.run.error
        run_view = {**state.base_context["run"], "status": str(state.run.status),
                    "recovered": recovered, "error": error.to_dict() if error else None}
        # The notice gets time of its own: a run that timed out still says so.
        state.deadline_passed = False
        state.ctx = replace(state.ctx, deadline=time.monotonic() + _NOTICE_SECONDS)
        self._run_block(flow.on_failure.steps, state, scope, {"run": run_view}, "on_failure.")

    @staticmethod
    def _final_status(state: _RunState) -> RunStatus:
        if state.resume_after is not None and not state.deadline_passed:
            return RunStatus.WAITING
        if state.deadline_passed:
            return RunStatus.TIMED_OUT
        if any(s.status in (StepStatus.FAILED, StepStatus.TIMED_OUT) for s in state.run.steps):
            return RunStatus.FAILED
        return RunStatus.SUCCEEDED

    # ------------------------------------------------------------------ blocks

    def _run_block(self, steps: Sequence[StepModel], state: _RunState,
                   scope_steps: MutableMapping[str, Any], extra: Mapping[str, Any],
                   prefix: str) -> bool:
        """Run steps in order; True when one of them failed or timed out."""
        outcome = "succeeded"
        for step in steps:
            if state.resume_after is not None:  # waiting: the rest runs when resumed
                break
            path = f"{prefix}{step.id}"
            if state.deadline_passed:
                self._record_skip(state, step, path, "skipped: the run passed its deadline")
                continue
            if not _gate_open(outcome, step.run_after):
                scope_steps[step.id] = {"status": str(StepStatus.SKIPPED), "error": None}
                self._record_skip(state, step, path,
                                  f"skipped: runs after {'/'.join(step.run_after)}, and the "
                                  f"steps before it {outcome}")
                continue
            result = self._run_step(step, state, scope_steps, extra, path)
            if result.status == StepStatus.TIMED_OUT:
                outcome = "timedout"
            elif result.status == StepStatus.FAILED and outcome == "succeeded":
                outcome = "failed"
        return outcome != "succeeded"

    def _record_skip(self, state: _RunState, step: StepModel, path: str, summary: str) -> None:
        result = StepResult(path, step.action, StepStatus.SKIPPED, datetime.now(UTC),
                            summary=summary)
        with state.lock:
            state.run.steps.append(result)
        self._notify("step_finished", state.run, result)

    # ------------------------------------------------------------------- steps

    def _run_step(self, step: StepModel, state: _RunState,
                  scope_steps: MutableMapping[str, Any], extra: Mapping[str, Any],
                  path: str) -> StepResult:
        self._notify("step_started", state.run, path, step.action)
        result = StepResult(path, step.action, StepStatus.SUCCEEDED, datetime.now(UTC))
        started = time.perf_counter()
        # Nested steps are recorded as they end; keep this step's place before them.
        with state.lock:
            state.run.steps.append(result)
        scope = _StepScope(self, state, scope_steps, extra)
        action = self.registry.for_step(step)
        journal = state.journal if action.writes else None
        try:
            recorded = _recorded(journal, path)
            if recorded is not None and recorded.status != StepStatus.WAITING:
                _take_recorded(result, recorded, path)
                scope_steps[step.id] = _step_view(result)
                self._notify("step_finished", state.run, result)
                return result
            resume = recorded.outputs if recorded is not None else None
            ctx = state.ctx.for_step(path, scope, resume)
            ctx.remaining()
            inputs = _render_inputs(step, scope.template_context())
            if journal is not None and resume is None:
                _write_journal(journal, path, JournalEntry("Running"))
            outcome = action.run(step, inputs, ctx)
            result.outputs, result.summary = outcome.outputs, outcome.summary
            if outcome.nested_failed:
                result.status = StepStatus.FAILED
                result.error = StepError("NestedStepFailed", path,
                                         "a step inside this one failed",
                                         "see the failed step below it")
        except StepWaiting as wait:
            result.status, result.outputs, result.summary = (StepStatus.WAITING, wait.state,
                                                              wait.message)
            with state.lock:
                state.resume_after = min(wait.after_seconds,
                                         state.resume_after or wait.after_seconds)
        except KustoFlowsError as exc:
            timed_out = isinstance(exc, RequestTimeout | RunTimedOut)
            if isinstance(exc, RunTimedOut):
                state.deadline_passed = True
            result.status = StepStatus.TIMED_OUT if timed_out else StepStatus.FAILED
            result.error = StepError(exc.code, path, exc.message, exc.hint)
            result.summary = exc.message
        except Exception as exc:  # a bug or an unexpected library error: still recorded
            log.exception("step %s failed unexpectedly", path)
            result.status = StepStatus.FAILED
            result.error = StepError("InternalError", path, f"{type(exc).__name__}: {exc}",
                                     "this looks like a bug in Kusto Flows; please report it")
            result.summary = result.error.message
        result.duration_ms = (time.perf_counter() - started) * 1000
        if journal is not None:
            _write_journal(journal, path, _journal_entry(result))
        scope_steps[step.id] = _step_view(result)
        self._notify("step_finished", state.run, result)
        return result

    # --------------------------------------------------------------- observers

    def _notify(self, event: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(*args)
            except Exception:  # recording must never change the run's outcome
                log.exception("run observer %s failed on %s", type(observer).__name__, event)


@dataclass
class _StepScope:
    """What a step's action may ask of the runner: the template context it sees, and
    running a nested block in its scope (control actions: condition, foreach)."""

    runner: Runner
    state: _RunState
    scope_steps: MutableMapping[str, Any]
    extra: Mapping[str, Any]

    def template_context(self) -> dict[str, Any]:
        return {**self.state.base_context, **self.extra, "steps": self.scope_steps}

    def evaluate(self, expression: str, *, field: str) -> Any:
        return expressions.evaluate(expression, self.template_context(), field=field)

    def run_block(self, steps: Sequence[StepModel], prefix: str, *,
                  extra: Mapping[str, Any] | None = None,
                  own_scope: bool = False) -> BlockOutcome:
        local: dict[str, Any] = {}
        scope = ChainMap(local, self.scope_steps) if own_scope else self.scope_steps
        failed = self.runner._run_block(steps, self.state, scope,
                                        {**self.extra, **(extra or {})}, prefix)
        return BlockOutcome(failed, local)


def _step_view(result: StepResult) -> dict[str, Any]:
    """What later steps see as `steps.<id>`: its outputs, its `status` and its `error`
    (code, message, hint), like Power Automate's result()."""
    error = result.error.to_dict() if result.error else None
    return {**result.outputs, "status": str(result.status), "error": error}


def _recorded(journal: Journal | None, path: str) -> JournalEntry | None:
    """What an earlier delivery of this run recorded for step *path*; a step that
    started then but never recorded its outcome may have acted: SideEffectUncertain."""
    entry = journal.recorded(path) if journal is not None else None
    if entry is not None and entry.status == "Running":
        raise SideEffectUncertain(
            "this step started in an earlier attempt of the run that ended before it "
            "recorded its outcome, so it may already have acted (sent its mail, run its "
            "command)", hint="check whether it did; if not, resubmit the run")
    return entry


def _take_recorded(result: StepResult, entry: JournalEntry, path: str) -> None:
    """The outcome an earlier delivery recorded, instead of acting again."""
    result.status = StepStatus(entry.status)
    result.outputs = dict(entry.outputs) if isinstance(entry.outputs, dict) else {}
    result.summary = f"{entry.summary} (recorded by an earlier attempt; not repeated)"
    if entry.error:
        result.error = StepError(entry.error.get("code", ""), path,
                                 entry.error.get("message", ""), entry.error.get("hint", ""))


def _journal_entry(result: StepResult) -> JournalEntry:
    error = result.error.to_dict() if result.error else None
    return JournalEntry(str(result.status), result.summary, json_safe(result.outputs), error)


def _write_journal(journal: Journal, path: str, entry: JournalEntry) -> None:
    """Record *entry*; a state store that is down is logged and the run goes on: the
    step then acts at most once more if its run is delivered again."""
    try:
        journal.record(path, entry)
    except StateStoreUnavailable as exc:
        log.warning("step %s: the step journal could not be written (%s); a repeated "
                    "delivery of this run could repeat the step", path, exc)


def _gate_open(outcome: str, run_after: Sequence[str]) -> bool:
    if outcome == "succeeded":
        return "succeeded" in run_after
    if outcome == "timedout":
        return "timedout" in run_after or "failed" in run_after
    return "failed" in run_after


def _render_inputs(step: StepModel, context: dict[str, Any]) -> dict[str, Any]:
    """The step's templated fields, rendered; static, expression and nested fields are
    left to the action (see `StepModel.field_role`)."""
    inputs: dict[str, Any] = {}
    for name, value in step:
        role = type(step).field_role(name)
        if role in ("templated", "html"):
            inputs[name] = expressions.render_value(value, context, field=name,
                                                    html=role == "html")
    return inputs
