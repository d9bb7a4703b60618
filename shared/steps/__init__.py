"""Actions: one module per kind; the runner finds each executor by action name.
`condition` and `foreach` hold other steps, so the runner runs those itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import StepContext, StepOutcome

__all__ = ["EXECUTORS", "StepContext", "StepOutcome"]


def _kusto_query(step: Any, inputs: dict[str, Any], ctx: StepContext) -> StepOutcome:
    from .kusto_steps import run_query

    return run_query(step, inputs, ctx)


def _kusto_visualize(step: Any, inputs: dict[str, Any], ctx: StepContext) -> StepOutcome:
    from .kusto_steps import run_visualize

    return run_visualize(step, inputs, ctx)


def _email_send(step: Any, inputs: dict[str, Any], ctx: StepContext) -> StepOutcome:
    from .email_step import send_email

    return send_email(step, inputs, ctx)


EXECUTORS: dict[str, Callable[[Any, dict[str, Any], StepContext], StepOutcome]] = {
    "kusto.query": _kusto_query,
    "kusto.visualize": _kusto_visualize,
    "kusto.command": _kusto_visualize,
    "email.send": _email_send,
}
