"""kusto.command with an async control command: started once, then followed with
`.show operations <id>` until it ends. A queued run stops while it waits (the step
raises `StepWaiting`, and the run is queued again with a visibility delay), so hours
of waiting cost a few short invocations; an inline run (the CLI) waits in process."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..kusto.operations import (
    KustoOperationFailed,
    OperationTimedOut,
    details_command,
    poll_operation,
    start_operation,
)
from .base import StepContext, StepOutcome, StepWaiting
from .kusto_common import VisualKustoStep, kusto_request
from .kusto_visualize import visualize

__all__ = ["MAX_POLL_SECONDS", "run_async_command"]

#: Polls back off from OPERATION_POLL_SECONDS (5 s by default) up to this.
MAX_POLL_SECONDS = 60.0


def run_async_command(step: VisualKustoStep, text: str, inputs: Mapping[str, Any],
                      ctx: StepContext) -> StepOutcome:
    backend, request = kusto_request(step, inputs, ctx, text, is_command=True)
    state = dict(ctx.resume or {})
    if "operation_id" not in state:
        state = {"operation_id": start_operation(backend, request),
                 "started_at": datetime.now(UTC).isoformat(), "polls": 0}
    operation_id = str(state["operation_id"])
    while True:
        current = poll_operation(backend, request, operation_id)
        if current.final:
            break
        waited = (datetime.now(UTC) - datetime.fromisoformat(state["started_at"])
                  ).total_seconds()
        if waited >= ctx.flow.limits.operation_timeout:
            raise OperationTimedOut(
                f"operation {operation_id} still {current.state} after {waited:,.0f} s",
                hint="the operation goes on in the cluster: follow it with `.show "
                     f"operations {operation_id}`, or raise limits.operation_timeout")
        delay = min(MAX_POLL_SECONDS,
                    ctx.settings.operation_poll_seconds * 2 ** int(state["polls"]))
        state["polls"] = int(state["polls"]) + 1
        if ctx.can_suspend:
            raise StepWaiting(f"operation {operation_id} {current.state}; next look in "
                              f"{delay:g} s", state=state, after_seconds=delay)
        time.sleep(min(delay, ctx.remaining()))
    if not current.succeeded:
        raise KustoOperationFailed(
            f"operation {operation_id} ended {current.state}: "
            f"{current.status or 'no status text'}",
            hint=f"see `.show operations {operation_id}` on the cluster")
    outcome = visualize(step, details_command(operation_id), {**inputs, "parameters": {}},
                        ctx, is_command=True)
    outcome.outputs.update({"operation_id": operation_id, "state": current.state,
                            "status": current.status, "duration": current.duration})
    return StepOutcome(outcome.outputs, f"operation {operation_id} {current.state}; "
                                        f"{outcome.summary}")
