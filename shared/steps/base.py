"""What an action gets from the runner, and what it gives back."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import KustoFlowsError, RunTimedOut
from ..run_files import RunFiles

if TYPE_CHECKING:
    from ..model import Flow, StepModel
    from ..resources import Resources
    from ..settings import Settings

__all__ = ["BlockOutcome", "Blocks", "StepContext", "StepOutcome", "StepWaiting"]


@dataclass
class StepOutcome:
    outputs: dict[str, Any]
    summary: str = ""
    #: A container (condition, foreach) whose nested steps failed: the step fails with
    #: `NestedStepFailed`, and the failed step below it shows its own error.
    nested_failed: bool = False


class StepWaiting(KustoFlowsError, code="Waiting", http_status=202):
    """Not a failure: raised by an action that waits for something outside the run (an
    async control command). The runner keeps *state* (JSON), stops the run as Waiting,
    and the run goes on *after_seconds* later: the action then finds *state* in
    `ctx.resume`."""

    def __init__(self, message: str, *, state: dict[str, Any], after_seconds: float) -> None:
        super().__init__(message)
        self.state = state
        self.after_seconds = after_seconds


@dataclass
class BlockOutcome:
    failed: bool
    #: The outputs of the block's steps by id (for a block run in its own scope).
    outputs: dict[str, Any]


class Blocks(Protocol):
    """What a control action may ask of the runner, in the scope of its own step."""

    def evaluate(self, expression: str, *, field: str) -> Any: ...

    def template_context(self) -> dict[str, Any]: ...

    def run_block(self, steps: Sequence[StepModel], prefix: str, *,
                  extra: Mapping[str, Any] | None = None,
                  own_scope: bool = False) -> BlockOutcome: ...


@dataclass
class StepContext:
    resources: Resources
    flow: Flow
    run_id: str
    run_started_at: datetime
    #: time.monotonic() by which the whole run must end.
    deadline: float
    step_path: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    blocks: Blocks | None = None
    #: What this step kept when it last waited (StepWaiting.state), on resuming.
    resume: Mapping[str, Any] | None = None
    #: True when the run can stop while it waits and be resumed later (queued runs);
    #: an inline run waits in its own process instead.
    can_suspend: bool = False
    #: The run's temporary files (a large CSV), removed by the runner when the run ends.
    files: RunFiles = field(default_factory=RunFiles)

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RunTimedOut("the run passed its whole-run deadline",
                              hint="make the flow's queries faster, or raise "
                                   "limits.run_timeout (capped by RUN_DEADLINE_SECONDS)")
        return left

    def for_step(self, path: str, blocks: Blocks,
                  resume: Mapping[str, Any] | None = None) -> StepContext:
        return replace(self, step_path=path, blocks=blocks, resume=resume)

    def evaluate(self, expression: str, *, field: str) -> Any:
        return self._blocks().evaluate(expression, field=field)

    def template_context(self) -> dict[str, Any]:
        """What this step's templates see (`trigger`, `run`, `steps`, `vars`, ...): for an
        action that evaluates an expression with names of its own (`alert`'s `row`)."""
        return self._blocks().template_context()

    def run_block(self, steps: Sequence[StepModel], prefix: str, *,
                  extra: Mapping[str, Any] | None = None,
                  own_scope: bool = False) -> BlockOutcome:
        return self._blocks().run_block(steps, prefix, extra=extra, own_scope=own_scope)

    def _blocks(self) -> Blocks:
        if self.blocks is None:
            raise RuntimeError("this context was not made by the runner for a step")
        return self.blocks
