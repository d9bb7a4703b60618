"""foreach: run nested steps once per item of a list (the connector's "Apply to each"),
at most `concurrency` iterations at once."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

from pydantic import Field

from ..errors import StepInputError
from ..model import Expression, Nested, Static, StepModel
from .base import BlockOutcome, StepContext, StepOutcome
from .registry import Action

__all__ = ["ACTION", "ForeachStep"]


class ForeachStep(StepModel):
    action: Literal["foreach"]
    items: Annotated[str, Expression, Field(
        description="a bare expression giving a list, e.g. steps.q.rows")]
    steps: Annotated[list[StepModel], Nested]
    concurrency: Annotated[int, Static, Field(
        ge=1, le=20, description="iterations run at once")] = 1


def run_foreach(step: ForeachStep, inputs: Mapping[str, Any], ctx: StepContext
                ) -> StepOutcome:
    items = ctx.evaluate(step.items, field="items")
    if isinstance(items, dict) or not isinstance(items, list | tuple):
        raise StepInputError(f"field 'items' must give a list, got {type(items).__name__}",
                             hint="e.g. items: steps.query.rows")
    total = len(items)

    def iteration(index: int) -> BlockOutcome:
        loop = {"index": index + 1, "index0": index, "first": index == 0,
                "last": index == total - 1, "length": total}
        return ctx.run_block(step.steps, f"{ctx.step_path}[{index}].",
                             extra={"item": items[index], "loop": loop}, own_scope=True)

    if step.concurrency > 1 and total > 1:
        with ThreadPoolExecutor(max_workers=min(step.concurrency, total)) as pool:
            results = list(pool.map(iteration, range(total)))
    else:
        results = [iteration(i) for i in range(total)]
    failures = sum(1 for result in results if result.failed)
    outputs = {"count": total, "failed": failures,
               "iterations": [result.outputs for result in results]}
    summary = f"{total} items" + (f", {failures} failed" if failures else "")
    return StepOutcome(outputs, summary, nested_failed=failures > 0)


ACTION = Action(
    ForeachStep, run_foreach, title="Apply to each",
    fields_doc="`items` (a bare expression giving a list), `steps`, `concurrency` (1–20, "
               "default 1)",
    outputs_doc="`count`, `failed`; inside, `item` and `loop` (`index`, `index0`, "
                "`first`, `last`, `length`)",
)
