"""The flow file format v1 (pydantic) and its connections file (whose entries live in
`shared.connection_models`, re-exported here).

The file's frame lives here: flow, trigger, limits, connections and what every step
has (`StepModel`, with the markers that say how a field is rendered). Each action's
own fields live in its module under `shared.steps`; the registry there joins them
into the model a file is read with. Reading files and turning problems into
`file:line: step 'x', field 'y': ...` messages is `shared.loader`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from .connection_models import (
    AnyConnection,
    Connection,
    SqlConnection,
    parse_connection,
    wrong_connection,
)

__all__ = [
    "AnyConnection",
    "Connection",
    "Expression",
    "FieldRole",
    "Flow",
    "Html",
    "Limits",
    "Nested",
    "OnFailure",
    "SqlConnection",
    "Static",
    "StepModel",
    "Trigger",
    "Webhook",
    "parse_bytes",
    "parse_connection",
    "parse_duration",
    "wrong_connection",
]

RunAfter = Literal["succeeded", "failed", "timedout", "skipped"]
_STEP_ID = r"^[A-Za-z_][A-Za-z0-9_]*$"
_FLOW_NAME = r"^[a-z0-9][a-z0-9-]*$"
#: A scheduled flow's timer is the function `flow_<name>` (`shared.timers`), and the
#: Functions host refuses a function name over 128 characters.
_FLOW_NAME_MAX = 128 - len("flow_")


def _flow_name_fits(value: Any) -> Any:
    """Flow.name: refuse a name too long for its timer function, saying why."""
    if isinstance(value, str) and len(value) > _FLOW_NAME_MAX:
        raise ValueError(
            f"a flow name is at most {_FLOW_NAME_MAX} characters, this one has {len(value)}: "
            f"its timer function is flow_<name>, and Azure Functions refuses function names "
            f"over 128 characters")
    return value


def parse_duration(value: Any) -> float:
    """`90s`, `2m`, `1h`, `500ms` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 2m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
        if not match:
            raise ValueError(f"'{value}' is not a duration such as 90s, 2m or 1h")
        factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
        seconds = float(match.group(1)) * factor
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


def parse_bytes(value: Any) -> int:
    """`64MB`, `512KB`, `1GB` (powers of 1024) or a number of bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 64MB")
    if isinstance(value, int):
        size = value
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?\s*", str(value), re.IGNORECASE)
        if not match:
            raise ValueError(f"'{value}' is not a size such as 64MB or 512KB")
        unit = (match.group(2) or "B").upper()
        size = int(float(match.group(1)) * {"B": 1, "KB": 1024, "MB": 1024**2,
                                            "GB": 1024**3}[unit])
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Limits(_Strict):
    """Per request limits; defaults are the Power Automate connector's."""

    request_timeout: float = Field(90.0, description="per request: 90s, 2m ...")
    max_records: int = Field(500_000, gt=0, description="records read before failing")
    max_bytes: int = Field(64 * 1024**2, description="bytes read before failing: 64MB ...")
    run_timeout: float | None = Field(
        None, description="whole-run deadline for this flow (capped by the app's)"
    )
    operation_timeout: float = Field(
        6 * 3600.0, description="how long an async control command may run: 6h ...")

    _durations = field_validator("request_timeout", "run_timeout", "operation_timeout",
                                 mode="before")(
        lambda v: None if v is None else parse_duration(v)
    )
    _sizes = field_validator("max_bytes", mode="before")(lambda v: parse_bytes(v))


class AfterFlow(_Strict):
    flow: str
    status: list[Literal["succeeded", "failed", "timedout"]] = ["succeeded"]


class Webhook(_Strict):
    """`webhook: {body: <JSON Schema>}`: runnable on request, with the body declared: a
    request whose body does not match answers 422 naming the field, before any run."""

    body: dict[str, Any] = Field(description="a JSON Schema (2020-12) the body must match")

    @field_validator("body")
    @classmethod
    def _a_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "the schema"
            raise ValueError(f"not a valid JSON Schema at {where}: {exc.message}") from None
        return value

    def __bool__(self) -> bool:  # `if flow.trigger.webhook:` reads as "runnable on request"
        return True


