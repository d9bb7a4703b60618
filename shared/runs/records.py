"""From a run (`RunResult`) to the records both stores keep, within Table Storage's
limits, and back to what readers see.

Limits (Table Storage; the local store keeps the same so both behave alike):
a string property holds at most 32K UTF-16 units (64 KB) and an entity 1 MB.
Long texts are cut with a marker ("… [truncated 12345 chars]") rather than failing
the write. The trigger body is kept as compact ASCII JSON in 32,000-character
chunks up to `MAX_TRIGGER_BODY_CHARS`; a larger body is not kept at all and the run
is flagged `trigger_body_truncated`: resubmitting it is refused with a clear
message (a truncated body would resubmit a different request).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import InvalidQuery
from shared.results import RunResult, RunStatus, StepResult, StepStatus
from shared.runs.keys import older_than_row_key
from shared.runs.store import RunRecord, StepRecord

__all__ = [
    "BODY_CHUNK_CHARS",
    "MAX_TRIGGER_BODY_CHARS",
    "StatusFilter",
    "as_utc",
    "clip",
    "decode_trigger_body",
    "encode_trigger_body",
    "parse_status",
    "run_record",
    "shown",
    "split_chunks",
    "status_filter",
    "step_order",
    "step_record",
]

#: Per-field caps in UTF-16 units (all well below the 32K property limit, and
#: together with the trigger body below the 1 MB entity limit).
MESSAGE_LIMIT = 16_000
HINT_LIMIT = 4_000
SUMMARY_LIMIT = 4_000
SHORT_LIMIT = 1_000
BODY_CHUNK_CHARS = 32_000
#: 12 chunks: ~768 KB as UTF-16, leaving room for the rest of the entity.
MAX_TRIGGER_BODY_CHARS = 12 * BODY_CHUNK_CHARS


def as_utc(moment: datetime) -> datetime:
    """*moment* as an aware UTC datetime (naive is taken as UTC); a plain datetime
    even if an SDK subclass came in."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute,
                    moment.second, moment.microsecond, tzinfo=UTC)


def clip(text: str | None, limit: int) -> str:
    """*text* cut to at most *limit* UTF-16 units, with a marker saying how much went."""
    text = text or ""
    if len(text) * 2 <= limit:
        return text  # even all-astral text fits: skip the encode
    encoded = text.encode("utf-16-le")
    if len(encoded) // 2 <= limit:
        return text
    marker_room = len(f"… [truncated {len(text)} chars]")
    kept = encoded[: max(0, limit - marker_room) * 2].decode("utf-16-le", errors="ignore")
    return f"{kept}… [truncated {len(text) - len(kept)} chars]"


def encode_trigger_body(body: Any) -> tuple[str | None, bool]:
    """(compact ASCII JSON of *body* or None, whether it was too large to keep)."""
    if body is None:
        return None, False
    text = json.dumps(body, ensure_ascii=True, separators=(",", ":"), default=str)
    if len(text) > MAX_TRIGGER_BODY_CHARS:
        return None, True
    return text, False


def decode_trigger_body(text: str | None) -> Any:
    return None if not text else json.loads(text)


def split_chunks(text: str, size: int = BODY_CHUNK_CHARS) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def step_order(run: RunResult, step: StepResult) -> int:
    """*step*'s place in execution order: its position in `run.steps` (the runner
    appends a step when it starts, so a foreach sits before the steps inside it),
    or the end of the list if it is not there. Searched from the end: a step
    usually ends soon after it starts."""
    steps = run.steps
    for index in range(len(steps) - 1, -1, -1):
        if steps[index] is step:
            return index
    return len(steps)


def run_record(run: RunResult) -> RunRecord:
    """What is kept of *run* (texts clipped; the trigger body is encoded on write)."""
    error = run.error
    return RunRecord(
        run_id=run.run_id,
        flow=run.flow,
        status=RunStatus(run.status),
        trigger=clip(run.trigger_kind, SHORT_LIMIT),
        started_at=as_utc(run.started_at),
        ended_at=as_utc(run.ended_at) if run.ended_at else None,
        duration_ms=float(run.duration_ms),
        failing_step=clip(run.failing_step, SHORT_LIMIT),
        error_code=clip(error.code if error else "", SHORT_LIMIT),
        error_message=clip(error.message if error else "", MESSAGE_LIMIT),
        error_hint=clip(error.hint if error else "", HINT_LIMIT),
        trigger_body=run.trigger_body,
        resubmitted_from=clip(run.resubmitted_from, SHORT_LIMIT),
        step_count=len(run.steps),
    )


def step_record(step: StepResult) -> StepRecord:
    error = step.error
    return StepRecord(
        path=clip(step.path, SHORT_LIMIT),
        action=clip(step.action, SHORT_LIMIT),
        status=StepStatus(step.status),
        started_at=as_utc(step.started_at),
        duration_ms=float(step.duration_ms),
        summary=clip(step.summary, SUMMARY_LIMIT),
        error_code=clip(error.code if error else "", SHORT_LIMIT),
        error_message=clip(error.message if error else "", MESSAGE_LIMIT),
        error_hint=clip(error.hint if error else "", HINT_LIMIT),
    )


def parse_status(status: str | None) -> RunStatus | None:
    """A status filter: a RunStatus name or value in any case ("failed", "timed_out",
    "TimedOut"); None or "" for no filter."""
    if status is None or not status.strip():
        return None
    wanted = status.strip().replace("_", "").replace("-", "").replace(" ", "").lower()
    for candidate in RunStatus:
        if wanted in (candidate.name.replace("_", "").lower(), candidate.value.lower()):
            return candidate
    names = ", ".join(s.name.lower() for s in RunStatus)
    raise InvalidQuery(f"{status!r} is not a run status; use one of {names}")


@dataclass(frozen=True)
class StatusFilter:
    """A status filter in stored terms: the stored status and a run-row-key range."""

    stored: str | None = None
    key_at_least: str | None = None
    key_below: str | None = None
    matches_nothing: bool = False


def status_filter(status: RunStatus | None, now: datetime,
                  abandon_after: timedelta | None) -> StatusFilter:
    """Running and Abandoned are both stored as Running; they split on start time,
    which is a row-key range (older runs have larger keys)."""
    if status is None:
        return StatusFilter()
    if status not in (RunStatus.RUNNING, RunStatus.ABANDONED):
        return StatusFilter(stored=str(status))
    if abandon_after is None:
        if status is RunStatus.ABANDONED:
            return StatusFilter(matches_nothing=True)
        return StatusFilter(stored=str(RunStatus.RUNNING))
    bound = older_than_row_key(now - abandon_after)
    if status is RunStatus.ABANDONED:
        return StatusFilter(stored=str(RunStatus.RUNNING), key_at_least=bound)
    return StatusFilter(stored=str(RunStatus.RUNNING), key_below=bound)


def shown(record: RunRecord, now: datetime, abandon_after: timedelta | None) -> RunRecord:
    """*record* as readers see it: Running past the deadline reads as Abandoned."""
    if (abandon_after is not None and record.status == RunStatus.RUNNING
            and record.started_at < now - abandon_after):
        return replace(record, status=RunStatus.ABANDONED)
    return record
