"""alert: a condition over the rows of an earlier step, with state per key between
runs (fire after N breaches, N of M, repeat while firing, resolve, no-data policy),
as Azure Monitor's scheduled query rules do. It notifies nobody itself: its outputs
(`fired`, `resolved`, `repeated`, `changes`) feed ordinary steps (`foreach` + mail).

The state lives in the state store per (flow, step id, key) and is written inside
the step, so on a queued run the step journal covers it: a run delivered again takes
the recorded outcome instead of advancing the state a second time (`writes=True`).
The state machine itself is `shared.alerts.machine`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from ..alerts.machine import MAX_OF, AlertState, Observation, Rule, evaluate, key_id
from ..errors import StepInputError
from ..expressions import evaluate as evaluate_expression
from ..model import Expression, Static, StepModel, parse_duration
from .base import StepContext, StepOutcome
from .registry import Action

__all__ = ["ACTION", "AlertStep", "evaluation_time"]


def parse_period(value: Any) -> float | None:
    """`repeat_every`: a duration (`30m`, `1h`, `90s`), days (`2d`) or seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        days = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*d\s*", value)
        if days:
            if float(days.group(1)) <= 0:
                raise ValueError("a duration must be positive")
            return float(days.group(1)) * 86400
    return parse_duration(value)


class ForRule(BaseModel):
    """N of M: fire when `breaches` of the last `of` evaluations breached."""

    model_config = ConfigDict(extra="forbid")

    breaches: int = Field(ge=1, le=MAX_OF)
    of: int = Field(ge=1, le=MAX_OF)

    @model_validator(mode="after")
    def _fits(self) -> ForRule:
        if self.breaches > self.of:
            raise ValueError(f"breaches ({self.breaches}) cannot be more than of ({self.of})")
        return self


