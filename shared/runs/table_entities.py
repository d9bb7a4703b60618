"""Table Storage entities for the run store: a run (`RunResult`) and its steps to the
entities `TableRunStore` writes, and the entities it reads back to records.

Four kinds of entity (key layout: see `keys.py`):

- a run row in `FlowRuns` (partition: the flow; row: inverted start ticks + run id),
  the trigger body in `TriggerBody0..n` chunks (see `records.py` for the limits);
- an index row in `FlowRuns` (partition: `id:<run id>`; row: the flow) pointing at
  the run row, so `get_run` is two point reads;
- a latest row in `FlowRuns` (partition: `latest:`; row: the flow): the list columns
  of the flow's newest run and its run row key, so `last_runs` is one query;
- a step row in `FlowRunSteps` (partition: the run id; row: execution order + path).

No I/O and no Azure SDK here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.results import RunResult, RunStatus, StepResult, StepStatus
from shared.runs.keys import (
    LATEST_COMPLETE,
    LATEST_PARTITION,
    flow_partition_key,
    index_partition_key,
    latest_row_key,
    run_row_key,
    step_partition_key,
    step_row_key,
)
from shared.runs.records import (
    as_utc,
    decode_trigger_body,
    encode_trigger_body,
    run_record,
    split_chunks,
    step_order,
    step_record,
)
from shared.runs.store import RunRecord, StepRecord

__all__ = [
    "LATEST_COLUMNS",
    "LIST_COLUMNS",
    "index_entity",
    "latest_complete_entity",
    "latest_entity",
    "run_entity",
    "run_from_entity",
    "step_entity",
    "step_from_entity",
]

#: Columns a list needs: everything but the trigger body chunks.
LIST_COLUMNS = [
    "PartitionKey", "RowKey", "RunId", "Flow", "Status", "Trigger", "StartedAt", "EndedAt",
    "DurationMs", "FailingStep", "ErrorCode", "ErrorMessage", "ErrorHint", "ResubmittedFrom",
    "StepCount", "TriggerBodyTruncated",
]

#: Columns `last_runs` reads: a latest row's run columns, its kind and run row key.
LATEST_COLUMNS = [*LIST_COLUMNS, "Kind", "RunRowKey"]


def run_entity(run: RunResult) -> dict[str, Any]:
    """The run row of *run* (texts clipped, trigger body in chunks or flagged)."""
    record = run_record(run)
    entity: dict[str, Any] = {
        "PartitionKey": flow_partition_key(record.flow),
        "RowKey": run_row_key(record.started_at, record.run_id),
        "Kind": "run",
        "RunId": record.run_id,
        "Flow": record.flow,
        "Status": str(record.status),
        "Trigger": record.trigger,
        "StartedAt": record.started_at,
        "DurationMs": record.duration_ms,
        "FailingStep": record.failing_step,
        "ErrorCode": record.error_code,
        "ErrorMessage": record.error_message,
        "ErrorHint": record.error_hint,
        "ResubmittedFrom": record.resubmitted_from,
        "StepCount": record.step_count,
    }
    if record.ended_at is not None:
        entity["EndedAt"] = record.ended_at
    body, truncated = encode_trigger_body(record.trigger_body)
    entity["TriggerBodyTruncated"] = truncated
    if body is not None:
        chunks = split_chunks(body)
        entity["TriggerBodyChunks"] = len(chunks)
        for index, chunk in enumerate(chunks):
            entity[f"TriggerBody{index}"] = chunk
    return entity


def index_entity(run_row: dict[str, Any]) -> dict[str, Any]:
    """The index row that finds *run_row* (a `run_entity`) from its run id."""
    return {
        "PartitionKey": index_partition_key(run_row["RunId"]),
        "RowKey": run_row["PartitionKey"],
        "Kind": "index",
        "RunRowKey": run_row["RowKey"],
    }


def latest_entity(run_row: dict[str, Any]) -> dict[str, Any]:
    """The latest row that makes *run_row* (a run row, as written or as read back) its
    flow's newest run: the run row's list columns, without the trigger body."""
    entity = {name: run_row[name] for name in LIST_COLUMNS[2:] if name in run_row}
    entity.update({
        "PartitionKey": LATEST_PARTITION,
        "RowKey": latest_row_key(str(run_row["Flow"])),
        "Kind": "latest",
        "RunRowKey": run_row["RowKey"],
    })
    return entity


def latest_complete_entity() -> dict[str, Any]:
    """The row saying every run of the table is in the latest-run index."""
    return {"PartitionKey": LATEST_PARTITION, "RowKey": LATEST_COMPLETE, "Kind": "marker"}


def step_entity(run: RunResult, step: StepResult) -> dict[str, Any]:
    """The step row of *step*, ordered by its place in *run*."""
    record = step_record(step)
    order = step_order(run, step)
    entity: dict[str, Any] = {
        "PartitionKey": step_partition_key(run.run_id),
        "RowKey": step_row_key(order, step.path),
        "Flow": run.flow,
        "Order": order,
        "Path": record.path,
        "Action": record.action,
        "Status": str(record.status),
        "StartedAt": record.started_at,
        "DurationMs": record.duration_ms,
        "Summary": record.summary,
        "ErrorCode": record.error_code,
        "ErrorMessage": record.error_message,
        "ErrorHint": record.error_hint,
    }
    return entity


def _text(entity: dict[str, Any], name: str) -> str:
    value = entity.get(name)
    return "" if value is None else str(value)


def _moment(entity: dict[str, Any], name: str) -> datetime | None:
    value = entity.get(name)
    return as_utc(value) if isinstance(value, datetime) else None


def run_from_entity(entity: dict[str, Any]) -> RunRecord:
    """The record of a run row (with its trigger body when the row has the chunks)."""
    body: Any = None
    chunks = entity.get("TriggerBodyChunks")
    if chunks:
        body = decode_trigger_body("".join(_text(entity, f"TriggerBody{i}")
                                           for i in range(int(chunks))))
    started = _moment(entity, "StartedAt")
    return RunRecord(
        run_id=_text(entity, "RunId"),
        flow=_text(entity, "Flow"),
        status=RunStatus(_text(entity, "Status") or RunStatus.RUNNING),
        trigger=_text(entity, "Trigger"),
        started_at=started if started is not None else datetime.min,
        ended_at=_moment(entity, "EndedAt"),
        duration_ms=float(entity.get("DurationMs") or 0.0),
        failing_step=_text(entity, "FailingStep"),
        error_code=_text(entity, "ErrorCode"),
        error_message=_text(entity, "ErrorMessage"),
        error_hint=_text(entity, "ErrorHint"),
        trigger_body=body,
        resubmitted_from=_text(entity, "ResubmittedFrom"),
        step_count=int(entity.get("StepCount") or 0),
        trigger_body_truncated=bool(entity.get("TriggerBodyTruncated")),
    )


def step_from_entity(entity: dict[str, Any]) -> StepRecord:
    """The record of a step row."""
    started = _moment(entity, "StartedAt")
    return StepRecord(
        path=_text(entity, "Path"),
        action=_text(entity, "Action"),
        status=StepStatus(_text(entity, "Status")),
        started_at=started if started is not None else datetime.min,
        duration_ms=float(entity.get("DurationMs") or 0.0),
        summary=_text(entity, "Summary"),
        error_code=_text(entity, "ErrorCode"),
        error_message=_text(entity, "ErrorMessage"),
        error_hint=_text(entity, "ErrorHint"),
    )
