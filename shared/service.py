"""The one service every front end uses (CLI, JSON API, pages, timers): the flow
catalog (every flow file, valid or not), the resources runs share (clients, the run
store), running and resubmitting flows (chained flows included), and reading run
history. Front ends only parse their input and format the answer.

    with FlowService.load(settings) as service:
        run = service.run("storm-daily-report", Trigger(kind="manual"))
        page = service.runs(RunQuery.parse(status="failed"))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from . import queued
from .errors import FlowDisabled, FlowNotFound, InvalidQuery, RunNotFound, WebhookDisabled
from .history import RunQuery, page_runs, runs_with_prefix
from .loader import (
    CONNECTIONS_FILE,
    FlowFileInvalid,
    FlowProblem,
    FolderResult,
    LoadedFlow,
    load_connections,
    load_flow,
    load_folder,
)
from .outputs import json_safe
from .queue import RunMessage, RunQueue
from .resources import Resources
from .results import RunResult, RunStatus, StepError, StepResult, new_run_id
from .runner import Runner, RunObserver, Trigger
from .runs import RunPage, RunRecord, RunStore, StepRecord
from .schedule import Schedule
from .settings import Settings
from .state import StateStoreUnavailable
from .steps import REGISTRY, ActionRegistry
from .windows import Window, WindowPlan, plan_windows, previous_tick

if TYPE_CHECKING:  # only named in annotations: alerts load when a step needs them
    from .alerts import AlertState

__all__ = ["FlowService", "StoreObserver"]

log = logging.getLogger(__name__)


class StoreObserver:
    """Writes a run to the run store as it happens."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    def run_started(self, run: RunResult) -> None:
        self.store.start_run(run)

    def step_started(self, run: RunResult, path: str, action: str) -> None:
        return None

    def step_finished(self, run: RunResult, step: StepResult) -> None:
        self.store.record_step(run, step)

    def run_finished(self, run: RunResult) -> None:
        self.store.finish_run(run)


