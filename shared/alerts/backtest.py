"""Backtest: replay a flow's schedule over past windows before enabling it, and see
when its alerts would have fired, repeated and resolved.

Each tick of the flow's schedule between two dates is one run, whose window is the
previous tick -> this tick (`trigger.window.start` / `.end`, as a scheduled run gets
it), run in order in this process by a runner built from the service, with:

- every step whose action writes (mail, commands, uploads, HTTP) not run: it ends
  `Succeeded` with the summary "skipped in backtest" and no outputs, and is counted as
  a notification that would have been sent;
- alert states and everything else the state store keeps held in memory for the
  backtest only: the real state store is neither read nor written;
- no run records.

    result = backtest(service, "storm-damage-alert", start, end)
    result.to_json()["timeline"]
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import FlowNotFound, KustoFlowsError
from ..resources import Resources
from ..runner import Trigger
from ..schedule import effective_schedule, parse_schedule
from ..state import StateStore
from ..state.memory import MemoryStateStore
from ..steps import ActionRegistry, StepContext, StepOutcome
from ..steps.alert import ACTION as ALERT
from .machine import plain

if TYPE_CHECKING:
    from ..kusto.backend import KustoBackend
    from ..model import Connection
    from ..results import RunResult
    from ..service import FlowService

__all__ = ["MAX_WINDOWS", "BacktestInvalid", "BacktestResult", "backtest", "backtest_registry"]

#: The most windows one backtest replays (a year of hourly ticks is 8,760).
MAX_WINDOWS = 10_000
SKIPPED = "skipped in backtest"


class BacktestInvalid(KustoFlowsError, http_status=400, title="Cannot backtest"):
    """A backtest that cannot run: no schedule, an empty or reversed range, too many
    windows."""


def _skip(step: Any, inputs: Mapping[str, Any], ctx: StepContext) -> StepOutcome:
    return StepOutcome({}, SKIPPED)


def backtest_registry(registry: ActionRegistry) -> ActionRegistry:
    """*registry* with every writing action replaced by a no-op, except `alert`, whose
    state goes to the backtest's in-memory store."""
    return ActionRegistry([replace(a, run=_skip) if a.writes and a.name != ALERT.name else a
                           for a in registry.actions])


class _BacktestResources(Resources):
    """The service's connections, settings and Kusto clients, with a state store of the
    backtest's own and no run store."""

    def __init__(self, source: Resources) -> None:
        super().__init__(source.settings, source.connections)
        self._source = source
        self._memory = MemoryStateStore()

    def kusto(self, connection: Connection) -> KustoBackend:
        return self._source.kusto(connection)

    def state(self) -> StateStore:
        return self._memory


@dataclass
class Window:
    start: datetime
    end: datetime
    run: RunResult


@dataclass
class BacktestResult:
    flow: str
    schedule: str
    start: datetime
    end: datetime
    windows: list[Window] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def events(self) -> list[dict[str, Any]]:
        """Every alert change of every window, in order: when, which step and key, what."""
        found = []
        for window in self.windows:
            for step in window.run.steps:
                if step.action != ALERT.name or not isinstance(step.outputs, dict):
                    continue
                for change in step.outputs.get("changes", []):
                    found.append({"at": window.end, "step": step.path, "key": change["key"],
                                  "label": change["label"], "change": change["change"],
                                  "since": change["since"], "evaluations": change["evaluations"],
                                  "row": change["row"]})
        return found

    def skipped(self) -> Counter[str]:
        """How many steps that write were not run, by action."""
        return Counter(step.action for window in self.windows for step in window.run.steps
                       if step.summary == SKIPPED)

    def failures(self) -> list[dict[str, Any]]:
        failed = []
        for window in self.windows:
            error = window.run.error
            if error is not None:
                failed.append({"start": window.start, "end": window.end,
                               "status": str(window.run.status), **error.to_dict()})
        return failed

    def timeline(self) -> list[dict[str, Any]]:
        """Per alert step and key (in order of first change): its changes in order."""
        keyed: dict[tuple[str, str], dict[str, Any]] = {}
        for event in self.events():
            entry = keyed.setdefault((event["step"], event["label"]), {
                "step": event["step"], "key": event["key"], "label": event["label"],
                "changes": []})
            entry["changes"].append({name: event[name] for name in
                                     ("at", "change", "since", "evaluations", "row")})
        return list(keyed.values())

    def totals(self) -> dict[str, Any]:
        kinds = Counter(event["change"] for event in self.events())
        skipped = self.skipped()
        return {"windows": len(self.windows), "failed_windows": len(self.failures()),
                "fired": kinds["fired"], "repeated": kinds["repeated"],
                "resolved": kinds["resolved"],
                "notifications": sum(skipped.values()), "skipped_steps": dict(skipped)}

    def to_json(self) -> dict[str, Any]:
        data = {"flow": self.flow, "schedule": self.schedule, "from": self.start,
                "to": self.end, "totals": self.totals(), "timeline": self.timeline(),
                "failures": self.failures(), "elapsed_seconds": round(self.elapsed_seconds, 3)}
        result: dict[str, Any] = plain(data)
        return result


def backtest(service: FlowService, name: str, start: datetime, end: datetime) -> BacktestResult:
    """Replay flow *name* over the windows of its schedule's ticks from *start* to *end*
    (aware datetimes; a tick at either end counts). FlowNotFound / FlowFileInvalid for
    a flow that cannot run, BacktestInvalid for a range or schedule that cannot."""
    from ..loader import FlowFileInvalid
    from ..service import FlowService
    from ..windows import Window as TickWindow

    loaded = service.flow(name)
    if loaded is None:
        problems = service.problems_for(name)
        if problems:
            raise FlowFileInvalid(problems)
        raise FlowNotFound(f"no flow named '{name}'")
    flow = loaded.flow
    expression, _ = effective_schedule(flow, service.settings)
    if not expression:
        raise BacktestInvalid(f"flow '{name}' has no schedule to replay",
                              hint="add trigger.schedule to the flow")
    if end <= start:
        raise BacktestInvalid("--to must be after --from")
    schedule = parse_schedule(expression, flow.trigger.timezone)
    ticks = schedule.runs_between(start - timedelta(seconds=1), end)
    if len(ticks) < 2:
        raise BacktestInvalid(f"the schedule ({schedule.describe()}) ticks fewer than twice "
                              "between --from and --to: no whole window to replay",
                              hint="give a longer range")
    if len(ticks) - 1 > MAX_WINDOWS:
        raise BacktestInvalid(f"{len(ticks) - 1:,} windows is more than {MAX_WINDOWS:,}",
                              hint="backtest a shorter range")
    replay = FlowService(service.catalog, _BacktestResources(service.resources),
                         backtest_registry(service.registry))
    result = BacktestResult(name, schedule.describe(), start, end)
    began = time.perf_counter()
    try:
        runner = replay.runner()
        for before, tick in zip(ticks, ticks[1:], strict=False):
            window = TickWindow(before, tick).context(flow.trigger.timezone)
            trigger = Trigger(kind="schedule", time=tick, window=window)
            result.windows.append(Window(before, tick, runner.run(flow, trigger)))
    finally:
        replay.close()
    result.elapsed_seconds = time.perf_counter() - began
    return result
