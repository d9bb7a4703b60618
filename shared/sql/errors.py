"""What a SQL step fails with, besides the shared errors (`StepInputError`,
`AuthFailed`, `RequestTimeout`, `LimitExceeded`)."""

from __future__ import annotations

from ..errors import KustoFlowsError

__all__ = ["SqlQueryError", "SqlUnavailable"]


class SqlQueryError(KustoFlowsError, http_status=502):
    """The database refused a statement (syntax, a missing table or column, a
    constraint, permissions); nothing of the step's transaction was kept."""


class SqlUnavailable(KustoFlowsError, http_status=503):
    """The database could not be reached or refused the connection."""
