"""The alert state machine: pure, no I/O and no clock of its own (the caller says when
"now" is), so it is tested with a fake clock and replayed by the backtest.

One evaluation of an `alert` step gives, for each key in the result, whether it
breaches now; `evaluate` takes those, the states kept from earlier evaluations and
the rule, and returns the new states and what changed:

    (no state) --breach--> pending --`breaches` of the last `of` evaluations--> firing
    pending --its breaches can no longer add up to `breaches`--> (state dropped)
    firing --fewer than `breaches` of the last `of`--> resolved (state dropped)
    firing, `repeat_every` passed since its last notice --> repeated

A key the result has no row for is "no data": `ok` counts it as not breaching, `keep`
leaves its state as it was (the evaluation does not count for it), `alert` counts it
as breaching. After a key resolves it needs `breaches` new breaches to fire again.

`since` is when the breaches that fire a key began: the oldest breach among the last
`of` evaluations that counts towards firing (with `for: 3`, the first of the three).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

__all__ = ["AlertState", "Change", "NoData", "Observation", "Outcome", "Rule", "evaluate",
           "key_id", "key_label", "plain"]

NoData = Literal["ok", "keep", "alert"]
Status = Literal["pending", "firing"]
ChangeKind = Literal["fired", "repeated", "resolved"]

#: The longest history kept per key (the largest `of`).
MAX_OF = 100
#: A kept row longer than this (JSON characters) is dropped from the state: a Table
#: Storage string property holds 32K UTF-16 units, and the state is more than the row.
MAX_ROW_CHARS = 20_000


def plain(value: Any, depth: int = 0) -> Any:
    """*value* as JSON-ready data: datetimes as ISO text, decimals as floats, other
    objects as text."""
    if depth > 20:
        return None
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def key_id(key: Mapping[str, Any]) -> str:
    """The identity of a key: its values in key-column order, as compact JSON (the same
    for a value fresh from a query and one read back from the store)."""
    return json.dumps(plain(list(key.values())), separators=(",", ":"), ensure_ascii=False)


def key_label(key: Mapping[str, Any]) -> str:
    """A key for people: `TEXAS`, `api, westeurope`; `(all)` for a single alert."""
    return ", ".join(str(plain(v)) for v in key.values()) if key else "(all)"


@dataclass(frozen=True)
class Rule:
    #: Fires when at least `breaches` of the last `of` evaluations breached.
    breaches: int = 1
    of: int = 1
    #: Seconds between notices while a key keeps firing; None: notify once.
    repeat_every: float | None = None
    #: Report a firing key that stops breaching (else it is dropped silently).
    resolve: bool = True
    no_data: NoData = "ok"

    def __post_init__(self) -> None:
        if not 1 <= self.breaches <= self.of <= MAX_OF:
            raise ValueError(f"'for' needs 1 <= breaches <= of <= {MAX_OF}, got "
                             f"{self.breaches} of {self.of}")
        if self.repeat_every is not None and self.repeat_every <= 0:
            raise ValueError("repeat_every must be positive")


@dataclass(frozen=True)
class Observation:
    """One key in this evaluation's result."""

    key: dict[str, Any]
    breaching: bool
    #: The row shown for the key: its first breaching row, else its first row.
    row: dict[str, Any] | None = None


@dataclass(frozen=True)
class AlertState:
    """What is kept per key between evaluations (only for pending and firing keys)."""

    key: dict[str, Any]
    status: Status
    #: When its breaches began: the oldest breach that counts (see the module's doc).
    since: datetime
    #: Evaluations since `since`, this one included.
    evaluations: int
    #: The last `of` evaluations, oldest first: "1" breached, "0" did not.
    history: str
    #: The key's last row (its last value).
    row: dict[str, Any] | None
    updated_at: datetime
    fired_at: datetime | None = None
    #: When it last fired or repeated: `repeat_every` counts from here.
    notified_at: datetime | None = None
    #: When each breach in `history` happened, oldest first (one per "1").
    breach_times: tuple[datetime, ...] = ()

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    @property
    def label(self) -> str:
        return key_label(self.key)

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready data (the store's and the API's shape)."""
        row = plain(self.row)
        if row is not None and len(json.dumps(row, default=str)) > MAX_ROW_CHARS:
            row = {"row_dropped": "too large to keep"}
        return {"key": plain(self.key), "label": self.label, "status": self.status,
                "since": self.since.isoformat(), "evaluations": self.evaluations,
                "history": self.history, "row": row, "updated_at": self.updated_at.isoformat(),
                "fired_at": self.fired_at.isoformat() if self.fired_at else None,
                "notified_at": self.notified_at.isoformat() if self.notified_at else None,
                "breach_times": [moment.isoformat() for moment in self.breach_times]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertState:
        def moment(name: str) -> datetime | None:
            value = data.get(name)
            return datetime.fromisoformat(value) if value else None

        since, updated = moment("since"), moment("updated_at")
        if since is None or updated is None:
            raise ValueError("an alert state needs 'since' and 'updated_at'")
        status: Status = "firing" if data.get("status") == "firing" else "pending"
        return cls(dict(data.get("key") or {}), status, since, int(data.get("evaluations", 0)),
                   str(data.get("history", "")), data.get("row"), updated,
                   moment("fired_at"), moment("notified_at"),
                   tuple(datetime.fromisoformat(m) for m in data.get("breach_times") or ()))

    @classmethod
    def from_json(cls, text: str) -> AlertState:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    #: The key's state after this evaluation (for `resolved`, its last state).
    state: AlertState
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A step output item: the key, its row, since when and how many evaluations."""
        s = self.state
        return {"change": self.kind, "key": s.key, "label": s.label, "row": s.row,
                "since": s.since, "evaluations": s.evaluations, "fired_at": s.fired_at,
                "at": self.at}


