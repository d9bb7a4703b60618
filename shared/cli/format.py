"""How the CLI shows runs: status icons, times, durations, tables, error lines."""

from __future__ import annotations

from datetime import UTC, datetime

from ..results import RunStatus, StepStatus
from ..runs import RunRecord

__all__ = ["STEP_ICONS", "duration", "error_lines", "moment", "print_table", "run_status"]

STEP_ICONS = {StepStatus.SUCCEEDED: "✔", StepStatus.FAILED: "✖", StepStatus.SKIPPED: "–",
              StepStatus.TIMED_OUT: "⧗"}
_RUN_ICONS = {RunStatus.SUCCEEDED: "✔", RunStatus.FAILED: "✖", RunStatus.TIMED_OUT: "⧗",
              RunStatus.RUNNING: "…", RunStatus.ABANDONED: "?"}


def error_lines(indent: str, status: str, code: str, message: str, hint: str) -> list[str]:
    """A step's error under its line: not for skipped steps, nor for a container that
    failed only because a step inside it did (that step shows its own)."""
    if not (code or message) or status == StepStatus.SKIPPED or code == "NestedStepFailed":
        return []
    lines = [f"  {indent}    {code}: {message}"]
    if hint:
        lines.append(f"  {indent}    hint: {hint}")
    return lines


def moment(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def duration(record: RunRecord) -> str:
    if record.ended_at is None:
        return "–"
    ms = record.duration_ms
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    seconds = round(ms / 1000)
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def run_status(status: RunStatus) -> str:
    return f"{_RUN_ICONS.get(status, ' ')} {status}"


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