_DURATION_SCHEMA = WithJsonSchema({
    "anyOf": [{"type": "number", "exclusiveMinimum": 0},
              {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"},
              {"type": "null"}],
    "description": "re-notify while still firing, every 30m, 1h, 1d ...; omit: once"})


class AlertStep(StepModel):
    action: Literal["alert"]
    rows: Annotated[str | list[Any], Field(
        description="the rows to evaluate, e.g. \"{{ steps.errors.rows }}\"")]
    key: Annotated[list[Annotated[str, Field(min_length=1)]], Static, Field(
        default_factory=list, max_length=10,
        description="column names: one alert per distinct key; omit for a single alert")]
    when: Annotated[str, Expression, Field(
        description="a bare expression per row, with `row` (and `rows`, `row_count`), "
                    "e.g. row.Errors > 10")]
    for_: Annotated[int | ForRule, Static, Field(
        alias="for", description="breaching evaluations in a row before it fires, or N of M: "
                                 "{breaches: 3, of: 5}")] = 1
    repeat_every: Annotated[float | None, Static, _DURATION_SCHEMA] = None
    resolve: Annotated[bool, Static, Field(
        description="report a firing key that stops breaching")] = True
    no_data: Annotated[Literal["ok", "keep", "alert"], Static, Field(
        description="a key (or a single alert) with no row this time: ok (not breaching), "
                    "keep (as it was) or alert (breaching)")] = "ok"

    _period = field_validator("repeat_every", mode="before")(lambda v: parse_period(v))

    @field_validator("for_")
    @classmethod
    def _for_range(cls, value: int | ForRule) -> int | ForRule:
        if isinstance(value, int) and not 1 <= value <= MAX_OF:
            raise ValueError(f"'for' is a number of evaluations from 1 to {MAX_OF}")
        return value

    @field_validator("key")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a column is named twice in 'key'")
        return value

    def rule(self) -> Rule:
        breaches, of = ((self.for_, self.for_) if isinstance(self.for_, int)
                        else (self.for_.breaches, self.for_.of))
        return Rule(breaches, of, self.repeat_every, self.resolve, self.no_data)


def evaluation_time(trigger: Mapping[str, Any]) -> datetime:
    """When an evaluation happens: the end of the run's window when it has one (a
    scheduled tick, a backtest), else the trigger's time."""
    window = trigger.get("window")
    value = window.get("end") if isinstance(window, Mapping) else None
    value = value or trigger.get("time") or datetime.now(UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise StepInputError(f"the trigger's time is not a date and time: {value!r}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _observe(step: AlertStep, rows: list[Any], context: Mapping[str, Any]
             ) -> list[Observation]:
    """Each key of *rows* once, in result order: breaching when any of its rows is,
    with its first breaching row (else its first row)."""
    scope = {**context, "rows": rows, "row_count": len(rows)}
    seen: dict[str, Observation] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise StepInputError(f"field 'rows': row {index + 1} is {type(row).__name__}, "
                                 "not a row of named columns",
                                 hint="give the rows of a query: \"{{ steps.<id>.rows }}\"")
        missing = [column for column in step.key if column not in row]
        if missing:
            raise StepInputError(
                f"field 'key': column {missing[0]!r} is not in the rows (they have: "
                f"{', '.join(map(str, row)) or 'no columns'})",
                hint="name columns the query returns, e.g. project or summarize by them")
        key = {column: row[column] for column in step.key}
        breaching = bool(evaluate_expression(step.when, {**scope, "row": row}, field="when"))
        kid = key_id(key)
        known = seen.get(kid)
        if known is None or (breaching and not known.breaching):
            seen[kid] = Observation(key, breaching, dict(row))
    return list(seen.values())


def _state_view(state: AlertState) -> dict[str, Any]:
    return {"key": state.key, "label": state.label, "row": state.row, "since": state.since,
            "evaluations": state.evaluations, "fired_at": state.fired_at}


def run_alert(step: AlertStep, inputs: Mapping[str, Any], ctx: StepContext) -> StepOutcome:
    rows = inputs["rows"]
    if not isinstance(rows, list | tuple):
        raise StepInputError(f"field 'rows' must give a list of rows, got {type(rows).__name__}",
                             hint="e.g. rows: \"{{ steps.query.rows }}\"")
    context = ctx.template_context()
    now = evaluation_time(context.get("trigger") or {})
    observed = _observe(step, list(rows), context)
    store = ctx.resources.state()
    kept = {state.key_id: state for _, state in store.alert_states(ctx.flow.name, step.id)}
    outcome = evaluate(kept, observed, step.rule(), now)
    store.save_alert_states(ctx.flow.name, step.id,
                            [outcome.states[kid] for kid in outcome.changed], outcome.removed)
    fired = [c.to_dict() for c in outcome.fired]
    resolved = [c.to_dict() for c in outcome.resolved]
    repeated = [c.to_dict() for c in outcome.repeated]
    outputs = {
        "fired": fired, "resolved": resolved, "repeated": repeated,
        "changes": [*fired, *resolved, *repeated],
        "still_firing": [_state_view(s) for s in outcome.still_firing],
        "pending": [_state_view(s) for s in outcome.pending],
        "evaluated_at": now,
    }
    firing = len(fired) + len(repeated) + len(outcome.still_firing)
    if fired or resolved or repeated:
        done = [f"{len(items)} {name}" for name, items in
                (("fired", fired), ("repeated", repeated), ("resolved", resolved)) if items]
        summary = ", ".join(done) + f"; {firing} firing"
    else:
        summary = f"no change; {firing} firing, {len(outcome.pending)} pending"
    return StepOutcome(outputs, f"{len(observed)} key(s): {summary}")


ACTION = Action(
    AlertStep, run_alert, title="Alert with state per key",
    fields_doc="`rows` (e.g. `{{ steps.q.rows }}`), `key` (column names; omit for one "
               "alert), `when` (a bare expression per `row`; also `rows`, `row_count`), "
               "`for` (breaching evaluations before it fires, default 1, or "
               "`{breaches: N, of: M}`), `repeat_every` (`1h`, `1d`; omit: notify once), "
               "`resolve` (default true), `no_data` (`ok`, `keep`, `alert`; default `ok`)",
    outputs_doc="`fired`, `resolved`, `repeated`, `changes` (the three, each with `change`, "
                "`key`, `label`, `row`, `since`, `evaluations`), `still_firing`, `pending`, "
                "`evaluated_at`",
    # It writes its state: on a queued run the journal keeps it from advancing twice.
    writes=True,
)
