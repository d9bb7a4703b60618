"""What a step asks of a Kusto connection, whatever is behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .reader import ResultSink

__all__ = ["ExecutionInfo", "KustoBackend", "KustoRequest"]


@dataclass(frozen=True)
class KustoRequest:
    database: str
    text: str
    #: name -> (declared type, python value), checked against the declaration.
    parameters: dict[str, tuple[str, Any]] = field(default_factory=dict)
    is_command: bool = False
    #: seconds; sent as servertimeout, and the client gives up shortly after.
    timeout: float = 90.0


@dataclass
class ExecutionInfo:
    #: The query's own `render` hint, when the server returned one.
    visualization: Any = None


class KustoBackend(Protocol):
    #: For messages and deep links: the cluster URL or "embedded".
    cluster: str

    def execute(self, request: KustoRequest, sink: ResultSink) -> ExecutionInfo: ...