class Trigger(_Strict):
    schedule: str | None = Field(
        None, description="NCRONTAB 'sec min hour day month weekday' (5-field cron accepted)"
    )
    timezone: str = Field("UTC", description="IANA zone the schedule is read in")
    webhook: bool | Webhook = Field(
        False, description="also runnable by POST /api/flows/<name>/run; {body: <JSON "
                           "Schema>} declares the body the request must send")
    after: AfterFlow | None = Field(None, description="run when another flow ends")
    catch_up: int = Field(0, ge=0, le=100, description="missed schedule windows run at the "
                          "next tick, oldest first (0: only the current window; older "
                          "missed windows are listed in history)")
    overlap: Literal["skip", "queue", "allow"] | None = Field(
        None, description="a run while the previous one still runs (queued runs): skip "
                          "it (the default for schedules), queue it (the default for "
                          "webhooks) or allow it")

    @field_validator("after", mode="before")
    @classmethod
    def _after_shorthand(cls, value: Any) -> Any:
        return {"flow": value} if isinstance(value, str) else value

    @field_validator("webhook", mode="before")
    @classmethod
    def _webhook_spec(cls, value: Any) -> Any:
        """A mapping is a Webhook; its problems are reported once, not per union arm."""
        if not isinstance(value, dict):
            return value
        try:
            return Webhook.model_validate(value)
        except ValidationError as exc:
            raise ValueError("; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: "
                f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())
            ) from None

    @property
    def body_schema(self) -> dict[str, Any] | None:
        """The declared webhook body's JSON Schema, if any."""
        return self.webhook.body if isinstance(self.webhook, Webhook) else None


class Static:
    """Field marker: structure, never templated (KQL text, ids, chart names)."""


class Expression:
    """Field marker: a bare expression (`if`, `items`) the action evaluates itself."""


class Html:
    """Field marker: rendered as HTML: template values are escaped, step HTML is not."""


class Nested:
    """Field marker: a list of steps (`then`, `else`, `steps`) the action runs itself."""


FieldRole = Literal["templated", "static", "expression", "html", "nested"]
_MARKERS: dict[type, FieldRole] = {Static: "static", Expression: "expression", Html: "html",
                                   Nested: "nested"}


@cache
def _field_roles(model: type[BaseModel]) -> dict[str, FieldRole]:
    roles: dict[str, FieldRole] = {}
    for name, info in model.model_fields.items():
        marked = [_MARKERS[m] for m in info.metadata if isinstance(m, type) and m in _MARKERS]
        roles[name] = marked[0] if marked else "templated"
    return roles


class StepModel(_Strict):
    """What every step has. An action's model adds its fields; a field is templated
    unless marked `Static`, `Expression` or `Nested` (see `field_role`)."""

    id: Annotated[str, Static, Field(pattern=_STEP_ID,
                                     description="unique in the flow; steps.<id> in templates")]
    action: Annotated[str, Static]
    description: Annotated[str, Static] = ""
    run_after: Annotated[list[RunAfter], Static, Field(
        default_factory=lambda: ["succeeded"],
        description="run when the steps before ended so: succeeded, failed, timedout",
    )]

    @classmethod
    def field_role(cls, name: str) -> FieldRole:
        return _field_roles(cls)[name]

    def nested_blocks(self) -> list[tuple[str, list[StepModel]]]:
        """(field alias, steps) of every nested block of this step, in field order."""
        blocks = []
        for name, info in type(self).model_fields.items():
            if type(self).field_role(name) == "nested":
                blocks.append((info.alias or name, getattr(self, name)))
        return blocks


class OnFailure(_Strict):
    """Steps that run when a run ends Failed or TimedOut (`run.error` says what failed),
    at most once per `grace` while the flow keeps failing, and once more with
    `run.recovered` true when it succeeds again."""

    grace: float = Field(3600.0, description="at most one notice per this long while the "
                                             "flow keeps failing: 1h, 30m ...")
    #: Each registry builds its own OnFailure model whose steps are its actions' union.
    steps: Annotated[list[StepModel], Nested] = Field(min_length=1)

    _grace = field_validator("grace", mode="before")(lambda v: parse_duration(v))


class Flow(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              json_schema_extra={"title": "Kusto Flows flow file (v1)"})

    name: Annotated[str, Field(
        pattern=_FLOW_NAME, max_length=_FLOW_NAME_MAX,
        description=f"defaults to the file name; at most {_FLOW_NAME_MAX} characters, as a "
                    f"scheduled flow's timer function is flow_<name> and Azure Functions "
                    f"names are at most 128"), BeforeValidator(_flow_name_fits)]
    description: str = ""
    enabled: bool = True
    trigger: Trigger = Field(default_factory=Trigger)
    limits: Limits = Field(default_factory=Limits)
    vars: dict[str, Any] = Field(default_factory=dict)
    #: Each registry builds its own Flow model whose steps are its actions' union
    #: (`shared.steps.registry`); this base types them as `StepModel`.
    steps: list[StepModel] = Field(min_length=1)
    on_failure: OnFailure | None = Field(
        None, description="a failure notice: steps run when a run fails (with grace)")
