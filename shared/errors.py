"""One root exception for everything Kusto Flows reports: a stable code, a message,
a hint a user can act on, the step it happened in, and the HTTP status it maps to.

Codes are part of the product's contract: run records, the HTTP API and alerts
match on them, so they never change spelling. `shared.api.routes.Route.call` turns
any of these into an HTTP answer in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "AuthFailed",
    "EmailFailed",
    "FlowDisabled",
    "FlowError",
    "FlowInvalid",
    "FlowNotFound",
    "InvalidQuery",
    "KustoFlowsError",
    "KustoQueryError",
    "KustoUnavailable",
    "LimitExceeded",
    "RequestTimeout",
    "RunNotFound",
    "RunTimedOut",
    "StepInputError",
    "TemplateError",
    "WebhookDisabled",
]


class KustoFlowsError(Exception):
    """Anything the product reports to its user: the run record, the CLI or HTTP."""

    code: ClassVar[str] = "KustoFlowsError"
    #: The HTTP status this error answers with when it reaches a route.
    http_status: ClassVar[int] = 500
    #: Words for a page's title.
    title: ClassVar[str] = "Error"

    def __init__(self, message: str, *, hint: str = "", step: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.step = step

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        if self.step:
            data["step"] = self.step
        return data


#: Errors a step can end with; kept as a name because "a step failed with a FlowError"
#: reads well in the runner.
FlowError = KustoFlowsError


class FlowInvalid(KustoFlowsError):
    """A flow (file) that cannot run; `problems` lists what is wrong, where known."""

    code = "FlowInvalid"
    http_status = 422
    title = "Flow is invalid"

    def __init__(self, message: str, *, hint: str = "", step: str = "",
                 problems: Sequence[object] = ()) -> None:
        super().__init__(message, hint=hint, step=step)
        self.problems: Sequence[Any] = list(problems)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.problems:
            data["problems"] = [str(p) for p in self.problems]
        return data


class TemplateError(KustoFlowsError):
    code = "TemplateError"
    http_status = 422


class StepInputError(KustoFlowsError):
    """A step's resolved inputs are unusable (wrong type, bad address, ...)."""

    code = "InvalidInput"
    http_status = 422


class KustoQueryError(KustoFlowsError):
    code = "KustoQueryError"
    http_status = 502


class KustoUnavailable(KustoFlowsError):
    code = "KustoUnavailable"
    http_status = 503


class AuthFailed(KustoFlowsError):
    code = "AuthFailed"
    http_status = 502


class RequestTimeout(KustoFlowsError):
    code = "RequestTimeout"
    http_status = 504


class LimitExceeded(KustoFlowsError):
    code = "LimitExceeded"
    http_status = 422


class EmailFailed(KustoFlowsError):
    code = "EmailFailed"
    http_status = 502

    def __init__(self, message: str, *, hint: str = "", step: str = "",
                 operation_id: str = "") -> None:
        super().__init__(message, hint=hint, step=step)
        self.operation_id = operation_id


class RunTimedOut(KustoFlowsError):
    code = "RunTimedOut"
    http_status = 504


# ------------------------------------------------------------ requests refused

class FlowNotFound(KustoFlowsError):
    code = "FlowNotFound"
    http_status = 404
    title = "Flow not found"


class RunNotFound(KustoFlowsError):
    code = "RunNotFound"
    http_status = 404
    title = "Run not found"


class WebhookDisabled(KustoFlowsError):
    code = "WebhookDisabled"
    http_status = 403
    title = "Not a webhook flow"


class FlowDisabled(KustoFlowsError):
    code = "FlowDisabled"
    http_status = 409
    title = "Flow is disabled"


class InvalidQuery(KustoFlowsError):
    """A bad paging or filter value in a request (top, status, continuation)."""

    code = "InvalidQuery"
    http_status = 400
    title = "Bad request"
