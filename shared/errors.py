"""One root exception, with a stable code, the step it happened in, and a hint.

Codes are part of the product's contract: run records, the HTTP API and alerts
match on them, so they never change spelling.
"""

from __future__ import annotations

__all__ = [
    "AuthFailed",
    "EmailFailed",
    "FlowError",
    "FlowInvalid",
    "KustoQueryError",
    "KustoUnavailable",
    "LimitExceeded",
    "RequestTimeout",
    "RunTimedOut",
    "StepInputError",
    "TemplateError",
]


class FlowError(Exception):
    """Anything a flow run can report to its user."""

    code = "FlowError"

    def __init__(self, message: str, *, hint: str = "", step: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.step = step

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class FlowInvalid(FlowError):
    code = "FlowInvalid"


class TemplateError(FlowError):
    code = "TemplateError"


class StepInputError(FlowError):
    """A step's resolved inputs are unusable (wrong type, bad address, ...)."""

    code = "InvalidInput"


class KustoQueryError(FlowError):
    code = "KustoQueryError"


class KustoUnavailable(FlowError):
    code = "KustoUnavailable"


class AuthFailed(FlowError):
    code = "AuthFailed"


class RequestTimeout(FlowError):
    code = "RequestTimeout"


class LimitExceeded(FlowError):
    code = "LimitExceeded"


class EmailFailed(FlowError):
    code = "EmailFailed"

    def __init__(self, message: str, *, hint: str = "", step: str = "",
                 operation_id: str = "") -> None:
        super().__init__(message, hint=hint, step=step)
        self.operation_id = operation_id


class RunTimedOut(FlowError):
    code = "RunTimedOut"
