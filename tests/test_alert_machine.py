"""The alert state machine (`shared.alerts.machine`) with a fake clock: fire after N
breaches in a row, N of M, repeat while firing (muted in between), resolve, the
no-data policies, keys appearing and disappearing, and states that survive the
store's JSON.

Why: every notice an alert sends is decided here; a wrong transition either spams
on-call every five minutes or never says that the problem is over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from shared.alerts.machine import AlertState, Observation, Outcome, Rule, evaluate, key_id

START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@dataclass
class Alert:
    """The machine driven like the action drives it: one evaluation per tick of a fake
    clock, states kept between them as the store keeps them (through JSON)."""

    rule: Rule
    now: datetime = START
    step: timedelta = timedelta(minutes=5)
    states: dict[str, AlertState] = field(default_factory=dict)
    log: list[Outcome] = field(default_factory=list)

    def tick(self, *observed: Observation) -> Outcome:
        outcome = evaluate(self.states, observed, self.rule, self.now)
        for kid in outcome.removed:
            del self.states[kid]
        for kid in outcome.changed:
            self.states[kid] = AlertState.from_json(outcome.states[kid].to_json())
        self.log.append(outcome)
        self.now += self.step
        return outcome

    def series(self, values: Iterable[bool | None], key: str = "api") -> list[str]:
        """Ticks with one key breaching (True), clear (False) or absent (None); what
        each tick reported for it: fired, repeated, resolved or '-'."""
        reported = []
        for value in values:
            seen = () if value is None else (obs(key, value),)
            outcome = self.tick(*seen)
            kinds = [c.kind for c in outcome.changes]
            reported.append(kinds[0] if kinds else "-")
        return reported


def obs(service: str, breaching: bool, errors: int = 0) -> Observation:
    return Observation({"Service": service}, breaching, {"Service": service, "Errors": errors})


def firing(alert: Alert) -> list[str]:
    return sorted(s.label for s in alert.states.values() if s.status == "firing")


def test_a_single_breach_fires_at_once_with_for_1_and_resolves_when_it_clears() -> None:
    alert = Alert(Rule())
    assert alert.series([True, True, False, False, True]) == [
        "fired", "-", "resolved", "-", "fired"]


def test_for_n_fires_only_after_n_breaching_evaluations_in_a_row() -> None:
    alert = Alert(Rule(breaches=3, of=3))
    assert alert.series([True, True, False, True, True, True, True]) == [
        "-", "-", "-", "-", "-", "fired", "-"]
    fired = alert.log[5].fired[0]
    # Since the first breach of this run of breaches (tick 3), three evaluations ago.
    assert fired.state.since == START + 3 * alert.step
    assert fired.state.evaluations == 3


def test_n_of_m_fires_on_the_nth_breach_within_the_last_m_and_resolves_below_n() -> None:
    alert = Alert(Rule(breaches=2, of=4))
    assert alert.series([True, False, False, False, True, False, True, True, False, False,
                         False]) == ["-", "-", "-", "-", "-", "-", "fired", "-", "-", "-",
                                     "resolved"]
    # Fires on 0101 (two of the last four), holds on 1011, 0110 and 1100, and resolves
    # on 1000: fewer than two of the last four.
    fired = alert.log[6].fired[0].state
    assert fired.since == START + 4 * alert.step and fired.evaluations == 3


def test_a_pending_key_is_forgotten_once_its_breaches_can_no_longer_count() -> None:
    alert = Alert(Rule(breaches=2, of=3))
    alert.series([True, False])
    # 10: one more breach would make two of the last three.
    assert [s.status for s in alert.states.values()] == ["pending"]
    alert.series([False])
    assert alert.states == {}  # 100: the next breach pushes the old one out
    consecutive = Alert(Rule(breaches=3, of=3))
    consecutive.series([True, True, False])
    assert consecutive.states == {}  # for: 3 counts breaches in a row


def test_repeat_every_renotifies_while_firing_and_is_muted_in_between() -> None:
    alert = Alert(Rule(repeat_every=timedelta(minutes=15).total_seconds()))
    reported = alert.series([True] * 8 + [False])
    assert reported == ["fired", "-", "-", "repeated", "-", "-", "repeated", "-", "resolved"]
    muted = alert.log[1]
    assert [s.label for s in muted.still_firing] == ["api"] and not muted.changes


def test_without_repeat_every_a_firing_key_notifies_once() -> None:
    alert = Alert(Rule())
    assert alert.series([True] * 20).count("fired") == 1
    assert alert.log[-1].still_firing[0].evaluations == 20


def test_resolve_false_drops_the_key_silently_and_it_fires_again_later() -> None:
    alert = Alert(Rule(resolve=False))
    assert alert.series([True, False, True]) == ["fired", "-", "fired"]


def test_no_data_ok_counts_a_missing_key_as_clear() -> None:
    alert = Alert(Rule(no_data="ok"))
    assert alert.series([True, None]) == ["fired", "resolved"]
    resolved = alert.log[1].resolved[0]
    assert resolved.state.row == {"Service": "api", "Errors": 0}  # its last known row


def test_no_data_keep_leaves_the_state_as_it_was() -> None:
    alert = Alert(Rule(breaches=2, of=2, no_data="keep"))
    assert alert.series([True, None, None, True]) == ["-", "-", "-", "fired"]
    kept = alert.series([None, None])
    assert kept == ["-", "-"] and firing(alert) == ["api"]
    assert [s.label for s in alert.log[-1].still_firing] == ["api"]
    assert alert.series([False]) == ["resolved"]


def test_no_data_alert_counts_a_missing_key_as_breaching() -> None:
    alert = Alert(Rule(breaches=2, of=2, no_data="alert"))
    assert alert.series([True, None, False]) == ["-", "fired", "resolved"]


def test_no_data_alert_never_invents_keys_it_has_not_seen() -> None:
    alert = Alert(Rule(no_data="alert"))
    assert not alert.tick().changes and alert.states == {}


def test_keys_appear_and_disappear_independently() -> None:
    alert = Alert(Rule(breaches=2, of=2))
    alert.tick(obs("api", True), obs("web", True))
    second = alert.tick(obs("api", True), obs("web", False), obs("db", True))
    assert [c.state.label for c in second.fired] == ["api"]
    assert firing(alert) == ["api"]
    assert sorted(s.label for s in alert.states.values()) == ["api", "db"]  # web forgotten
    assert [s.label for s in second.pending] == ["db"]
    third = alert.tick(obs("db", True))  # api has no row now: no_data ok
    assert [(c.kind, c.state.label) for c in third.changes] == [("fired", "db"),
                                                                ("resolved", "api")]
    assert firing(alert) == ["db"]


def test_a_clear_key_that_was_never_breaching_keeps_no_state() -> None:
    alert = Alert(Rule())
    alert.tick(obs("api", False), obs("web", False))
    assert alert.states == {}


def test_changes_list_fired_then_resolved_then_repeated() -> None:
    alert = Alert(Rule(repeat_every=600))
    alert.tick(obs("a", True), obs("b", True))
    outcome = alert.tick(obs("a", True), obs("b", True))  # 5 minutes: muted
    assert not outcome.changes
    outcome = alert.tick(obs("a", True), obs("c", True))  # 10 minutes
    assert [(c.kind, c.state.label) for c in outcome.changes] == [
        ("fired", "c"), ("resolved", "b"), ("repeated", "a")]


def test_a_key_of_several_columns_and_non_text_values_keeps_its_identity() -> None:
    key = {"Service": "api", "Day": datetime(2024, 5, 1, tzinfo=UTC), "Code": 500}
    alert = Alert(Rule(breaches=2, of=2))
    alert.tick(Observation(key, True, dict(key)))
    [state] = alert.states.values()  # read back from JSON: the datetime is text now
    assert state.key["Day"] == "2024-05-01T00:00:00+00:00"
    assert state.key_id == key_id(key)
    outcome = alert.tick(Observation(key, True, dict(key)))
    assert [c.state.label for c in outcome.fired] == ["api, 2024-05-01T00:00:00+00:00, 500"]


def test_a_state_survives_its_json_round_trip() -> None:
    alert = Alert(Rule(repeat_every=60))
    alert.tick(obs("api", True, errors=12))
    [state] = alert.states.values()
    assert AlertState.from_json(state.to_json()) == state
    assert state.to_dict()["row"] == {"Service": "api", "Errors": 12}
    assert state.fired_at == state.notified_at == START


def test_a_huge_row_is_not_kept_but_the_state_is() -> None:
    big = Observation({"Service": "api"}, True, {"Service": "api", "Blob": "x" * 50_000})
    state = evaluate({}, [big], Rule(), START).states[key_id({"Service": "api"})]
    assert AlertState.from_json(state.to_json()).row == {"row_dropped": "too large to keep"}


@pytest.mark.parametrize("breaches, of", [(0, 1), (3, 2), (1, 101)])
def test_a_rule_outside_its_bounds_is_refused(breaches: int, of: int) -> None:
    with pytest.raises(ValueError):
        Rule(breaches=breaches, of=of)
