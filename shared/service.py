"""What the CLI and the Functions app share around the runner: the flow catalog
(every flow file, valid or not), the run store as an observer of every run, and
chained flows (`trigger.after`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .loader import CONNECTIONS_FILE, FlowProblem, FolderResult, LoadedFlow, load_folder
from .mail.message import Attachment
from .results import RunResult, StepResult
from .runner import Runner, Trigger
from .settings import Settings

if TYPE_CHECKING:
    from .runs import RunRecord, StepRecord

__all__ = ["FlowService", "RunRefused", "StoreObserver", "json_safe", "open_observers"]

log = logging.getLogger(__name__)


class RunRefused(Exception):
    """A request to run a flow that cannot be honoured; `status` is the HTTP answer."""

    def __init__(self, status: int, code: str, message: str,
                 problems: list[FlowProblem] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.problems = problems or []


def json_safe(value: Any, depth: int = 0) -> Any:
    """Outputs as JSON: files become their name, type and size; datetimes ISO."""
    if depth > 20:
        return None
    if isinstance(value, Attachment):
        return {"name": value.name, "content_type": value.content_type, "size": value.size}
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        return str(value)  # Markup too: plain text in JSON
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


class StoreObserver:
    """Writes a run to the run store as it happens."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def run_started(self, run: RunResult) -> None:
        self.store.start_run(run)

    def step_started(self, run: RunResult, path: str, action: str) -> None:
        return None

    def step_finished(self, run: RunResult, step: StepResult) -> None:
        self.store.record_step(run, step)

    def run_finished(self, run: RunResult) -> None:
        self.store.finish_run(run)


def open_observers(settings: Settings) -> list[Any]:
    from .runs import open_run_store

    return [StoreObserver(open_run_store(settings))]


@dataclass
class FlowService:
    settings: Settings
    catalog: FolderResult
    store: Any = None
    extra_observers: list[Any] = field(default_factory=list)

    @classmethod
    def load(cls, settings: Settings, folder: Path | None = None,
             store: Any = None) -> FlowService:
        catalog = load_folder(folder or settings.flows_dir)
        for problem in catalog.all_problems:
            log.error("invalid flow file: %s", problem)
        if store is None:
            from .runs import open_run_store

            store = open_run_store(settings)
        return cls(settings, catalog, store)

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

    def find_run(self, run_id: str, flow: str | None = None,
                 ) -> tuple[RunRecord, list[StepRecord]] | None:
        """A run and its steps by run id alone: the store is keyed by flow, so each of
        `flow_names()` is tried in turn (one point read each), or only *flow* when
        given. None when no flow has it."""
        for name in [flow] if flow else self.flow_names():
            found = self.store.get_run(name, run_id)
            if found is not None:
                return found
        return None

    # --------------------------------------------------------------------- run

    def runner(self) -> Runner:
        observers = [*self.extra_observers]
        if self.store is not None:
            observers.append(StoreObserver(self.store))
        return Runner(self.settings, self.catalog.connections, observers)

    def run(self, name: str, trigger: Trigger, *, resubmitted_from: str = "",
            chain: bool = True) -> RunResult:
        loaded = self.catalog.flows[name]
        run = self.runner().run(loaded.flow, trigger, resubmitted_from=resubmitted_from)
        if chain:
            self._run_chained(run)
        return run

    def runnable_on_request(self, name: str) -> LoadedFlow:
        """The flow a webhook or a run-now button may run; RunRefused when it is unknown
        (404), invalid (422), has no webhook (403) or is disabled (409)."""
        loaded = self.flow(name)
        if loaded is None:
            problems = self.problems_for(name)
            if problems:
                raise RunRefused(422, "FlowInvalid", f"flow '{name}' is invalid", problems)
            raise RunRefused(404, "FlowNotFound", f"no flow named '{name}'")
        if not loaded.flow.trigger.webhook:
            raise RunRefused(403, "WebhookDisabled", f"flow '{name}' cannot be run on "
                             "request: add 'webhook: true' to its trigger")
        if not loaded.flow.enabled:
            raise RunRefused(409, "FlowDisabled", f"flow '{name}' is disabled")
        return loaded

    def resubmit(self, flow: str, run_id: str) -> RunResult:
        """Run *flow* again with the trigger body of its run *run_id*, linked to it;
        RunRefused when the flow (404) or run (404) is unknown or its body was not kept
        (409). RunStoreUnavailable when the store cannot be read."""
        from .runs import TriggerBodyUnavailable

        if self.flow(flow) is None:
            raise RunRefused(404, "FlowNotFound", f"no valid flow named '{flow}'")
        found = self.store.get_run(flow, run_id)
        if found is None:
            raise RunRefused(404, "RunNotFound", f"no run {run_id} of flow '{flow}'")
        try:
            body = found[0].resubmit_body()
        except TriggerBodyUnavailable as exc:
            raise RunRefused(409, "TriggerBodyUnavailable", str(exc)) from exc
        return self.run(flow, Trigger(kind="resubmit", body=body), resubmitted_from=run_id)

    def _run_chained(self, finished: RunResult) -> None:
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
            self.run(name, Trigger(kind="after", body=body))

    def now(self) -> datetime:
        return datetime.now(UTC)
