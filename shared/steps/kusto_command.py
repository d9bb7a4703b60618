"""kusto.command: the connector's "Run control command and visualize results"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from ..kusto.operations import is_async_command
from ..model import Static
from .base import StepContext, StepOutcome
from .kusto_checks import kusto_text_checker
from .kusto_common import VisualKustoStep, is_command_text
from .kusto_visualize import visualize
from .registry import Action

__all__ = ["ACTION", "KustoCommandStep"]


class KustoCommandStep(VisualKustoStep):
    """Run control command and visualize results."""

    action: Literal["kusto.command"]
    command: Annotated[str, Static, Field(
        description="a control command: text starting with '.'")]

    @field_validator("command")
    @classmethod
    def _is_a_command(cls, value: str) -> str:
        if not is_command_text(value):
            raise ValueError("a control command starts with '.'; for a query use "
                             "kusto.query or kusto.visualize")
        return value


def run_command(step: KustoCommandStep, inputs: Mapping[str, Any], ctx: StepContext
                ) -> StepOutcome:
    if is_async_command(step.command):
        from .async_command import run_async_command

        return run_async_command(step, step.command, inputs, ctx)
    return visualize(step, step.command, inputs, ctx, is_command=True)


ACTION = Action(
    KustoCommandStep, run_command, title="Run control command and visualize results",
    check=kusto_text_checker("command"),
    fields_doc="`command` (must start with `.`; `async` commands are followed until they "
               "end, up to `limits.operation_timeout`), `chart` and the rest as "
               "`kusto.visualize`",
    outputs_doc="as `kusto.visualize`; an async command: its `.show operation details` "
                "result, plus `operation_id`, `state`, `status`, `duration`", writes=True,
)
