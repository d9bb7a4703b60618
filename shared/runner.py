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
"""

from __future__ import annotations

import logging
import threading
import time
from collections import ChainMap
from collections.abc import Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from . import expressions
from .errors import FlowError, RequestTimeout, RunTimedOut, StepInputError
from .model import Connection, Flow
from .results import RunResult, RunStatus, StepError, StepResult, StepStatus, new_run_id
from .settings import Settings
from .steps import EXECUTORS, StepContext

__all__ = ["RunObserver", "Runner", "Trigger"]

log = logging.getLogger(__name__)

#: Step fields that are never templated: KQL text is static by design (values go
#: as query parameters), and the rest are structure, not content.
_STATIC_FIELDS = frozenset({
    "id", "action", "description", "run_after", "connection", "database", "query", "command",
    "chart", "x", "y", "series", "max_table_rows", "if_", "items", "then", "else_", "steps",
    "concurrency",
})
#: Fields rendered as HTML: template values are escaped, step HTML is not.
_HTML_FIELDS = frozenset({"body"})


@dataclass
class Trigger:
    kind: str = "manual"
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    def context(self) -> dict[str, Any]:
        return {"kind": self.kind, "time": self.time, "body": self.body, "query": self.query}


class RunObserver(Protocol):
    def run_started(self, run: RunResult) -> None: ...

    def step_started(self, run: RunResult, path: str, action: str) -> None: ...

    def step_finished(self, run: RunResult, step: StepResult) -> None: ...

    def run_finished(self, run: RunResult) -> None: ...


@dataclass
class _RunState:
    run: RunResult
    ctx: StepContext
    base_context: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock)
    deadline_passed: bool = False


class Runner:
    def __init__(self, settings: Settings, connections: dict[str, Connection],
                 observers: Iterable[RunObserver] = ()) -> None:
        self.settings = settings
        self.connections = connections
        self.observers = list(observers)

    def run(self, flow: Flow, trigger: Trigger | None = None, *, run_id: str | None = None,
            resubmitted_from: str = "") -> RunResult:
        trigger = trigger or Trigger()
        started = datetime.now(UTC)
        run = RunResult(run_id=run_id or new_run_id(), flow=flow.name,
                        trigger_kind=trigger.kind, started_at=started,
                        trigger_body=trigger.body, resubmitted_from=resubmitted_from)
        budget = self.settings.run_deadline_seconds
        if flow.limits.run_timeout:
            budget = min(budget, flow.limits.run_timeout)
        ctx = StepContext(self.settings, flow, self.connections, run.run_id, started,
                          time.monotonic() + budget)
        context = {
            "trigger": trigger.context(),
            "run": {"id": run.run_id, "flow": flow.name, "started_at": started},
            "vars": flow.vars,
        }
        state = _RunState(run, ctx, context)
        self._notify("run_started", run)
        try:
            self._run_block(flow.steps, state, {}, {}, "")
        finally:
            run.ended_at = datetime.now(UTC)
            run.status = self._final_status(state)
            self._notify("run_finished", run)
        return run

    @staticmethod
    def _final_status(state: _RunState) -> RunStatus:
        if state.deadline_passed:
            return RunStatus.TIMED_OUT
        if any(s.status in (StepStatus.FAILED, StepStatus.TIMED_OUT) for s in state.run.steps):
            return RunStatus.FAILED
        return RunStatus.SUCCEEDED

    # ------------------------------------------------------------------ blocks

    def _run_block(self, steps: list[Any], state: _RunState,
                   scope_steps: MutableMapping[str, Any], extra: dict[str, Any],
                   prefix: str) -> bool:
        """Run steps in order; True when one of them failed or timed out."""
        outcome = "succeeded"
        for step in steps:
            path = f"{prefix}{step.id}"
            if state.deadline_passed:
                self._record_skip(state, step, path, "skipped: the run passed its deadline")
                continue
            if not _gate_open(outcome, step.run_after):
                scope_steps[step.id] = {}
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

    def _record_skip(self, state: _RunState, step: Any, path: str, summary: str) -> None:
        result = StepResult(path, step.action, StepStatus.SKIPPED, datetime.now(UTC),
                            summary=summary)
        self._append(state, result)

    def _append(self, state: _RunState, result: StepResult) -> None:
        with state.lock:
            state.run.steps.append(result)
        self._notify("step_finished", state.run, result)

    # ------------------------------------------------------------------- steps

    def _run_step(self, step: Any, state: _RunState, scope_steps: MutableMapping[str, Any],
                  extra: dict[str, Any], path: str) -> StepResult:
        self._notify("step_started", state.run, path, step.action)
        result = StepResult(path, step.action, StepStatus.SUCCEEDED, datetime.now(UTC))
        started = time.perf_counter()
        # Nested steps are recorded as they end; keep this step's place before them.
        with state.lock:
            state.run.steps.append(result)
        context = {**state.base_context, **extra, "steps": scope_steps}
        try:
            ctx = state.ctx.for_step(path)
            ctx.remaining()
            if step.action == "condition":
                failed, result.outputs, result.summary = self._condition(
                    step, state, scope_steps, extra, context, path)
            elif step.action == "foreach":
                failed, result.outputs, result.summary = self._foreach(
                    step, state, scope_steps, extra, context, path)
            else:
                inputs = _render_inputs(step, context)
                outcome = EXECUTORS[step.action](step, inputs, ctx)
                failed, result.outputs, result.summary = False, outcome.outputs, outcome.summary
            if failed:
                result.status = StepStatus.FAILED
                result.error = StepError("NestedStepFailed", path,
                                         "a step inside this one failed",
                                         "see the failed step below it")
        except FlowError as exc:
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
        scope_steps[step.id] = result.outputs
        self._notify("step_finished", state.run, result)
        return result

    def _condition(self, step: Any, state: _RunState, scope_steps: MutableMapping[str, Any],
                   extra: dict[str, Any], context: dict[str, Any],
                   path: str) -> tuple[bool, dict[str, Any], str]:
        value = bool(expressions.evaluate(step.if_, context, field="if"))
        branch = step.then if value else step.else_
        name = "then" if value else "else"
        failed = self._run_block(branch, state, scope_steps, extra, f"{path}.{name}.")
        return failed, {"result": value, "branch": name}, f"{step.if_} → {str(value).lower()}"

    def _foreach(self, step: Any, state: _RunState, scope_steps: MutableMapping[str, Any],
                 extra: dict[str, Any], context: dict[str, Any],
                 path: str) -> tuple[bool, dict[str, Any], str]:
        items = expressions.evaluate(step.items, context, field="items")
        if isinstance(items, dict) or not isinstance(items, list | tuple):
            raise StepInputError(f"field 'items' must give a list, got {type(items).__name__}",
                                 hint="e.g. items: steps.query.rows")
        total = len(items)

        def iteration(index: int) -> tuple[bool, dict[str, Any]]:
            local: dict[str, Any] = {}
            loop = {"index": index + 1, "index0": index, "first": index == 0,
                    "last": index == total - 1, "length": total}
            failed = self._run_block(step.steps, state, ChainMap(local, scope_steps),
                                     {**extra, "item": items[index], "loop": loop},
                                     f"{path}[{index}].")
            return failed, local

        if step.concurrency > 1 and total > 1:
            with ThreadPoolExecutor(max_workers=min(step.concurrency, total)) as pool:
                results = list(pool.map(iteration, range(total)))
        else:
            results = [iteration(i) for i in range(total)]
        failures = sum(1 for failed, _ in results if failed)
        outputs = {"count": total, "failed": failures,
                   "iterations": [local for _, local in results]}
        summary = f"{total} items" + (f", {failures} failed" if failures else "")
        return failures > 0, outputs, summary

    # --------------------------------------------------------------- observers

    def _notify(self, event: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(*args)
            except Exception:  # recording must never change the run's outcome
                log.exception("run observer %s failed on %s", type(observer).__name__, event)


def _gate_open(outcome: str, run_after: list[str]) -> bool:
    if outcome == "succeeded":
        return "succeeded" in run_after
    if outcome == "timedout":
        return "timedout" in run_after or "failed" in run_after
    return "failed" in run_after


def _render_inputs(step: Any, context: dict[str, Any]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for name, value in step:
        if name in _STATIC_FIELDS:
            continue
        inputs[name] = expressions.render_value(value, context, field=name,
                                                html=name in _HTML_FIELDS)
    return inputs
