"""kusto.query: the connector's "Run query and list results"."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from ..kusto.reader import CollectSink, GuardedSink, ResultTable
from .base import StepContext, StepOutcome
from .kusto_checks import kusto_text_checker
from .kusto_common import KustoStep, QueryText, kusto_request
from .registry import Action

__all__ = ["ACTION", "KustoQueryStep"]


class KustoQueryStep(KustoStep, QueryText):
    """Run query and list results."""

    action: Literal["kusto.query"]


def run_query(step: KustoQueryStep, inputs: Mapping[str, Any], ctx: StepContext
              ) -> StepOutcome:
    backend, request = kusto_request(step, inputs, ctx, step.query, is_command=False)
    sink = CollectSink()
    limits = ctx.flow.limits
    started = time.perf_counter()
    backend.execute(request, GuardedSink(sink, limits.max_records, limits.max_bytes))
    elapsed_ms = (time.perf_counter() - started) * 1000
    primary = sink.primary or ResultTable("PrimaryResult", [])
    outputs = {
        "rows": primary.rows,
        "columns": [c.to_dict() for c in primary.columns],
        "row_count": len(primary.rows),
        "tables": [t.to_dict() for t in sink.tables],
        "elapsed_ms": round(elapsed_ms, 1),
    }
    return StepOutcome(outputs, f"{len(primary.rows):,} rows")


ACTION = Action(
    KustoQueryStep, run_query, title="Run query and list results",
    check=kusto_text_checker("query"),
    fields_doc="`connection`, `database` (default: the connection's), `query`, `parameters`",
    outputs_doc="`rows` (list of dicts), `columns` (name, type), `row_count`, `tables` "
                "(every result table), `elapsed_ms`",
)
