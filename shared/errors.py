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
    "SideEffectUncertain",
    "StepInputError",
    "TemplateError",
    "WebhookDisabled",
]


class KustoFlowsError(Exception):
    """Anything the product reports to its user: the run record, the CLI or HTTP.

    A subclass states what sets it apart in its class line:
    `class FlowNotFound(KustoFlowsError, http_status=404, title="Flow not found")`;
    its code is its class name unless given (`code="InvalidInput"`).
    """

    code: ClassVar[str] = "KustoFlowsError"
    #: The HTTP status this error answers with when it reaches a route.
    http_status: ClassVar[int] = 500
    #: Words for a page's title.
    title: ClassVar[str] = "Error"

    def __init_subclass__(cls, *, code: str = "", http_status: int = 0, title: str = "",
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = code or cls.__name__
        cls.http_status = http_status or cls.http_status
        cls.title = title or cls.title

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


class FlowInvalid(KustoFlowsError, http_status=422, title="Flow is invalid"):
    """A flow (file) that cannot run; `problems` lists what is wrong, where known."""

    def __init__(self, message: str, *, hint: str = "", step: str = "",
                 problems: Sequence[object] = ()) -> None:
        super().__init__(message, hint=hint, step=step)
        self.problems: Sequence[Any] = list(problems)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.problems:
            data["problems"] = [str(p) for p in self.problems]
        return data


class TemplateError(KustoFlowsError, http_status=422):
    """A template or expression of the flow failed (a typo, a missing value)."""


class StepInputError(KustoFlowsError, code="InvalidInput", http_status=422):
    """A step's resolved inputs are unusable (wrong type, bad address, ...)."""


class KustoQueryError(KustoFlowsError, http_status=502):
    """The cluster refused the query or command (syntax, semantics, permissions)."""


class KustoUnavailable(KustoFlowsError, http_status=503):
    """The cluster could not be reached, or kept failing after retries."""


class AuthFailed(KustoFlowsError, http_status=502):
    """No token for the cluster or the mail service."""


class RequestTimeout(KustoFlowsError, http_status=504):
    """One request took longer than `request_timeout`."""


class LimitExceeded(KustoFlowsError, http_status=422):
    """A result over `max_records` or `max_bytes`."""


class EmailFailed(KustoFlowsError, http_status=502):
    """The mail was not accepted (or its outcome is unknown: see `operation_id`)."""

    def __init__(self, message: str, *, hint: str = "", step: str = "",
                 operation_id: str = "") -> None:
        super().__init__(message, hint=hint, step=step)
        self.operation_id = operation_id


class RunTimedOut(KustoFlowsError, http_status=504):
    """The whole run passed its deadline."""


class SideEffectUncertain(KustoFlowsError, http_status=409):
    """A step that writes started in an earlier delivery of its run that ended before
    recording what happened: it may have acted, so it is not repeated blindly."""


# ------------------------------------------------------------ requests refused

class FlowNotFound(KustoFlowsError, http_status=404, title="Flow not found"):
    """No flow of that name in the flows folder."""


class RunNotFound(KustoFlowsError, http_status=404, title="Run not found"):
    """No run of that id in the flow's history."""


class WebhookDisabled(KustoFlowsError, http_status=403, title="Not a webhook flow"):
    """The flow cannot be run on request: its trigger has no `webhook: true`."""


class FlowDisabled(KustoFlowsError, http_status=409, title="Flow is disabled"):
    """The flow file says `enabled: false`."""


class InvalidQuery(KustoFlowsError, http_status=400, title="Bad request"):
    """A bad paging or filter value in a request (top, status, continuation)."""