@dataclass
class FlowService:
    catalog: FolderResult
    resources: Resources
    registry: ActionRegistry = REGISTRY

    @classmethod
    def load(cls, settings: Settings, folder: Path | None = None, *,
             store: RunStore | None = None, queue: RunQueue | None = None,
             registry: ActionRegistry = REGISTRY) -> FlowService:
        """The flows of *folder* (default FLOWS_DIR) with the run store of *settings*
        (or *store*); runs are queued on *queue* when given. Invalid files are logged
        and listed, the others run."""
        catalog = load_folder(folder or settings.flows_dir, registry=registry)
        for problem in catalog.all_problems:
            log.error("invalid flow file: %s", problem)
        return cls(catalog, Resources(settings, catalog.connections,
                                      store or _open_store(settings), queue), registry)

    @classmethod
    def for_file(cls, settings: Settings, path: Path, *, store: RunStore | None = None,
                 registry: ActionRegistry = REGISTRY) -> FlowService:
        """A service over one flow file (anywhere), with the connections file beside it;
        FlowFileInvalid listing every problem when either is invalid."""
        connections, problems = load_connections(path.parent / CONNECTIONS_FILE)
        try:
            loaded = load_flow(path, connections, registry=registry)
        except FlowFileInvalid as exc:
            problems += exc.problems
        if problems:
            raise FlowFileInvalid(problems)
        catalog = FolderResult({loaded.name: loaded}, {}, connections)
        return cls(catalog, Resources(settings, connections, store or _open_store(settings)),
                   registry)

    def close(self) -> None:
        self.resources.close()

    def __enter__(self) -> FlowService:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    @property
    def store(self) -> RunStore | None:
        return self.resources.store

    # ------------------------------------------------------------------ lookup

    def flow(self, name: str) -> LoadedFlow | None:
        return self.catalog.flows.get(name)

    def problems_for(self, name: str) -> list[FlowProblem]:
        """Problems of the file whose stem or `name:` is `name` (an invalid flow)."""
        for file, problems in self.catalog.problems.items():
            if Path(file).stem == name:
                return problems
        return []

    def flow_names(self) -> list[str]:
        """Every flow of the folder that may have a run history, sorted: the valid
        flows by name and the invalid files by file stem (their runs stay readable)."""
        names = set(self.catalog.flows)
        names.update(Path(file).stem for file in self.catalog.problems
                     if Path(file).name != CONNECTIONS_FILE)
        return sorted(names)

    def known_flow(self, name: str) -> None:
        """FlowNotFound unless *name* is a flow of the folder (valid or not)."""
        if self.flow(name) is None and not self.problems_for(name):
            raise FlowNotFound(f"no flow named '{name}'")

    # ----------------------------------------------------------------- history

    def runs(self, query: RunQuery) -> RunPage:
        """A page of run history (RunStoreUnavailable when the store cannot be read,
        InvalidQuery for a token of another query)."""
        return page_runs(self._store(), query, self.flow_names())

    def get_run(self, flow: str, run_id: str) -> tuple[RunRecord, list[StepRecord]]:
        found = self._store().get_run(flow, run_id)
        if found is None:
            raise RunNotFound(f"no run {run_id} of flow '{flow}'",
                              hint="it may be older than the history keeps")
        return found

    def find_run(self, run_id: str, flow: str | None = None,
                 ) -> tuple[RunRecord, list[StepRecord]]:
        """A run and its steps by run id alone, or by the first characters of it: the
        store's run id index finds its flow among `flow_names()` (or only *flow*) in
        one query, however many flows there are."""
        names = [flow] if flow else self.flow_names()
        if flow:
            found = self._store().get_run(flow, run_id)
            if found is not None:
                return found
        matches = runs_with_prefix(self._store(), names, run_id)
        whole = [match for match in matches if match[1] == run_id]
        if whole:
            return self.get_run(*whole[0])
        if len(run_id) < 32:  # a prefix, as people copy the first characters
            if len(matches) == 1:
                return self.get_run(*matches[0])
            if matches:
                listed = ", ".join(f"{name}/{found_id}" for name, found_id in matches[:5])
                raise InvalidQuery(f"run id prefix '{run_id}' matches {len(matches)} runs: "
                                   f"{listed}", hint="give more characters of the run id")
        where = (f"flow '{flow}'" if flow else f"any of the {len(names)} flow(s) in the flows "
                 "folder (for a flow no longer there, give FLOW/RUN_ID)")
        raise RunNotFound(f"no run '{run_id}' in the run history of {where}")

    def alert_states(self, name: str | None = None) -> list[tuple[str, str, AlertState]]:
        """(flow, step id, state) of every firing or pending alert key of flow *name*, or
        of every flow of the folder (one store query, not one per flow; states kept for
        flow files since deleted are left out); FlowNotFound, StateStoreUnavailable."""
        if name is not None:
            self.known_flow(name)
            return [(name, step, alert) for step, alert
                    in self.resources.state().alert_states(name)]
        names = set(self.flow_names())
        return [found for found in self.resources.state().all_alert_states()
                if found[0] in names]

    def cleanup_history(self) -> int:
        """Delete runs older than RUNS_RETENTION_DAYS; returns how many went."""
        from .runs import cleanup_old_runs

        return cleanup_old_runs(self._store(), self.settings)

    def _store(self) -> RunStore:
        if self.store is None:
            from .runs import RunStoreUnavailable

            raise RunStoreUnavailable("no run store is configured")
        return self.store

    # --------------------------------------------------------------------- run

    def runner(self, observers: Iterable[RunObserver] = ()) -> Runner:
        recording = [StoreObserver(self.store)] if self.store is not None else []
        return Runner(self.resources, [*observers, *recording], registry=self.registry)

    def run(self, name: str, trigger: Trigger, *, resubmitted_from: str = "",
            chain: bool = True, observers: Sequence[RunObserver] = (),
            within_seconds: float | None = None) -> RunResult:
        """Start a run of a valid flow of the catalog. With a run queue (the Functions
        app with storage) it is queued and returned `Queued`; otherwise it runs now,
        then the flows chained after it, and is returned ended. With *within_seconds*
        (an HTTP request's budget), an inline run and its chained runs end by then."""
        loaded = self.catalog.flows.get(name)
        if loaded is None:
            raise FlowNotFound(f"no valid flow named '{name}'")
        deadline = None if within_seconds is None else time.monotonic() + within_seconds
        return self._start(loaded, trigger, resubmitted_from, chain, observers, deadline)

    def _start(self, loaded: LoadedFlow, trigger: Trigger, resubmitted_from: str, chain: bool,
               observers: Sequence[RunObserver], deadline: float | None) -> RunResult:
        if self.resources.queue is not None:
            return queued.enqueue(self, self.resources.queue, loaded, trigger, resubmitted_from)
        run = self.runner(observers).run(loaded.flow, trigger, resubmitted_from=resubmitted_from,
                                         deadline=deadline)
        if chain:
            self._run_chained(run, observers, deadline)
        return run

    def run_scheduled(self, name: str, schedule: Schedule, tick: datetime,
                      fired_at: datetime) -> RunResult:
        """A timer's tick of a scheduled flow: its window (and missed ones, up to
        `trigger.catch_up`) run in order; a tick already run is recorded `Skipped`, and
        missed windows not caught up are recorded as one `Skipped` gap."""
        loaded = self.catalog.flows[name]
        flow_trigger = loaded.flow.trigger
        base = Trigger(kind="schedule", time=fired_at)
        try:
            plan = plan_windows(self.resources.state(), name, schedule, tick,
                                flow_trigger.catch_up)
        except StateStoreUnavailable as exc:  # run the current window, unguarded
            log.warning("flow %s: windows not checked (%s)", name, exc)
            plan = WindowPlan([Window(previous_tick(schedule, tick), tick)])
        if plan.duplicate:
            return self._record_ended(
                loaded, base, RunStatus.SKIPPED, "DuplicateTick",
                f"the window ending {tick:%Y-%m-%d %H:%M:%S} UTC was already run (the "
                "timer fired twice)", "nothing to do: each window runs once")
        if plan.gap is not None:
            many = f"{plan.missed_windows} missed window(s)" if plan.missed_windows else \
                "missed windows"
            self._record_ended(
                loaded, replace(base, window=plan.gap.context(flow_trigger.timezone)),
                RunStatus.SKIPPED, "MissedWindows",
                f"{many} from {plan.gap.start:%Y-%m-%d %H:%M:%S} to "
                f"{plan.gap.end:%Y-%m-%d %H:%M:%S} UTC were not run",
                "trigger.catch_up: N runs up to N missed windows at the next tick")
        windows = [w.context(flow_trigger.timezone) for w in plan.windows]
        if self.resources.queue is not None:
            return queued.enqueue(self, self.resources.queue, loaded,
                                  replace(base, window=windows[0]),
                                  next_windows=plan.windows[1:])
        runs = [self._start(loaded, replace(base, window=w), "", True, (), None)
                for w in windows]
        return runs[-1]

    def _record_ended(self, loaded: LoadedFlow, trigger: Trigger, status: RunStatus,
                      code: str, message: str, hint: str) -> RunResult:
        """A run recorded as ended without running (skipped), its reason as its error."""
        now = datetime.now(UTC)
        run = RunResult(new_run_id(), loaded.name, trigger.kind, now, status=status,
                        ended_at=now, run_error=StepError(code, "", message, hint))
        if self.store is not None:
            self.store.start_run(run)
            self.store.finish_run(run)
        log.info("flow %s: %s: %s", loaded.name, status, message)
        return run

    # ------------------------------------------------------------ queued runs

    def run_message(self, text: str | bytes) -> RunResult | None:
        """Execute one message of the run queue (the queue-triggered function): the run
        it names, unless it already ended or the overlap policy says otherwise."""
        queue = self._queue()
        return queued.execute(self, queue, self.resources.state(), RunMessage.from_json(text))

    def record_poisoned(self, text: str | bytes, attempts: int) -> RunResult | None:
        """A run message the host moved to the poison queue: its run ends `Failed` with
        `RunPoisoned`."""
        return queued.record_poisoned(self, self.resources.state(),
                                      RunMessage.from_json(text), attempts)

    def chain_after(self, finished: RunResult) -> None:
        """Start the flows chained after *finished* (queued when runs are queued)."""
        self._run_chained(finished, (), None)

    def wait_for_end(self, flow: str, run_id: str, seconds: float,
                     ) -> tuple[RunRecord, list[StepRecord]] | None:
        """The run once it has ended, looking every half second (less at first) for
        at most *seconds*; None when it has not ended by then."""
        ends = time.monotonic() + seconds
        pause = 0.1
        while True:
            record, steps = self.get_run(flow, run_id)
            if record.status.final:
                return record, steps
            left = ends - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.5)

    def _queue(self) -> RunQueue:
        if self.resources.queue is None:
            raise RuntimeError("this service has no run queue")
        return self.resources.queue

    def runnable_on_request(self, name: str) -> LoadedFlow:
        """The flow a webhook or a run-now button may run; FlowNotFound (404),
        FlowFileInvalid (422), WebhookDisabled (403) or FlowDisabled (409)."""
        loaded = self._valid_flow(name)
        if not loaded.flow.trigger.webhook:
            raise WebhookDisabled(f"flow '{name}' cannot be run on request",
                                  hint="add 'webhook: true' to its trigger")
        if not loaded.flow.enabled:
            raise FlowDisabled(f"flow '{name}' is disabled")
        return loaded

    def runnable_from_page(self, name: str) -> LoadedFlow:
        """The flow the pages' Run-now may run: any valid, enabled flow (the page needs
        the host key); FlowNotFound, FlowFileInvalid or FlowDisabled."""
        loaded = self._valid_flow(name)
        if not loaded.flow.enabled:
            raise FlowDisabled(f"flow '{name}' is disabled")
        return loaded

    def _valid_flow(self, name: str) -> LoadedFlow:
        """FlowFileInvalid (with its problems) or FlowNotFound unless *name* is valid."""
        loaded = self.flow(name)
        if loaded is None:
            problems = self.problems_for(name)
            if problems:
                raise FlowFileInvalid(problems)
            raise FlowNotFound(f"no flow named '{name}'")
        return loaded

    def resubmit(self, flow: str, run_id: str, *, chain: bool = True,
                 observers: Sequence[RunObserver] = (),
                 within_seconds: float | None = None) -> RunResult:
        """Run *flow* again with the trigger body of its run *run_id*, linked to it.
        RunNotFound, TriggerBodyUnavailable (body not kept), FlowNotFound or
        FlowFileInvalid (the flow is not valid now), RunStoreUnavailable."""
        if self.flow(flow) is None:
            problems = self.problems_for(flow)
            if problems:
                raise FlowFileInvalid(problems)
            raise FlowNotFound(f"no valid flow named '{flow}'")
        record, _ = self.get_run(flow, run_id)
        body = record.resubmit_body()
        return self.run(flow, Trigger(kind="resubmit", body=body), resubmitted_from=run_id,
                        chain=chain, observers=observers, within_seconds=within_seconds)

    def _run_chained(self, finished: RunResult, observers: Sequence[RunObserver],
                     deadline: float | None) -> None:
        status = str(finished.status).lower()
        for name, loaded in self.catalog.flows.items():
            after = loaded.flow.trigger.after
            if after is None or after.flow != finished.flow or not loaded.flow.enabled:
                continue
            if status not in after.status:
                log.info("flow %s not chained: %s ended %s, it runs after %s", name,
                         finished.flow, status, after.status)
                continue
            body = {"flow": finished.flow, "run_id": finished.run_id, "status": str(
                finished.status), "outputs": json_safe(finished.outputs())}
            # Validation refuses cycles, so this recursion ends.
            self._start(loaded, Trigger(kind="after", body=body), "", True, observers, deadline)

    def now(self) -> datetime:
        return datetime.now(UTC)


def _open_store(settings: Settings) -> RunStore:
    from .runs import open_run_store

    return open_run_store(settings)
