"""condition: run `then` or `else` by a bare expression (the connector's "Condition")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from ..model import Expression, Nested, StepModel
from .base import StepContext, StepOutcome
from .registry import Action

__all__ = ["ACTION", "ConditionStep"]


class ConditionStep(StepModel):
    action: Literal["condition"]
    if_: Annotated[str, Expression, Field(
        alias="if", description="a bare expression, e.g. steps.q.row_count > 0")]
    then: Annotated[list[StepModel], Nested, Field(default_factory=list)]
    else_: Annotated[list[StepModel], Nested, Field(default_factory=list, alias="else")]


def run_condition(step: ConditionStep, inputs: Mapping[str, Any], ctx: StepContext
                  ) -> StepOutcome:
    value = bool(ctx.evaluate(step.if_, field="if"))
    name = "then" if value else "else"
    block = ctx.run_block(step.then if value else step.else_, f"{ctx.step_path}.{name}.")
    return StepOutcome({"result": value, "branch": name}, f"{step.if_} → {str(value).lower()}",
                       nested_failed=block.failed)


ACTION = Action(
    ConditionStep, run_condition, title="Condition",
    fields_doc="`if` (a bare expression), `then`, `else` (lists of steps)",
    outputs_doc="`result`, `branch`",
)
