"""A webhook flow's declared body (`trigger.webhook.body`, a JSON Schema): a request
whose body does not match is refused (422) naming the field, before any run starts."""

from __future__ import annotations

from typing import Any

from .errors import KustoFlowsError

__all__ = ["BodyInvalid", "check_body"]


class BodyInvalid(KustoFlowsError, http_status=422, title="Body does not match"):
    """A webhook body that does not match the flow's declared body schema."""

    def __init__(self, message: str, *, hint: str = "", problems: list[str]) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "problems": self.problems}


def check_body(schema: dict[str, Any], body: Any) -> None:
    """BodyInvalid naming the first field that does not match (all of them listed)."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(body),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    described = [_describe(error) for error in errors]
    raise BodyInvalid(described[0], problems=described,
                      hint="the flow declares the body it takes (trigger.webhook.body in its "
                           "file; GET /api/flows shows it): send a body that matches")


def _describe(error: Any) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            return f"field '{'.'.join([*path, str(missing[0])])}' is required"
    where = ".".join(path)
    return f"field '{where}': {error.message}" if where else f"the body: {error.message}"
