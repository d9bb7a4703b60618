"""Kusto's async control commands (`.set-or-append async …`, `.export async …`,
`.ingest async …`): the command answers at once with an `OperationId`, and
`.show operations <id>` tells how the operation goes until it ends; `.show operation
<id> details` then gives its result (export paths, row counts)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import KustoFlowsError, KustoQueryError
from .backend import KustoBackend, KustoRequest
from .reader import CollectSink

__all__ = ["FINAL_STATES", "KustoOperationFailed", "OperationState", "OperationTimedOut",
           "details_command", "is_async_command", "poll_operation", "start_operation"]

#: Kusto's final operation states; anything else (InProgress, Scheduled, ...) goes on.
FINAL_STATES = frozenset({"Completed", "Failed", "PartiallySucceeded", "Abandoned",
                          "BadInput", "Cancelled", "Skipped", "Throttled"})
_SUCCEEDED = frozenset({"Completed"})
_ASYNC = re.compile(r"^\.[A-Za-z-]+\s+async\b", re.IGNORECASE)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")


class KustoOperationFailed(KustoFlowsError, http_status=502):
    """An async control command ended Failed, Abandoned, Cancelled (or alike)."""


class OperationTimedOut(KustoFlowsError, http_status=504):
    """An async control command still ran at `limits.operation_timeout`."""


def is_async_command(text: str) -> bool:
    """A control command with `async` right after its verb (comments aside)."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("//")]
    return bool(_ASYNC.match("\n".join(lines).strip()))


@dataclass(frozen=True)
class OperationState:
    state: str
    status: str = ""
    duration: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state in _SUCCEEDED


def _rows(backend: KustoBackend, request: KustoRequest) -> list[dict[str, Any]]:
    sink = CollectSink()
    backend.execute(request, sink)
    return list(sink.primary.rows) if sink.primary else []


def _checked_id(value: Any) -> str:
    """The operation id as it may appear in command text: a GUID, nothing else."""
    text = str(value or "").strip()
    if not _GUID.match(text):
        raise KustoQueryError(f"the cluster answered an operation id that is not a GUID: "
                              f"{text[:60]!r}")
    return text


def start_operation(backend: KustoBackend, request: KustoRequest) -> str:
    """Run the async command once; its OperationId."""
    rows = _rows(backend, request)
    if not rows or "OperationId" not in rows[0]:
        raise KustoQueryError("the async command answered no OperationId",
                              hint="check that the command supports `async`")
    return _checked_id(rows[0]["OperationId"])


def poll_operation(backend: KustoBackend, request: KustoRequest,
                   operation_id: str) -> OperationState:
    """The operation's state now (`.show operations <id>`)."""
    command = f".show operations {_checked_id(operation_id)}"
    rows = _rows(backend, KustoRequest(request.database, command, is_command=True,
                                       timeout=request.timeout))
    if not rows:
        return OperationState("Unknown", "the cluster does not know this operation (yet)")
    # Kusto keeps a row per state change: the newest is the one that counts.
    row = max(rows, key=lambda r: str(r.get("LastUpdatedOn") or ""))
    return OperationState(str(row.get("State") or ""), str(row.get("Status") or ""),
                          str(row.get("Duration") or ""))


def details_command(operation_id: str) -> str:
    return f".show operation {_checked_id(operation_id)} details"
