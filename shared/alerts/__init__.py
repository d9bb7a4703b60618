"""Alerts with state: the `alert` action's state machine (`machine`, pure), and the
backtest that replays a flow's schedule over past windows (`backtest`)."""

from shared.alerts.machine import (
    AlertState,
    Change,
    Observation,
    Outcome,
    Rule,
    evaluate,
    key_id,
    key_label,
)

__all__ = ["AlertState", "Change", "Observation", "Outcome", "Rule", "evaluate", "key_id",
           "key_label"]