@dataclass
class Outcome:
    #: The states to keep after this evaluation (changed or not), by key id.
    states: dict[str, AlertState] = field(default_factory=dict)
    #: Key ids whose state is no longer kept (resolved, or no breach left).
    removed: list[str] = field(default_factory=list)
    #: Key ids whose state this evaluation changed (to write).
    changed: list[str] = field(default_factory=list)
    fired: list[Change] = field(default_factory=list)
    repeated: list[Change] = field(default_factory=list)
    resolved: list[Change] = field(default_factory=list)
    #: Firing keys that did not fire or repeat now (muted, or kept through no data).
    still_firing: list[AlertState] = field(default_factory=list)
    pending: list[AlertState] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return [*self.fired, *self.resolved, *self.repeated]


def evaluate(states: Mapping[str, AlertState], observed: Iterable[Observation], rule: Rule,
             now: datetime) -> Outcome:
    """One evaluation at *now*: the keys of this result (*observed*, in result order)
    against the kept *states* (by key id)."""
    outcome = Outcome()
    seen: dict[str, Observation] = {}
    for observation in observed:
        seen.setdefault(key_id(observation.key), observation)
    order = [*seen, *sorted(k for k in states if k not in seen)]
    for kid in order:
        before = states.get(kid)
        after, kind, reported = _advance(before, seen.get(kid), rule, now)
        if after is None:
            if before is not None:
                outcome.removed.append(kid)
        else:
            outcome.states[kid] = after
            if after is not before:
                outcome.changed.append(kid)
        if kind is not None and reported is not None:
            getattr(outcome, kind).append(Change(kind, reported, now))
        elif after is not None and after.status == "firing":
            outcome.still_firing.append(after)
        elif after is not None:
            outcome.pending.append(after)
    return outcome


def _advance(before: AlertState | None, seen: Observation | None, rule: Rule, now: datetime,
             ) -> tuple[AlertState | None, ChangeKind | None, AlertState | None]:
    """(the key's new state or None, what changed or None, the state to report it with)."""
    if seen is None:
        if before is None or rule.no_data == "keep":
            return before, None, None
        breaching, row, key = rule.no_data == "alert", before.row, before.key
    else:
        breaching, row, key = seen.breaching, plain(seen.row), seen.key
    if before is None and not breaching:
        return None, None, None
    history = ((before.history if before else "") + ("1" if breaching else "0"))[-rule.of:]
    count = history.count("1")
    # The breaches still in the window are the newest `count` ones.
    times = (*(before.breach_times if before else ()), *((now,) if breaching else ()))
    times = times[len(times) - count:]
    state = AlertState(key, "pending", now, 1, history, row, now, breach_times=times)
    if before is not None:
        state = replace(before, history=history, row=row, evaluations=before.evaluations + 1,
                        updated_at=now, breach_times=times)
    if before is not None and before.status == "firing":
        if count < rule.breaches:
            return None, ("resolved" if rule.resolve else None), state
        last = before.notified_at or before.fired_at or before.since
        if rule.repeat_every is not None and (now - last).total_seconds() >= rule.repeat_every:
            state = replace(state, notified_at=now)
            return state, "repeated", state
        return state, None, None
    if not _can_fire_sooner(history, rule):
        return None, None, None
    # Pending or firing now: since its oldest breach that counts.
    state = replace(state, since=times[0], evaluations=len(history) - history.index("1"))
    if count >= rule.breaches:
        state = replace(state, status="firing", fired_at=now, notified_at=now)
        return state, "fired", state
    return state, None, None


def _can_fire_sooner(history: str, rule: Rule) -> bool:
    """Whether the breaches in *history* still count: with k more breaching evaluations
    (k < breaches) the window would hold enough. If not, the key is as if it had never
    breached (with `for: 3`, a clear evaluation starts the count again)."""
    return any(k + history[max(0, len(history) - (rule.of - k)):].count("1") >= rule.breaches
               for k in range(rule.breaches))
